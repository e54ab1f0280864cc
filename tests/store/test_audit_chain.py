"""The audit log is one hash chain, written off the read path (store tests).

Rows edited, deleted, reordered or cut behind daycase's back are named; rows stored before
the chain existed are chained by migration 0006; many threads and processes append
without breaking the chain; and an audited read neither waits for SQLite's write lock nor
goes unaudited when the log cannot keep up.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.runtime import open_runtime
from daycase.store.accounts import SqlAccounts
from daycase.store.audit import AuditEntry, AuditProblem, verify_audit
from daycase.store.audit_writer import AuditUnavailable, AuditWriter
from daycase.store.factory import alembic_config, migrate
from daycase.store.projections import AuditCaseIndex
from daycase.store.sql import make_engine, snapshot
from tests.support.databases import BACKENDS, database

AT = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def write_rows(url: str, count: int, *, user: str = "nurse") -> None:
    engine = make_engine(url)
    try:
        accounts = SqlAccounts(engine)
        for i in range(count):
            accounts.audit(
                at=AT, user_name=user, role="nurse", action="read_case", case_id=f"case-{i}"
            )
        accounts.audit_rows(case_id=None)
    finally:
        engine.dispose()


def check(url: str) -> tuple[list[AuditProblem], int]:
    engine = make_engine(url)
    try:
        with snapshot(engine).connect() as conn:
            problems, _, count = verify_audit(conn)
    finally:
        engine.dispose()
    return problems, count


def tamper(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with database("sqlite", tmp_path) as found:
        yield found


def test_rows_written_are_one_intact_chain(url: str) -> None:
    write_rows(url, 5)
    assert check(url) == ([], 5)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        pytest.param(
            ["UPDATE audit SET user_name = 'someone else' WHERE seq = 3"],
            AuditProblem(3, "audit row 3 was edited (hash mismatch)"),
            id="edited",
        ),
        pytest.param(
            ["DELETE FROM audit WHERE seq = 3"],
            AuditProblem(4, "audit rows are missing or reordered: expected row 3, found 4"),
            id="deleted",
        ),
        pytest.param(
            [
                "UPDATE audit SET seq = -1 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = 4",
                "UPDATE audit SET seq = 4 WHERE seq = -1",
            ],
            AuditProblem(3, "audit rows are missing or reordered: row 3 does not follow row 2"),
            id="reordered",
        ),
        pytest.param(
            ["DELETE FROM audit WHERE seq = 5"],
            AuditProblem(5, "the audit log was cut: its head says row 5, the rows end at row 4"),
            id="cut",
        ),
        pytest.param(
            ["DELETE FROM audit_head"],
            AuditProblem(5, "the audit log has no head row"),
            id="no-head",
        ),
    ],
)
def test_verify_names_where_the_audit_log_was_changed(
    url: str, statements: list[str], expected: AuditProblem
) -> None:
    write_rows(url, 5)
    tamper(url, *statements)
    problems, _ = check(url)
    assert problems == [expected]


def write_board_read(url: str) -> None:
    """Row 1 a one-case read; rows 2 and 3 board reads of the same three cases."""
    engine = make_engine(url)
    try:
        accounts = SqlAccounts(engine)
        accounts.audit(at=AT, user_name="nurse", role="nurse", action="read_case", case_id="c-1")
        for _ in range(2):
            accounts.audit_many(
                at=AT,
                user_name="nurse",
                role="nurse",
                action="board",
                case_ids=["c-1", "c-2", "c-3"],
                detail="2026-11-26",
            )
        accounts.audit_rows(case_id=None)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        pytest.param(
            ["UPDATE audit SET case_list = NULL WHERE seq = 3"],
            AuditProblem(3, "audit row 3 was edited (hash mismatch)"),
            id="the-list-taken-off-a-row",
        ),
        pytest.param(
            ['UPDATE audit_case_lists SET case_ids = \'["c-1","c-2"]\''],
            AuditProblem(2, "the list of cases audit row 2 read was edited"),
            id="a-case-taken-off-the-list",
        ),
        pytest.param(
            ["DELETE FROM audit_case_lists"],
            AuditProblem(2, "the list of cases audit row 2 read is missing"),
            id="the-list-deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_list_cases WHERE case_id = 'c-3'"],
            AuditProblem(
                0,
                "the audit log's index of cases read differs from its lists "
                "(run daycase projections rebuild)",
            ),
            id="index-row-deleted",
        ),
    ],
)
def test_a_board_read_is_one_row_whose_list_of_cases_is_proved(
    url: str, statements: list[str], expected: AuditProblem
) -> None:
    write_board_read(url)
    assert check(url) == ([], 3)
    engine = make_engine(url)
    try:
        who_read_c3 = SqlAccounts(engine).audit_rows(case_id="c-3")
        with engine.connect() as conn:
            lists = conn.exec_driver_sql("SELECT count(*) FROM audit_case_lists").scalar()
    finally:
        engine.dispose()
    assert [(r.action, r.case_id, r.case_ids) for r in who_read_c3] == [
        ("board", "c-3", ("c-1", "c-2", "c-3")),
        ("board", "c-3", ("c-1", "c-2", "c-3")),
    ]
    assert lists == 1  # the same list, stored once

    tamper(url, *statements)

    assert check(url)[0][0] == expected


def test_a_rebuild_restores_the_index_of_cases_read_from_the_chain(url: str) -> None:
    write_board_read(url)
    tamper(url, "DELETE FROM audit_list_cases WHERE case_id = 'c-3'")
    engine = make_engine(url)
    try:
        found = AuditCaseIndex().rebuild(engine, write=True)
    finally:
        engine.dispose()

    assert found.corrected == ["c-3"]
    assert check(url) == ([], 3)


def test_migration_chains_the_rows_stored_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0005")
    tamper(
        url,
        *(
            "INSERT INTO audit (at, user_name, role, action, case_id, detail) VALUES "
            f"('2026-11-2{i}T10:00:00+00:00', 'nurse', 'nurse', 'board', 'c{i}', '')"
            for i in range(4)
        ),
    )
    migrate(url)
    assert check(url) == ([], 4)
    write_rows(url, 2)  # the chain goes on from the migrated rows
    assert check(url) == ([], 6)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            order = conn.execute(sa.text("SELECT case_id FROM audit ORDER BY seq")).scalars()
            assert list(order)[:4] == ["c0", "c1", "c2", "c3"]
    finally:
        engine.dispose()


def _process_writes(url: str, process_no: int, count: int) -> None:
    engine = make_engine(url)
    try:
        accounts = SqlAccounts(engine)

        def thread_body(thread_no: int) -> None:
            for i in range(count):
                accounts.audit(
                    at=AT,
                    user_name=f"p{process_no}t{thread_no}",
                    role="nurse",
                    action="read_case",
                    case_id=f"case-{i}",
                )

        threads = [threading.Thread(target=thread_body, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accounts.audit_rows(case_id=None)
    finally:
        engine.dispose()


def test_threads_and_processes_appending_keep_one_chain(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_process_writes, args=(url, p, 25)) for p in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert check(url) == ([], 3 * 4 * 25)


@pytest.fixture
def write_lock(sqlite_url: str) -> Iterator[sqlite3.Connection]:
    """Another process's view: a connection holding SQLite's write lock."""
    other = sqlite3.connect(
        sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


def test_an_audited_read_does_not_wait_for_the_write_lock(
    sqlite_url: str, write_lock: sqlite3.Connection
) -> None:
    runtime = open_runtime(Settings(db=sqlite_url))
    try:
        started = time.monotonic()
        runtime.audit_read(User("nurse", "nurse"), "read_case", ["case-1"])
        assert time.monotonic() - started < 0.5
        write_lock.execute("ROLLBACK")
        rows = runtime.accounts.accounts.audit_rows(case_id="case-1")
        assert [(r.user_name, r.action) for r in rows] == [("nurse", "read_case")]
    finally:
        runtime.close()
    assert check(sqlite_url) == ([], 1)


def test_queued_rows_are_written_within_a_second(sqlite_url: str) -> None:
    runtime = open_runtime(Settings(db=sqlite_url))
    try:
        runtime.audit_read(
            User("nurse", "nurse"), "board", ["a", "b"], "2026-11-26"
        )  # one row, listing both
        started = time.monotonic()
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
        try:
            while (
                other.execute("SELECT count(*) FROM audit").fetchone()[0] < 1
            ):  # one row, listing both cases
                assert time.monotonic() - started < 1.0, "audit rows not written in 1 s"
                time.sleep(0.005)
        finally:
            other.close()
    finally:
        runtime.close()


def test_closing_writes_what_is_queued_once_the_lock_is_free(
    sqlite_url: str, write_lock: sqlite3.Connection
) -> None:
    runtime = open_runtime(Settings(db=sqlite_url))
    runtime.audit_read(User("nurse", "nurse"), "read_case", ["case-1"])
    threading.Timer(0.5, lambda: write_lock.execute("ROLLBACK")).start()
    runtime.close()
    assert check(sqlite_url) == ([], 1)


def test_a_read_is_refused_when_the_audit_log_cannot_keep_up(
    sqlite_url: str, write_lock: sqlite3.Connection
) -> None:
    engine = make_engine(sqlite_url)
    writer = AuditWriter(engine, max_lag_s=0.3, wait_s=0.2)
    entry = AuditEntry(AT, "nurse", "nurse", "read_case", "case-1", "")
    try:
        writer.submit([entry])  # queued: the store is locked, the row waits
        time.sleep(0.4)
        started = time.monotonic()
        with pytest.raises(AuditUnavailable):
            writer.submit([entry])
        assert 0.2 <= time.monotonic() - started < 1.0
        write_lock.execute("ROLLBACK")
        assert writer.flush(timeout_s=15)
        writer.submit([entry])  # the log keeps up again: reads are audited again
        assert writer.flush(timeout_s=5)
    finally:
        writer.close()
        engine.dispose()
    assert check(sqlite_url) == ([], 2)
