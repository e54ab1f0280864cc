"""One audit row per read of many cases, with the cases it showed (store room, migration 0008).

A board read showed up to hundreds of cases and wrote a hashed row for each; now it
writes one row whose hash covers the SHA-256 of the list (`audit.case_list`). Each
distinct list is stored once (`audit_case_lists`) and indexed by case
(`audit_list_cases`), so "who read case X" stays one indexed lookup.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("case_list", sa.String(64), nullable=True))
        batch.create_index("ix_audit_case_list", ["case_list"])
    op.create_table(
        "audit_case_lists",
        sa.Column("list_hash", sa.String(64), nullable=False),
        sa.Column("case_ids", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("list_hash", name="pk_audit_case_lists"),
    )
    op.create_table(
        "audit_list_cases",
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("list_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "list_hash", name="pk_audit_list_cases"),
    )


def downgrade() -> None:
    op.drop_table("audit_list_cases")
    op.drop_table("audit_case_lists")
    with op.batch_alter_table("audit") as batch:
        batch.drop_index("ix_audit_case_list")
        batch.drop_column("case_list")
