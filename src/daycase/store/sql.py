"""The SQL event store on SQLAlchemy Core: tables, engine set-up and `SqlEventStore` (store room).

Written for SQLite now and PostgreSQL next; only the SQLite connection pragmas and the
`BEGIN IMMEDIATE` hook are dialect-specific, and they are guarded by dialect name.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from daycase.engine.events import CaseOpened, Event
from daycase.store.base import CaseSummary, ChainProblem, ConcurrencyError
from daycase.store.codec import GENESIS_HASH
from daycase.store.memory import StoredRow, check_batch, check_chain, parse_body, seal

# Named constraints let later migrations (and SQLite batch mode) refer to them by name.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; elsewhere ids get 64 bits.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("pathway_id", sa.Text, nullable=False),
    sa.Column("scheduled_start", sa.Text, nullable=False),
    sa.Column("scheduled_date", sa.String(10), nullable=False, index=True),
    sa.Column("family_code", sa.Text, nullable=False),
    sa.Column("opened_at", sa.Text, nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
)

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)

# Read-only work opts out of `BEGIN IMMEDIATE` so that readers never queue behind writers.
_BEGIN_OPTION = "daycase_sqlite_begin"


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; for SQLite, durable WAL pragmas and write-locking transactions.

    pysqlite normally defers BEGIN until the first write, so two transactions that both
    read first can deadlock when upgrading to the write lock; taking the lock at BEGIN
    (the SQLAlchemy docs' recipe) makes the second writer wait on `busy_timeout` instead.
    """
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa_event.listen(engine, "connect", _sqlite_connect)
        sa_event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


# Built once: SQLAlchemy then reuses their compiled form from its statement cache.
_LAST_EVENT = (
    sa.select(events.c.seq, events.c.hash)
    .where(events.c.case_id == sa.bindparam("case_id"))
    .order_by(events.c.seq.desc())
    .limit(1)
)
_INSERT_EVENT = events.insert()
_INSERT_CASE = cases.insert()
_ADVANCE_CASE = (
    cases.update()
    .where(cases.c.case_id == sa.bindparam("b_case_id"))
    .where(cases.c.last_seq == sa.bindparam("b_expected_seq"))
    .values(last_seq=sa.bindparam("b_last_seq"), last_hash=sa.bindparam("b_last_hash"))
)
_LOAD = (
    sa.select(events.c.body)
    .where(events.c.case_id == sa.bindparam("case_id"))
    .order_by(events.c.seq)
)
_SUMMARY_COLUMNS = (
    cases.c.case_id,
    cases.c.pathway_id,
    cases.c.scheduled_start,
    cases.c.family_code,
)
_ALL_CASES = sa.select(*_SUMMARY_COLUMNS).order_by(cases.c.scheduled_start, cases.c.case_id)
_CASES_ON = _ALL_CASES.where(cases.c.scheduled_date == sa.bindparam("on"))
_INDEX = sa.select(cases.c.case_id, cases.c.last_seq, cases.c.last_hash)
_ALL_ROWS = sa.select(
    events.c.case_id, events.c.seq, events.c.body, events.c.prev_hash, events.c.hash
).order_by(events.c.case_id, events.c.seq)


