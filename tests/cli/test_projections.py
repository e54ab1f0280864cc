"""`daycase projections rebuild` as an operator runs it (CLI tests, SQLite and PostgreSQL).

A demo day's case index matches its events; a row changed behind daycase's back is named
and put right from the events; a chain end that disagrees is never "repaired" (that is
what `verify` checks history against) but named and left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.cli import daycase
from tests.support.databases import BACKENDS, demo_database

DAY = date(2026, 11, 26)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with demo_database(request.param, tmp_path, patients=4, seed=7) as found:
        yield found


def index(url: str) -> dict[str, tuple[str, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT case_id, family_code, last_seq FROM cases")
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        engine.dispose()


def change(url: str, sql: str, case_id: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), {"case_id": case_id})
    finally:
        engine.dispose()


def test_a_kept_index_matches_its_events(url: str) -> None:
    out = daycase("projections", "rebuild", "--db", url, "--check")

    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"case_index +│ 4 ", out.stdout), out.stdout


def test_a_changed_row_is_named_then_put_right_from_the_events(url: str) -> None:
    before = index(url)
    first, second, *_ = sorted(before)
    change(url, "UPDATE cases SET family_code = 'ZZZ' WHERE case_id = :case_id", first)
    change(url, "UPDATE cases SET last_seq = last_seq + 1 WHERE case_id = :case_id", second)

    checked = daycase("projections", "rebuild", "--db", url, "--check")
    assert checked.returncode == 1
    assert f"would correct case {first}" in checked.stdout
    assert f"left case {second} alone: its chain end differs: run daycase verify" in (
        checked.stdout
    )
    assert index(url)[first][0] == "ZZZ"  # --check changes nothing

    rebuilt = daycase("projections", "rebuild", "--db", url)
    assert rebuilt.returncode == 1  # the chain end still needs verify
    after = index(url)
    assert after[first] == before[first]
    assert after[second][1] == before[second][1] + 1  # never rewritten by a rebuild


def test_a_missing_database_is_refused_plainly(tmp_path: Path) -> None:
    out = daycase("projections", "rebuild", "--db", str(tmp_path / "nope.db"))

    assert out.returncode == 2
    assert "cannot rebuild: there is no database file at" in out.stderr
