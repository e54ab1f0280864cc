"""One audit row per read of many cases, with the cases it showed (store room, migration 0008).

A board read showed up to hundreds of cases and wrote a hashed row for each; now it
writes one row whose hash covers the list (`audit.case_ids`), and `audit_cases` indexes
that list so "who read case X" stays one indexed lookup.

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
        batch.add_column(sa.Column("case_ids", sa.Text, nullable=True))
    op.create_table(
        "audit_cases",
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_audit_cases"),
    )


def downgrade() -> None:
    op.drop_table("audit_cases")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("case_ids")
