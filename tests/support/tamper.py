"""What someone with write access to the database can do behind daycase's back (tests).

Plain SQL through SQLAlchemy, on SQLite or PostgreSQL alike: edit an event and re-seal
its case's chain (every hash and the case index re-computed, so the chain alone proves
nothing), delete a case with everything about it, or rewrite the audit log and its head.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from daycase.store.audit import audit_body
from daycase.store.codec import GENESIS_HASH, canonical_json, chain_hash


def reseal_case(
    url: str, case_id: str, *, seq: int, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Apply `edit` to the body of event `seq`, then re-compute the case's chain and index."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                sa.text("SELECT seq, body FROM events WHERE case_id = :c ORDER BY seq"),
                {"c": case_id},
            ).all()
            prev = GENESIS_HASH
            for row_seq, body in rows:
                if row_seq == seq:
                    obj = json.loads(body)
                    edit(obj)
                    body = canonical_json(obj)
                digest = chain_hash(prev, body)
                conn.execute(
                    sa.text(
                        "UPDATE events SET body = :b, prev_hash = :p, hash = :h "
                        "WHERE case_id = :c AND seq = :s"
                    ),
                    {"b": body, "p": prev, "h": digest, "c": case_id, "s": row_seq},
                )
                prev = digest
            conn.execute(
                sa.text("UPDATE cases SET last_hash = :h WHERE case_id = :c"),
                {"h": prev, "c": case_id},
            )
    finally:
        engine.dispose()


def set_field(step: str, name: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit that changes one data field of a StepRecorded body (checked to be `step`)."""

    def edit(body: dict[str, Any]) -> None:
        assert body["step"] == step, body
        body["data"][name] = value

    return edit


def delete_case(url: str, case_id: str) -> None:
    """Remove a case without a trace: its events, index row, idempotency keys and audit rows
    (the audit log re-chained after them)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for table in ("idempotency_keys", "events", "cases"):  # rows that refer first
                if table in present:
                    conn.execute(sa.text(f"DELETE FROM {table} WHERE case_id = :c"), {"c": case_id})
            conn.execute(sa.text("DELETE FROM audit WHERE case_id = :c"), {"c": case_id})
        reseal_audit(url)
    finally:
        engine.dispose()


def reseal_audit(url: str) -> None:
    """Renumber and re-chain whatever audit rows are left, and move the head to match."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id, at, user_name, role, action, case_id, detail "
                    "FROM audit ORDER BY seq"
                )
            ).all()
            conn.execute(sa.text("UPDATE audit SET seq = -seq"))  # free the unique seqs
            prev = GENESIS_HASH
            for seq, row in enumerate(rows, start=1):
                body = audit_body(
                    at=row.at,
                    user_name=row.user_name,
                    role=row.role,
                    action=row.action,
                    case_id=row.case_id,
                    detail=row.detail,
                )
                digest = chain_hash(prev, body)
                conn.execute(
                    sa.text("UPDATE audit SET seq = :s, prev_hash = :p, hash = :h WHERE id = :i"),
                    {"s": seq, "p": prev, "h": digest, "i": row.id},
                )
                prev = digest
            conn.execute(
                sa.text("UPDATE audit_head SET last_seq = :s, last_hash = :h"),
                {"s": len(rows), "h": prev},
            )
    finally:
        engine.dispose()
