"""Report facts: one index on (day, case_id, seq) instead of (day) (store room, 0012).

A report reads every row's case id and seq over its days, and the freshness check joins
them with the case index: with the three in one index both are read from the index alone,
not from the wide rows (a year of a million-case history is a third of a 1.3 GB table).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_report_facts_day_case", "report_facts", ["day", "case_id", "seq"])
    op.drop_index("ix_report_facts_day", table_name="report_facts")


def downgrade() -> None:
    op.create_index("ix_report_facts_day", "report_facts", ["day"])
    op.drop_index("ix_report_facts_day_case", table_name="report_facts")
