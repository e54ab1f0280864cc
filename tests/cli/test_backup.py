"""`daycase backup` and `daycase restore` as an operator runs them (CLI tests).

The backup is taken from a real `daycase serve` process while clients keep writing: every
event acknowledged (201) before the backup began must be in it, and it must verify; then
it is restored into a new file, which verifies too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from daycase.demo import run_demo
from tests.api.wire import check_in_data, now_utc, open_case, record
from tests.support.cli import daycase
from tests.support.databases import database
from tests.support.server import run_server
from tests.support.tamper import delete_case

DAY = date(2026, 11, 26)


def stored_ids(path: Path) -> tuple[set[str], set[str]]:
    """The case ids and event ids a SQLite file holds, read without daycase."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cases = {row[0] for row in conn.execute("SELECT case_id FROM cases")}
        events = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    finally:
        conn.close()
    return cases, events


def test_a_backup_under_write_load_holds_every_acknowledged_event(tmp_path: Path) -> None:
    dest = tmp_path / "backups" / "daycase-backup.db"
    acked: list[tuple[float, str, str]] = []  # (when the 201 arrived, "case"/"event", id)
    failures: list[str] = []
    stop = threading.Event()
    with database("sqlite", tmp_path) as url, run_server(url, tmp_path) as server:
        desk, nurse = server.token("front_desk"), server.token("nurse")

        def writer(writer_no: int) -> None:
            try:
                with server.client(desk) as front, server.client(nurse) as staff:
                    while not stop.is_set():
                        case_id = open_case(front, patient={**_patient(writer_no)})
                        acked.append((time.monotonic(), "case", case_id))
                        r = record(staff, case_id, "check_in", check_in_data(now_utc()))
                        if r.status_code != 201:
                            failures.append(r.text)
                            return
                        acked.append((time.monotonic(), "event", r.json()["event_id"]))
                        staff.get(f"/api/v1/cases/{case_id}")  # an audited read too
            except Exception as exc:  # reported below instead of hanging the wait
                failures.append(repr(exc))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 60
            while len(acked) < 80 and not failures:
                assert time.monotonic() < deadline, f"only {len(acked)} writes in 60 s"
                time.sleep(0.05)
            started = time.monotonic()
            out = daycase("backup", str(dest), "--db", url, "--step-pages", "4")
            finished = time.monotonic()
            time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert failures == []
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(started < at < finished for at, _, _ in acked), "no write during the backup"
    assert "backed up to" in out.stdout
    assert "every hash chain intact" in out.stdout
    assert "the audit log's chain is intact" in out.stdout
    assert not Path(f"{dest}-wal").exists()

    cases, events = stored_ids(dest)
    before = [(kind, ident) for at, kind, ident in acked if at < started]
    missing = [
        (kind, ident)
        for kind, ident in before
        if ident not in (cases if kind == "case" else events)
    ]
    assert missing == []
    assert len(before) >= 80

    verified = daycase("verify", "--db", str(dest))
    assert verified.returncode == 0, verified.stderr
    restored_path = tmp_path / "restored" / "daycase.db"
    restored = daycase("restore", str(dest), "--db", str(restored_path))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"{len(cases)} cases" in restored.stdout
    assert stored_ids(restored_path) == (cases, events)
    again = daycase("verify", "--db", str(restored_path))
    assert again.returncode == 0, again.stderr
    assert f"ok {len(cases)} cases, every hash chain intact" in again.stdout


def _patient(writer_no: int) -> dict[str, str]:
    return {
        "mrn": f"H-backup-{writer_no}",
        "given_name": "Ada",
        "family_name": "Lane",
        "birth_date": "1944-05-17",
        "sex": "female",
    }


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "live.db"
    run_demo(
        url=f"sqlite:///{path}",
        patients=2,
        seed=5,
        tz_name="America/New_York",
        today=DAY,
        console=Console(quiet=True),
    )
    return path


