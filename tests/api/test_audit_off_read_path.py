"""Audited reads against a real server while another program holds SQLite's write lock.

A read must neither wait for the lock (its audit rows are queued and written once the
lock frees) nor happen unaudited: when the audit log cannot be written for long, reads
are refused with 503 and Retry-After, and every read that was answered 200 is in the log.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path

from tests.api.wire import open_case
from tests.support.databases import database
from tests.support.server import run_server


def test_reads_under_a_held_write_lock_are_answered_then_refused_never_unaudited(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(database("sqlite", tmp_path))
        server = stack.enter_context(run_server(url, tmp_path))
        nurse = stack.enter_context(server.client(server.token("nurse")))
        admin = stack.enter_context(server.client(server.token("admin")))
        with server.client(server.token("front_desk")) as desk:
            case_id = open_case(desk)
        assert nurse.get(f"/api/v1/cases/{case_id}").status_code == 200

        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        answered: list[int] = []
        statuses: list[tuple[float, int, str | None]] = []
        try:
            started = time.monotonic()
            while time.monotonic() - started < 12:
                t0 = time.monotonic()
                r = nurse.get(f"/api/v1/cases/{case_id}")
                statuses.append(
                    (time.monotonic() - t0, r.status_code, r.headers.get("retry-after"))
                )
                if r.status_code == 200:
                    answered.append(1)
                if r.status_code == 503:
                    break
                time.sleep(0.2)
        finally:
            other.execute("ROLLBACK")
            other.close()
        codes = [code for _, code, _ in statuses]
        assert codes[0] == 200, statuses
        assert statuses[0][0] < 1.0, "a read waited for the write lock"
        assert codes[-1] == 503, statuses
        assert statuses[-1][2] is not None
        assert set(codes) <= {200, 503}

        r = admin.get("/api/v1/audit", params={"case_id": case_id})
        assert r.status_code == 200, r.text
        reads = [row for row in r.json() if row["action"] == "read_case" and row["user"] == "nurse"]
        assert len(reads) == 1 + len(answered)
        assert nurse.get(f"/api/v1/cases/{case_id}").status_code == 200
