"""The SQL event store on SQLAlchemy Core: tables, engine set-up and `SqlEventStore` (store room).

Written for SQLite now and PostgreSQL next; only the SQLite connection pragmas and the
`BEGIN IMMEDIATE` hook are dialect-specific, and they are guarded by dialect name.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler

from daycase.engine.events import CaseOpened, CaseRescheduled, Event
from daycase.store.base import (
    CaseSummary,
    ChainProblem,
    ConcurrencyError,
    FamilyCodeTaken,
    IdempotencyKey,
    KeyUsed,
    Subscriber,
)
from daycase.store.chain import StoredRow, check_batch, check_chain, parse_body, seal
from daycase.store.codec import GENESIS_HASH
from daycase.store.tables import (
    cases_table,
    events_table,
    idempotency_keys_table,
    metadata,
    report_facts_table,
)
from daycase.store.writer import Fallback, GroupWriter, Outcome

__all__ = ["SqlEventStore", "cases_table", "events_table", "make_engine", "metadata"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)

# Read-only work opts out of `BEGIN IMMEDIATE` so that readers never queue behind writers.
_BEGIN_OPTION = "daycase_sqlite_begin"


def make_engine(
    url: str, *, busy_timeout_s: float = 10.0, statement_timeout_s: float | None = None
) -> sa.Engine:
    """An engine for `url`; for SQLite, durable WAL pragmas and write-locking transactions.

    pysqlite normally defers BEGIN until the first write, so two transactions that both
    read first can deadlock when upgrading to the write lock; taking the lock at BEGIN
    (the SQLAlchemy docs' recipe) makes the second writer wait on `busy_timeout` instead.
    `busy_timeout_s` bounds how long a statement waits for a lock another program holds
    (SQLite's busy timeout, PostgreSQL's `lock_timeout`); `statement_timeout_s` bounds any
    PostgreSQL statement. The server sets both low, so that a locked store is answered
    with "busy, try again" in seconds instead of a request that hangs.
    """
    is_sqlite = sa.make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        engine = sa.create_engine(url)
        busy_ms = max(1, int(busy_timeout_s * 1000))

        def connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_connect(dbapi_connection, busy_ms)

        sa_event.listen(engine, "connect", connect)
        sa_event.listen(engine, "begin", _sqlite_begin)
        return engine
    options = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
    if statement_timeout_s is not None:
        options += f" -c statement_timeout={int(statement_timeout_s * 1000)}"
    # A server runs up to 40 request threads; a pool that small makes them queue and
    # churn connections (PostgreSQL pays a fork for each), so keep enough open.
    return sa.create_engine(url, pool_size=20, max_overflow=20, connect_args={"options": options})


def is_busy_error(error: BaseException) -> bool:
    """Whether a driver error means "locked or not answering": the write may be retried.

    SQLite says `database is locked`/`busy`; on PostgreSQL a lock or statement timeout and a
    lost connection are all `OperationalError`s (SQLSTATE classes 55, 57, 08).
    """
    original = getattr(error, "orig", None) or error
    if isinstance(original, sqlite3.OperationalError):
        text = str(original).lower()
        return "locked" in text or "busy" in text
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(original, psycopg.OperationalError)


def _sqlite_connect(dbapi_connection: Any, busy_ms: int) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (*_SQLITE_PRAGMAS, f"PRAGMA busy_timeout={busy_ms}"):
            cursor.execute(pragma)
    finally:
        cursor.close()


def reader(engine: sa.Engine) -> sa.Engine:
    """`engine` for read-only work: on SQLite its transactions begin DEFERRED, so a read
    never waits for (or takes) the write lock."""
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


def snapshot(engine: sa.Engine) -> sa.Engine:
    """`engine` for several reads that must see one moment (a SQLite read transaction is one
    snapshot already; PostgreSQL needs REPEATABLE READ)."""
    if engine.dialect.name == "sqlite":
        return reader(engine)
    return reader(engine).execution_options(isolation_level="REPEATABLE READ")


def plain_rows(conn: sa.Connection, query: sa.Select[Any]) -> Sequence[Sequence[Any]]:
    """Every row of `query` as the driver returns it (plain tuples): for reads of hundreds
    of thousands of small rows, where building SQLAlchemy's `Row` for each costs more than
    the query itself (a year of report rows: 0.8 s against 0.4 s)."""
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    positions = compiled.positiontup
    args: Any = tuple(params[name] for name in positions) if positions is not None else params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        return cursor.fetchall()
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    # Straight to the driver: going through exec_driver_sql costs as much as the INSERT.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"BEGIN {mode}")
    finally:
        cursor.close()


class Prepared:
    """A Core statement compiled once for the engine's dialect and run on the driver cursor.

    `append` is the hot path (one transaction per clinical entry); executing through the
    `Connection` costs several times the database work, so its statements skip that layer.
    Every bound value is a str or int, which no dialect needs to convert.
    """

    def __init__(
        self,
        statement: sa.ClauseElement,
        dialect: sa.Dialect,
        *,
        column_keys: list[str] | None = None,
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError(f"{dialect.name} needs per-call compilation for: {compiled.string}")
        self.sql = compiled.string
        # Only binds with a value of their own, such as LIMIT 1, have a default.
        self._defaults: dict[str, Any] = {
            name: bind.value for bind, name in compiled.bind_names.items() if not bind.required
        }
        self._order = compiled.positiontup if compiled.positional else None

    def params(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """Values in the dialect's paramstyle: a tuple in bind order or a mapping."""
        merged = {**self._defaults, **values} if self._defaults else values
        if self._order is None:
            return merged
        return tuple([merged[name] for name in self._order])

    def params_many(
        self, rows: list[dict[str, Any]]
    ) -> Sequence[tuple[Any, ...]] | Sequence[dict[str, Any]]:
        """Rows for `executemany`, in the dialect's paramstyle."""
        if self._order is None:
            return [{**self._defaults, **row} for row in rows]
        return [tuple({**self._defaults, **row}[name] for name in self._order) for row in rows]


_EVENT_COLUMNS = ["case_id", "seq", "event_id", "kind", "recorded_at", "body", "prev_hash", "hash"]
_CASE_COLUMNS = [column.name for column in cases_table.columns]

_LAST_EVENT = (
    sa.select(events_table.c.seq, events_table.c.hash)
    .where(events_table.c.case_id == sa.bindparam("case_id"))
    .order_by(events_table.c.seq.desc())
    .limit(1)
)
_ADVANCE_CASE = (
    cases_table.update()
    .where(cases_table.c.case_id == sa.bindparam("b_case_id"))
    .where(cases_table.c.last_seq == sa.bindparam("b_expected_seq"))
    .where(cases_table.c.last_hash == sa.bindparam("b_prev_hash"))
    .values(last_seq=sa.bindparam("b_last_seq"), last_hash=sa.bindparam("b_last_hash"))
)
# A booking moved in time (`CaseRescheduled`): the index follows it to its new day.
_MOVE_CASE = (
    cases_table.update()
    .where(cases_table.c.case_id == sa.bindparam("b_case_id"))
    .values(
        scheduled_start=sa.bindparam("b_scheduled_start"),
        scheduled_date=sa.bindparam("b_scheduled_date"),
    )
)
# ... and its report facts row goes, in the same transaction: the report then folds the
# case again under its new day, and the old day, its row gone, is counted again.
_FORGET_FACTS = report_facts_table.delete().where(
    report_facts_table.c.case_id == sa.bindparam("b_case_id")
)
# An opening's family code, checked in its own transaction (the writer's hot connection:
# no read of its own before the write, and no race between two openings).
_CODE_TAKEN = (
    sa.select(sa.literal(1))
    .where(cases_table.c.scheduled_date == sa.bindparam("on"))
    .where(cases_table.c.family_code == sa.bindparam("code"))
    .limit(1)
)
# A booking moved to another day takes its family code along: another case of that day
# must not hold it (a move within its own day changes nothing here).
_ME, _OTHER = cases_table.alias("me"), cases_table.alias("other")
_MOVE_CLASH = (
    sa.select(_ME.c.family_code)
    .select_from(_ME.join(_OTHER, _OTHER.c.family_code == _ME.c.family_code))
    .where(_ME.c.case_id == sa.bindparam("case_id"))
    .where(_ME.c.scheduled_date != sa.bindparam("on"))
    .where(_OTHER.c.scheduled_date == sa.bindparam("on"))
    .where(_OTHER.c.case_id != _ME.c.case_id)
    .limit(1)
)
# PostgreSQL checks against what is committed when a statement starts: two servers could
# each find a code free and both store it. Openings of one day take turns instead, on a
# transaction-scoped lock named after the day (SQLite's write lock does this already).
PG_DAY_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"


def day_lock_key(day: str) -> str:
    """The name of the lock openings of `day` (ISO date) take on PostgreSQL."""
    return f"daycase-family-codes:{day}"


_KEY_TAKEN = sa.select(sa.literal(1)).where(idempotency_keys_table.c.key_hash == sa.bindparam("k"))
_KEY_COLUMNS = ["key_hash", "request_hash", "case_id", "event_id", "created_at"]
_REPLAY = (
    sa.select(idempotency_keys_table.c.request_hash, events_table.c.body)
    .join(events_table, events_table.c.event_id == idempotency_keys_table.c.event_id)
    .where(idempotency_keys_table.c.key_hash == sa.bindparam("k"))
)
_LOAD = (
    sa.select(events_table.c.body)
    .where(events_table.c.case_id == sa.bindparam("case_id"))
    .order_by(events_table.c.seq)
)
_SUMMARY_COLUMNS = (
    cases_table.c.case_id,
    cases_table.c.pathway_id,
    cases_table.c.pathway_version,
    cases_table.c.pathway_digest,
    cases_table.c.scheduled_start,
    cases_table.c.family_code,
    cases_table.c.last_seq,
)
_ALL_CASES = sa.select(*_SUMMARY_COLUMNS).order_by(
    cases_table.c.scheduled_start, cases_table.c.case_id
)
_CASES_ON = _ALL_CASES.where(cases_table.c.scheduled_date == sa.bindparam("on"))
_CASE = sa.select(*_SUMMARY_COLUMNS).where(cases_table.c.case_id == sa.bindparam("case_id"))
_CODES_ON = sa.select(cases_table.c.family_code).where(
    cases_table.c.scheduled_date == sa.bindparam("on")
)
_CASES_BETWEEN = _ALL_CASES.where(
    cases_table.c.scheduled_date >= sa.bindparam("first"),
    cases_table.c.scheduled_date <= sa.bindparam("last"),
)


def _hash_number(dialect: str) -> sa.ColumnElement[int]:
    """A number from the first four hex digits of a case's last hash, in SQL either
    database runs (position of each digit in "0123456789abcdef")."""
    position = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    digits = [
        position("0123456789abcdef", sa.func.substr(cases_table.c.last_hash, i, 1))
        for i in range(1, 5)
    ]
    return digits[0] * 4096 + digits[1] * 256 + digits[2] * 16 + digits[3]


def _day_signature(dialect: str) -> sa.Select[Any]:
    return sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(cases_table.c.last_seq), 0),
        sa.func.coalesce(sa.func.sum(_hash_number(dialect)), 0),
    ).where(cases_table.c.scheduled_date == sa.bindparam("on"))