class SqlEventStore:
    """An `EventStore` over the `events` and `cases` tables; one transaction per append."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})

    def append(self, events: Sequence[Event], *, expected_seq: int) -> None:
        """Append one case's events in one transaction, or raise and store nothing."""
        if not events:
            return
        case_id = check_batch(events, expected_seq=expected_seq)
        try:
            with self._engine.begin() as conn:
                self._append(conn, case_id, events, expected_seq=expected_seq)
        except IntegrityError as error:
            # Which constraint failed is dialect-specific text; the case's seq tells plainly
            # whether a racing writer got the same (case_id, seq) or opened the case first.
            if self._last_seq(case_id) != expected_seq:
                raise ConcurrencyError(f"case {case_id} moved on; reload and retry") from error
            raise ValueError(
                f"case {case_id}: an event id in the batch is already stored"
            ) from error

    def _append(
        self, conn: sa.Connection, case_id: str, events: Sequence[Event], *, expected_seq: int
    ) -> None:
        last = conn.execute(_LAST_EVENT, {"case_id": case_id}).first()
        last_seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
        if last_seq != expected_seq:
            raise ConcurrencyError(
                f"case {case_id} is at seq {last_seq}, not {expected_seq}; reload and retry"
            )
        sealed = seal(events, prev_hash=prev_hash)
        end = sealed[-1].row
        first = events[0]
        if isinstance(first, CaseOpened):
            conn.execute(
                _INSERT_CASE,
                {
                    "case_id": case_id,
                    "pathway_id": first.pathway_id,
                    "scheduled_start": first.scheduled_start.isoformat(),
                    "scheduled_date": first.scheduled_start.date().isoformat(),
                    "family_code": first.family_code,
                    "opened_at": first.recorded_at.isoformat(),
                    "last_seq": end.seq,
                    "last_hash": end.hash,
                },
            )
        else:
            advanced = conn.execute(
                _ADVANCE_CASE,
                {
                    "b_case_id": case_id,
                    "b_expected_seq": expected_seq,
                    "b_last_seq": end.seq,
                    "b_last_hash": end.hash,
                },
            )
            if advanced.rowcount != 1:
                raise ConcurrencyError(
                    f"case {case_id}: its index row is not at seq {expected_seq}; "
                    "another writer won, or the index is damaged (run verify)"
                )
        conn.execute(
            _INSERT_EVENT,
            [
                {
                    "case_id": case_id,
                    "seq": item.row.seq,
                    "event_id": item.event.event_id,
                    "kind": item.kind,
                    "recorded_at": item.event.recorded_at.isoformat(),
                    "body": item.row.body,
                    "prev_hash": item.row.prev_hash,
                    "hash": item.row.hash,
                }
                for item in sealed
            ],
        )

    def _last_seq(self, case_id: str) -> int:
        with self._reader.connect() as conn:
            last = conn.execute(_LAST_EVENT, {"case_id": case_id}).first()
        return int(last[0]) if last else 0

    def load(self, case_id: str) -> list[Event]:
        """Every event of the case in seq order, rebuilt from the stored bodies."""
        with self._reader.connect() as conn:
            bodies = conn.execute(_LOAD, {"case_id": case_id}).scalars().all()
        return [parse_body(body) for body in bodies]

    def cases(self, *, on: date | None = None) -> list[CaseSummary]:
        """Cases whose start falls on local date `on` (in its own offset), by start then id."""
        with self._reader.connect() as conn:
            if on is None:
                rows = conn.execute(_ALL_CASES).all()
            else:
                rows = conn.execute(_CASES_ON, {"on": on.isoformat()}).all()
        return [
            CaseSummary(
                case_id=row.case_id,
                pathway_id=row.pathway_id,
                scheduled_start_iso=row.scheduled_start,
                family_code=row.family_code,
            )
            for row in rows
        ]

    def verify(self) -> list[ChainProblem]:
        """Re-check every case's chain and index row inside one read snapshot."""
        problems: list[ChainProblem] = []
        with self._reader.connect() as conn:
            index: dict[str, tuple[int, str]] = {
                row.case_id: (row.last_seq, row.last_hash) for row in conn.execute(_INDEX)
            }
            seen: set[str] = set()
            rows = conn.execute(_ALL_ROWS)
            for case_id, group in itertools.groupby(rows, key=lambda row: str(row.case_id)):
                seen.add(case_id)
                last_seq, last_hash = index.get(case_id, (None, None))
                problem = check_chain(
                    case_id,
                    (StoredRow(r.seq, r.body, r.prev_hash, r.hash) for r in group),
                    last_seq=last_seq,
                    last_hash=last_hash,
                )
                if problem:
                    problems.append(problem)
        for case_id in sorted(index.keys() - seen):
            last_seq = index[case_id][0]
            problems.append(
                ChainProblem(case_id, last_seq, f"history was cut: no events, index at {last_seq}")
            )
        return sorted(problems, key=lambda p: p.case_id)

    def close(self) -> None:
        """Close pooled connections (the engine would reconnect if used again)."""
        self._engine.dispose()
