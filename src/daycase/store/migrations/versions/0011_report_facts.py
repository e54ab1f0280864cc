"""The report facts read model, one row per case (store room, migration 0011).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_facts",
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_report_facts"),
    )
    op.create_index("ix_report_facts_day", "report_facts", ["day"])


def downgrade() -> None:
    op.drop_index("ix_report_facts_day", table_name="report_facts")
    op.drop_table("report_facts")