_INDEX = sa.select(cases_table.c.case_id, cases_table.c.last_seq, cases_table.c.last_hash)
_ALL_ROWS = sa.select(
    events_table.c.case_id,
    events_table.c.seq,
    events_table.c.body,
    events_table.c.prev_hash,
    events_table.c.hash,
).order_by(events_table.c.case_id, events_table.c.seq)


# On PostgreSQL a batch is one statement, its rows passed as JSON text and sent together
# with its BEGIN. The writer thread must take the GIL back from the event loop after each
# round trip (up to the interpreter's switch interval, 5 ms), and turning rows into
# arrays or `executemany` parameters is Python work done while holding it; both cost more
# than the database's own work. Data-modifying WITH clauses all run to completion; the
# count of advanced cases proves that none had moved on. (A/B on bench/api.py, three
# pairs: 981-1,091 events/s and p99 50-54 ms, against 791-925 and 54-65 with arrays.)
_PG_BATCH = """
WITH opened AS (
    INSERT INTO cases (case_id, pathway_id, pathway_version, pathway_digest, scheduled_start,
        scheduled_date, family_code, opened_at, last_seq, last_hash)
    SELECT * FROM json_to_recordset(%s::json) AS r(case_id text, pathway_id text,
        pathway_version text, pathway_digest text, scheduled_start text, scheduled_date text,
        family_code text, opened_at text, last_seq integer, last_hash text)
    RETURNING 1
), v AS (
    SELECT * FROM json_to_recordset(%s::json) AS v(b_case_id text, b_expected_seq integer,
        b_prev_hash text, b_last_seq integer, b_last_hash text)
), advanced AS (
    UPDATE cases AS c SET last_seq = v.b_last_seq, last_hash = v.b_last_hash FROM v
    WHERE c.case_id = v.b_case_id AND c.last_seq = v.b_expected_seq
        AND c.last_hash = v.b_prev_hash
    RETURNING 1
), stored AS (
    INSERT INTO events (case_id, seq, event_id, kind, recorded_at, body, prev_hash, hash)
    SELECT * FROM json_to_recordset(%s::json) AS r(case_id text, seq integer, event_id text,
        kind text, recorded_at text, body text, prev_hash text, hash text)
    RETURNING 1
), keys AS (
    INSERT INTO idempotency_keys (key_hash, request_hash, case_id, event_id, created_at)
    SELECT * FROM json_to_recordset(%s::json) AS r(key_hash text, request_hash text,
        case_id text, event_id text, created_at text)
    RETURNING 1
), clashes AS (
    -- Openings whose family code a case of their day held before this statement.
    SELECT count(*) AS n FROM cases AS c
    JOIN json_to_recordset(%s::json) AS o(scheduled_date text, family_code text)
        ON c.scheduled_date = o.scheduled_date AND c.family_code = o.family_code
)
SELECT (SELECT count(*) FROM advanced),
    (SELECT count(*) FROM opened) + (SELECT count(*) FROM stored) + (SELECT count(*) FROM keys),
    (SELECT count(pg_notify('daycase_cases', c)) FROM json_array_elements_text(%s::json) AS c),
    (SELECT n FROM clashes)
"""


