"""Sign-in throttling by name and device, session activity (store room, migration 0005).

Tokens get `last_seen_at`, the idle timeout's clock (existing tokens have none and count
as unused since they were issued). Failed sign-ins are kept for real users only: rows for
names that are no user (anyone could add them without signing in) are deleted, and a
foreign key keeps it so. `server_keys` holds the key that signs device cookies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_login_failures_name_users"


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.Text, nullable=True))
    op.execute("DELETE FROM login_failures WHERE name NOT IN (SELECT name FROM users)")
    with op.batch_alter_table("login_failures") as batch:
        batch.create_foreign_key(_FK, "users", ["name"], ["name"])
    op.create_table(
        "server_keys",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_keys"),
    )


def downgrade() -> None:
    op.drop_table("server_keys")
    with op.batch_alter_table("login_failures") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("last_seen_at")