def test_restore_refuses_a_database_that_holds_data_unless_forced(
    demo_db: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "b.db"
    assert daycase("backup", str(backup), "--db", str(demo_db)).returncode == 0
    other = tmp_path / "other.db"
    run_demo(
        url=f"sqlite:///{other}",
        patients=1,
        seed=9,
        tz_name="America/New_York",
        today=DAY,
        console=Console(quiet=True),
    )
    refused = daycase("restore", str(backup), "--db", str(other))
    assert refused.returncode == 1
    assert f"{other} already holds 1 cases" in refused.stderr
    assert "use --force if that is what you mean" in refused.stderr
    assert len(stored_ids(other)[0]) == 1

    forced = daycase("restore", str(backup), "--db", str(other), "--force")
    assert forced.returncode == 0, forced.stderr
    assert stored_ids(other) == stored_ids(demo_db)


def test_backup_refuses_to_overwrite_and_checks_against_anchors(
    demo_db: Path, tmp_path: Path
) -> None:
    key, anchors = tmp_path / "anchor.key", tmp_path / "anchors"
    assert daycase("anchor", "--new-key", str(key)).returncode == 0
    made = daycase("anchor", "--key", str(key), "--out", str(anchors), "--db", str(demo_db))
    assert made.returncode == 0, made.stderr
    backup = tmp_path / "b.db"
    out = daycase(
        "backup", str(backup), "--db", str(demo_db), "--anchors", str(anchors), "--key", str(key)
    )
    assert out.returncode == 0, out.stderr
    assert "still pass through what 1 checkpoints anchored" in out.stdout
    again = daycase("backup", str(backup), "--db", str(demo_db))
    assert again.returncode == 2
    assert "exists (use --force to replace it)" in again.stderr


def test_postgresql_backups_point_to_pg_dump() -> None:
    url = "postgresql+psycopg://daycase@127.0.0.1:1/daycase"
    for command in (["backup", "b.dump"], ["restore", "b.dump"]):
        out = daycase(*command, "--db", url)
        assert out.returncode == 2
        assert "pg_dump -Fc and pg_restore" in out.stderr
        assert "docs/operations.md" in out.stderr


def test_restore_checks_the_backup_against_the_anchors_before_replacing_anything(
    demo_db: Path, tmp_path: Path
) -> None:
    """A backup that lost anchored history once replaced the live file, then failed."""
    key, anchors = tmp_path / "anchor.key", tmp_path / "anchors"
    assert daycase("anchor", "--new-key", str(key)).returncode == 0
    made = daycase("anchor", "--key", str(key), "--out", str(anchors), "--db", str(demo_db))
    assert made.returncode == 0, made.stderr
    backup = tmp_path / "b.db"
    assert daycase("backup", str(backup), "--db", str(demo_db)).returncode == 0
    delete_case(f"sqlite:///{backup}", sorted(stored_ids(backup)[0])[0])  # then re-sealed
    live_before = demo_db.read_bytes()
    out = daycase(
        "restore", str(backup), "--db", str(demo_db), "--force",
        "--anchors", str(anchors), "--key", str(key),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{demo_db} is unchanged" in out.stderr
    assert "restored" not in out.stdout
    assert demo_db.read_bytes() == live_before


def test_bad_paths_and_urls_are_refused_plainly(demo_db: Path, tmp_path: Path) -> None:
    itself = daycase("backup", str(demo_db), "--db", str(demo_db), "--force")
    assert itself.returncode == 2
    assert "is the database itself" in itself.stderr
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    for out in (
        daycase("verify", "--db", "foo://nowhere"),
        daycase("restore", str(not_a_db), "--db", str(tmp_path / "new.db")),
        daycase("restore", str(demo_db), "--db", str(not_a_db), "--force"),
        daycase("backup", "/proc/no/such/place/b.db", "--db", str(demo_db)),
    ):
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
    refused = daycase("demo", "--db", str(not_a_db))
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "demo refused" in refused.stderr