def _as_one_json_row(select_sql: str) -> str:
    """A SQLite SELECT of the case summary columns, as one row holding a JSON array of them."""
    columns = ", ".join(column.name for column in _SUMMARY_COLUMNS)
    return f"SELECT json_group_array(json_array({columns})) FROM ({select_sql})"


def case_index_row(opened: CaseOpened, moved: CaseRescheduled | None = None) -> dict[str, str]:
    """What the case index says about a case, from its opening and its last move: one
    definition for the append that writes the row and the rebuild that checks it
    (`store.projections`)."""
    start = (moved or opened).scheduled_start
    return {
        "pathway_id": opened.pathway_id,
        "pathway_version": opened.pathway_version,
        "pathway_digest": opened.pathway_digest,
        **_start_columns(start),
        "family_code": opened.family_code,
        "opened_at": opened.recorded_at.isoformat(),
    }


def _start_columns(start: datetime) -> dict[str, str]:
    """The booked start and its day, in the start's own offset (what `cases(on=)` reads)."""
    return {"scheduled_start": start.isoformat(), "scheduled_date": start.date().isoformat()}


def _summary(row: Any) -> CaseSummary:
    return CaseSummary(
        case_id=row.case_id,
        pathway_id=row.pathway_id,
        pathway_version=row.pathway_version,
        pathway_digest=row.pathway_digest,
        scheduled_start_iso=row.scheduled_start,
        family_code=row.family_code,
        last_seq=row.last_seq,
    )


