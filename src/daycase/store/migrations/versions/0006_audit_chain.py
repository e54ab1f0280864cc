"""A chained audit log (store room, migration 0006).

Every audit row gets its place in one chain (`seq`) and a SHA-256 over the previous row's
hash and its own canonical JSON; `audit_head` says where the chain ends. Rows already
stored are chained here in the order they were written (by id). The canonical form and
the hash are written out in this file, not imported, because a migration must mean the
same thing for ever (store/audit.py computes the very same).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
_CHUNK = 5000


def _body(row: Any) -> str:
    fields = {
        "at": row.at,
        "user_name": row.user_name,
        "role": row.role,
        "action": row.action,
        "case_id": row.case_id,
        "detail": row.detail,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    audit = sa.table(
        "audit",
        sa.column("id", sa.BigInteger),
        sa.column("at", sa.Text),
        sa.column("user_name", sa.Text),
        sa.column("role", sa.Text),
        sa.column("action", sa.Text),
        sa.column("case_id", sa.Text),
        sa.column("detail", sa.Text),
        sa.column("seq", sa.Integer),
        sa.column("prev_hash", sa.Text),
        sa.column("hash", sa.Text),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            audit.c.id,
            audit.c.at,
            audit.c.user_name,
            audit.c.role,
            audit.c.action,
            audit.c.case_id,
            audit.c.detail,
        ).order_by(audit.c.id)
    ).all()
    update = (
        audit.update()
        .where(audit.c.id == sa.bindparam("b_id"))
        .values(
            seq=sa.bindparam("b_seq"),
            prev_hash=sa.bindparam("b_prev_hash"),
            hash=sa.bindparam("b_hash"),
        )
    )
    prev_hash, seq, chunk = GENESIS_HASH, 0, []
    for row in rows:
        seq += 1
        digest = _hash(prev_hash, _body(row))
        chunk.append({"b_id": row.id, "b_seq": seq, "b_prev_hash": prev_hash, "b_hash": digest})
        prev_hash = digest
        if len(chunk) == _CHUNK:
            conn.execute(update, chunk)
            chunk = []
    if chunk:
        conn.execute(update, chunk)
    with op.batch_alter_table("audit") as batch:
        batch.alter_column("seq", existing_type=sa.Integer, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_audit_seq", ["seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": seq, "last_hash": prev_hash}])


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit") as batch:
        batch.drop_constraint("uq_audit_seq", type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
