"""The hospital's bookings that made cases, by Appointment identifier (store room, 0014).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_bookings",
        sa.Column("booking", sa.Text, nullable=False),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("booked_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("booking", name="pk_fhir_bookings"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_fhir_bookings_case_id_cases"
        ),
    )


def downgrade() -> None:
    op.drop_table("fhir_bookings")