@dataclass(frozen=True, slots=True)
class _Request:
    """One append as queued for the writer."""

    events: Sequence[Event]
    expected_seq: int
    idempotency: IdempotencyKey | None


@dataclass(frozen=True, slots=True)
class _Planned:
    """The rows one append writes, and where its case's chain ends after it."""

    case_id: str
    case_row: dict[str, Any] | None
    advance: dict[str, Any] | None
    event_rows: list[dict[str, Any]]
    key_row: dict[str, Any] | None
    end: tuple[int, str]
    moved: dict[str, Any] | None = None


class SqlEventStore:
    """An `EventStore` over the `events` and `cases` tables; one transaction per append."""

    @property
    def engine(self) -> sa.Engine:
        """Shared with the accounts and audit tables of the same database."""
        return self._engine

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)
        # verify() reads the index and the events in two queries that must see one moment.
        self._snapshot = snapshot(engine)
        dialect = engine.dialect
        self._last_event = Prepared(_LAST_EVENT, dialect)
        self._all_cases = Prepared(_ALL_CASES, dialect)
        self._cases_on = Prepared(_CASES_ON, dialect)
        self._advance_case = Prepared(_ADVANCE_CASE, dialect)
        self._move_case = Prepared(_MOVE_CASE, dialect)
        self._day_signature = _day_signature(dialect.name)
        self._forget_facts = Prepared(_FORGET_FACTS, dialect)
        self._insert_case = Prepared(
            cases_table.insert().inline(), dialect, column_keys=_CASE_COLUMNS
        )
        self._insert_event = Prepared(
            events_table.insert().inline(), dialect, column_keys=_EVENT_COLUMNS
        )
        self._integrity_errors: tuple[type[Exception], ...] = (
            IntegrityError,
            dialect.loaded_dbapi.IntegrityError,
        )
        self._key_taken = Prepared(_KEY_TAKEN, dialect)
        self._code_taken = Prepared(_CODE_TAKEN, dialect)
        self._move_clash = Prepared(_MOVE_CLASH, dialect)
        self._insert_key = Prepared(
            idempotency_keys_table.insert().inline(), dialect, column_keys=_KEY_COLUMNS
        )
        self._notify_sql = (
            "SELECT pg_notify('daycase_cases', %s)" if dialect.name == "postgresql" else None
        )
        # One writer connection and thread per store (datasette's pattern for SQLite, which
        # takes one writer at a time anyway): appends queued together share a transaction.
        # (Two on PostgreSQL, committing side by side, made smaller batches and was slower.)
        self._writer = GroupWriter(
            engine.raw_connection,
            dialect=dialect.name,
            busy=is_busy_error,
            batch_work=self._append_batch,
        )
        # Where each case's chain ends, as this store last wrote it; the conditional
        # UPDATE of `cases` (same seq *and* same hash) proves that is still the stored end,
        # so the SELECT can be skipped. Matching the hash too keeps a remembered end that
        # never committed (a failed COMMIT) from being chained onto after another writer
        # stored a different event at that seq.
        self._chain_ends: OrderedDict[str, tuple[int, str]] = OrderedDict()
        # The writer and a refused caller's clean-up (on its own thread) both change it.
        self._ends_lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._listener: Any = None  # a PgListener once someone subscribes on PostgreSQL

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """Append one case's events in one transaction, or raise and store nothing."""
        if not events:
            return
        case_id = check_batch(events, expected_seq=expected_seq)
        try:
            self._writer.call(
                self._work(events, expected_seq, idempotency),
                _Request(events, expected_seq, idempotency),
            )
        except self._integrity_errors as error:
            self._refused(case_id, expected_seq, idempotency, error)
        self._committed(case_id)

    async def append_async(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """`append` from the event loop: the transaction runs on the writer thread."""
        if not events:
            return
        case_id = check_batch(events, expected_seq=expected_seq)
        try:
            await self._writer.call_async(
                self._work(events, expected_seq, idempotency),
                _Request(events, expected_seq, idempotency),
            )
        except self._integrity_errors as error:
            await asyncio.to_thread(self._refused, case_id, expected_seq, idempotency, error)
        self._committed(case_id)

    def subscribe(self, subscriber: Subscriber) -> None:
        """On SQLite, called here after each commit (one process writes a SQLite file); on
        PostgreSQL, by a listener on the `pg_notify` every append sends at its commit, so
        writes of every process arrive, this one's included, by the same path."""
        self._subscribers.append(subscriber)
        if self._notify_sql is not None and self._listener is None:
            from daycase.store.pg_listen import PgListener

            self._listener = PgListener(self._engine.url, self._notify_subscribers)
            self._listener.start()

    def _committed(self, case_id: str) -> None:
        if self._notify_sql is None:
            self._notify_subscribers(case_id)

    def _notify_subscribers(self, case_id: str) -> None:
        for subscriber in self._subscribers:
            subscriber(case_id)

    def _work(
        self, events: Sequence[Event], expected_seq: int, idempotency: IdempotencyKey | None
    ) -> Callable[[DBAPICursor], None]:
        def work(cursor: DBAPICursor) -> None:
            try:
                self._append(cursor, events, expected_seq=expected_seq, idempotency=idempotency)
            except BaseException:
                # Rolled back: what this store remembered of the case's end may be wrong.
                self._forget_end(events[0].case_id)
                raise

        return work

    def _refused(
        self,
        case_id: str,
        expected_seq: int,
        idempotency: IdempotencyKey | None,
        error: Exception,
    ) -> NoReturn:
        """Name an integrity error: which constraint failed is dialect-specific text; what is
        stored now tells plainly whether a racing writer got there first."""
        self._forget_end(case_id)
        if idempotency is not None and self.replay(idempotency.key) is not None:
            raise KeyUsed(idempotency.key) from error
        if self._last_seq(case_id) != expected_seq:
            raise ConcurrencyError(f"case {case_id} moved on; reload and retry") from error
        raise ValueError(f"case {case_id}: an event id in the batch is already stored") from error

    def replay(self, key: str) -> tuple[str, Event] | None:
        """The request digest and the event stored under an idempotency key, if any."""
        with self._reader.connect() as conn:
            row = conn.execute(_REPLAY, {"k": key}).first()
        return (str(row[0]), parse_body(row[1])) if row else None

    def _plan(
        self,
        cursor: DBAPICursor,
        events: Sequence[Event],
        expected_seq: int,
        idempotency: IdempotencyKey | None,
    ) -> _Planned:
        """The rows one append writes, chained on from where the case ends now.

        Raises `ConcurrencyError` before anything is written when the case has moved on.
        """
        case_id = events[0].case_id
        known = self._chain_ends.get(case_id)
        if known is not None and known[0] == expected_seq:
            last_seq, prev_hash = known
        else:
            cursor.execute(self._last_event.sql, self._last_event.params({"case_id": case_id}))
            last = cursor.fetchone()
            last_seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
        if last_seq != expected_seq:
            raise ConcurrencyError(
                f"case {case_id} is at seq {last_seq}, not {expected_seq}; reload and retry"
            )
        sealed = seal(events, prev_hash=prev_hash)
        end = sealed[-1].row
        first = events[0]
        moves = [e for e in events if isinstance(e, CaseRescheduled)]
        case_row: dict[str, Any] | None = None
        advance: dict[str, Any] | None = None
        if isinstance(first, CaseOpened):
            case_row = {
                "case_id": case_id,
                **case_index_row(first, moves[-1] if moves else None),
                "last_seq": end.seq,
                "last_hash": end.hash,
            }
        else:
            advance = {
                "b_case_id": case_id,
                "b_expected_seq": expected_seq,
                "b_prev_hash": prev_hash,
                "b_last_seq": end.seq,
                "b_last_hash": end.hash,
            }
        rows = [
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
        ]
        key_row = None
        if idempotency is not None:
            key_row = {
                "key_hash": idempotency.key,
                "request_hash": idempotency.request,
                "case_id": case_id,
                "event_id": events[-1].event_id,
                "created_at": events[-1].recorded_at.isoformat(),
            }
        moved = None
        if moves and case_row is None:
            start = _start_columns(moves[-1].scheduled_start)
            moved = {
                "b_case_id": case_id,
                "b_scheduled_start": start["scheduled_start"],
                "b_scheduled_date": start["scheduled_date"],
            }
        return _Planned(case_id, case_row, advance, rows, key_row, (end.seq, end.hash), moved)

    def _append(
        self,
        cursor: DBAPICursor,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """One append on its own: checked statement by statement."""
        if idempotency is not None:
            cursor.execute(self._key_taken.sql, self._key_taken.params({"k": idempotency.key}))
            if cursor.fetchone() is not None:
                raise KeyUsed(idempotency.key)
        plan = self._plan(cursor, events, expected_seq, idempotency)
        if plan.case_row is not None:
            self._lock_days(cursor, [plan.case_row])
            if self._code_held(cursor, plan.case_row):
                row = plan.case_row
                raise FamilyCodeTaken(row["family_code"], date.fromisoformat(row["scheduled_date"]))
            cursor.execute(self._insert_case.sql, self._insert_case.params(plan.case_row))
        else:
            assert plan.advance is not None
            cursor.execute(self._advance_case.sql, self._advance_case.params(plan.advance))
            if cursor.rowcount != 1:
                self._forget_end(plan.case_id)
                raise ConcurrencyError(
                    f"case {plan.case_id}: its index row is not at seq {expected_seq} with "
                    "the expected hash; another writer won, or the index is damaged (run verify)"
                )
        if plan.moved is not None:
            day = plan.moved["b_scheduled_date"]
            self._lock_days(cursor, [{"scheduled_date": day}])
            clash = {"case_id": plan.case_id, "on": day}
            cursor.execute(self._move_clash.sql, self._move_clash.params(clash))
            if (held := cursor.fetchone()) is not None:
                raise FamilyCodeTaken(held[0], date.fromisoformat(day))
            cursor.execute(self._move_case.sql, self._move_case.params(plan.moved))
            forget = {"b_case_id": plan.case_id}
            cursor.execute(self._forget_facts.sql, self._forget_facts.params(forget))
        if len(plan.event_rows) == 1:  # the usual case: one clinical entry, one statement
            cursor.execute(self._insert_event.sql, self._insert_event.params(plan.event_rows[0]))
        else:
            cursor.executemany(
                self._insert_event.sql, self._insert_event.params_many(plan.event_rows)
            )
        if plan.key_row is not None:
            cursor.execute(self._insert_key.sql, self._insert_key.params(plan.key_row))
        if self._notify_sql is not None:
            # Delivered by PostgreSQL at commit, to every listening server process.
            cursor.execute(self._notify_sql, (plan.case_id,))
        self._remember_end(plan.case_id, *plan.end)

    def _append_batch(self, cursor: DBAPICursor, requests: list[_Request]) -> list[Outcome]:
        """Appends to different cases in a handful of statements, whatever their number.

        Each statement is a round trip and, on the writer thread, a hand-over of the GIL;
        per append they cost more than the rows. Anything that only a one-by-one check can
        settle (two appends to one case, a case that moved on under us, a repeated key or
        id) raises `Fallback`, and the writer redoes the batch append by append.
        """
        outcomes: list[Outcome] = []
        plans: list[_Planned] = []
        seen: set[str] = set()
        for request in requests:
            case_id = request.events[0].case_id
            if case_id in seen or any(isinstance(e, CaseRescheduled) for e in request.events):
                raise Fallback(case_id)  # a move also rewrites the index row: one by one
            seen.add(case_id)
            try:
                plans.append(
                    self._plan(cursor, request.events, request.expected_seq, request.idempotency)
                )
            except ConcurrencyError as error:  # nothing of it written: refused alone
                self._forget_end(case_id)
                outcomes.append((None, error))
                continue
            outcomes.append((None, None))
        opens = [plan.case_row for plan in plans if plan.case_row is not None]
        if len({(row["scheduled_date"], row["family_code"]) for row in opens}) < len(opens):
            raise Fallback("two openings of one day drew one family code")
        advances = [plan.advance for plan in plans if plan.advance is not None]
        rows = [row for plan in plans for row in plan.event_rows]
        keys = [plan.key_row for plan in plans if plan.key_row is not None]
        if self._notify_sql is not None:
            self._lock_days(cursor, opens)  # before the batch statement takes its snapshot
            opened, advanced_json, stored, keyed, notified = (
                json.dumps(part, ensure_ascii=False)
                for part in (opens, advances, rows, keys, [plan.case_id for plan in plans])
            )
            params = (opened, advanced_json, stored, keyed, opened, notified)
            with cursor.connection.pipeline():
                cursor.execute(_PG_BATCH, params)
            counts = cursor.fetchone()
            assert counts is not None  # the statement always answers one row
            advanced, clashes = counts[0], counts[3]
        else:
            clashes = 0
            if any(self._code_held(cursor, row) for row in opens):
                raise Fallback("an opening's family code is taken on its day")
            if opens:
                cursor.executemany(self._insert_case.sql, self._insert_case.params_many(opens))
            advanced = 0
            if advances:
                cursor.executemany(self._advance_case.sql, self._advance_case.params_many(advances))
                advanced = cursor.rowcount
            if rows:
                cursor.executemany(self._insert_event.sql, self._insert_event.params_many(rows))
            if keys:
                cursor.executemany(self._insert_key.sql, self._insert_key.params_many(keys))
        if clashes:
            raise Fallback("an opening's family code is taken on its day")
        if advanced != len(advances):
            raise Fallback("a case's index row was not where this store left it")
        for plan in plans:
            self._remember_end(plan.case_id, *plan.end)
        return outcomes

    def _lock_days(self, cursor: DBAPICursor, case_rows: list[dict[str, Any]]) -> None:
        """On PostgreSQL, wait for every other transaction opening a case on these days."""
        if self._notify_sql is None:
            return
        for day in sorted({row["scheduled_date"] for row in case_rows}):
            cursor.execute(PG_DAY_LOCK, (day_lock_key(day),))

    def _code_held(self, cursor: DBAPICursor, case_row: dict[str, Any]) -> bool:
        """Whether a case of the opening's day already holds its family code."""
        values = {"on": case_row["scheduled_date"], "code": case_row["family_code"]}
        cursor.execute(self._code_taken.sql, self._code_taken.params(values))
        return cursor.fetchone() is not None

    def _forget_end(self, case_id: str) -> None:
        with self._ends_lock:
            self._chain_ends.pop(case_id, None)

    def _remember_end(self, case_id: str, seq: int, digest: str) -> None:
        """Bounded: a busy day has a few dozen open cases, never thousands at once."""
        with self._ends_lock:
            ends = self._chain_ends
            ends[case_id] = (seq, digest)
            ends.move_to_end(case_id)
            if len(ends) > 4096:
                ends.popitem(last=False)

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
        """Cases whose start falls on local date `on` (in its own offset), by start then id.

        Every board read asks this for the whole day, so it skips Core's row objects. On
        SQLite the day comes back as one JSON row: the driver lets go of the GIL for each
        row it steps through and must win it back from the request threads every time,
        which under four concurrent board readers cost more than the query itself."""
        statement = self._all_cases if on is None else self._cases_on
        params = statement.params({} if on is None else {"on": on.isoformat()})
        sql = statement.sql if self._notify_sql is not None else _as_one_json_row(statement.sql)
        with self._reader.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if self._notify_sql is None:
            rows = json.loads(rows[0][0]) if rows and rows[0][0] else []
        found = [CaseSummary(*row) for row in rows]
        found.sort(key=lambda c: (c.scheduled_start_iso, c.case_id))
        return found

    def case(self, case_id: str) -> CaseSummary | None:
        with self._reader.connect() as conn:
            row = conn.execute(_CASE, {"case_id": case_id}).first()
        return _summary(row) if row else None

    def family_codes(self, *, on: date) -> set[str]:
        """Only the codes: opening a case reads them, and a busy day has many cases."""
        with self._reader.connect() as conn:
            return set(conn.execute(_CODES_ON, {"on": on.isoformat()}).scalars())

    def cases_between(self, first: date, last: date) -> list[CaseSummary]:
        params = {"first": first.isoformat(), "last": last.isoformat()}
        with self._reader.connect() as conn:
            return [_summary(row) for row in conn.execute(_CASES_BETWEEN, params)]

    def changed_since(self, since: datetime) -> list[str]:
        """Recorded times are stored as ISO text in their own offsets, so text order is not
        time order: the text (its local part) narrows to events at most 14 h before
        `since` in any offset, and each of those is then compared as a time."""
        if since.utcoffset() is None:
            raise ValueError("since: must carry a timezone")
        floor = (since.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=15)).isoformat()
        query = sa.select(events_table.c.case_id, events_table.c.recorded_at).where(
            events_table.c.recorded_at >= floor
        )
        with self._reader.connect() as conn:
            rows = plain_rows(conn, query)
        return sorted({str(c) for c, at in rows if datetime.fromisoformat(str(at)) >= since})

    def day_signature(self, *, on: date) -> tuple[int, int, int]:
        with self._reader.connect() as conn:
            count, total, hashes = conn.execute(self._day_signature, {"on": on.isoformat()}).one()
        return int(count), int(total), int(hashes)

    def verify(self) -> list[ChainProblem]:
        """Re-check every case's chain and index row inside one read snapshot."""
        problems: list[ChainProblem] = []
        with self._snapshot.connect() as conn:
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
        """Finish queued writes, close the writer, the listener and the pooled connections."""
        if self._listener is not None:
            self._listener.stop()
        self._writer.close()
        self._engine.dispose()
