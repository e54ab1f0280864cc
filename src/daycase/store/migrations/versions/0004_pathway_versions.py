"""Pathway versions in the case index (store room, fourth migration).

Every case stored before versions existed was opened on the built-in kyphoplasty 1.0:
it is marked so, with the SHA-256 of that frozen definition. The digest is written out
here, not read from the package, because a migration must mean the same thing for ever.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KYPHOPLASTY_1_0_DIGEST = "5cc3e1df96afce3edcd88d599310914bf79ae8f37c175f7e1768ed46b5ef27ad"


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("pathway_version", sa.Text, nullable=True))
        batch.add_column(sa.Column("pathway_digest", sa.String(64), nullable=True))
    cases = sa.table(
        "cases", sa.column("pathway_version", sa.Text), sa.column("pathway_digest", sa.Text)
    )
    op.execute(cases.update().values(pathway_version="1.0", pathway_digest=KYPHOPLASTY_1_0_DIGEST))
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("pathway_version", existing_type=sa.Text, nullable=False)
        batch.alter_column("pathway_digest", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("pathway_digest")
        batch.drop_column("pathway_version")
