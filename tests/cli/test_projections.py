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


def test_report_facts_are_filled_then_kept_and_a_changed_row_is_put_right(url: str) -> None:
    fresh = daycase("projections", "rebuild", "--db", url, "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "report_facts: would fill 4 rows no report had read yet" in fresh.stdout
    filled = daycase("projections", "rebuild", "--db", url)
    assert filled.returncode == 0
    assert "report_facts: filled 4 rows" in filled.stdout
    first = sorted(index(url))[0]
    change(url, "UPDATE report_facts SET body = '{}' WHERE case_id = :case_id", first)
    checked = daycase("projections", "rebuild", "--db", url, "--check")
    assert checked.returncode == 1
    assert f"report_facts: would correct case {first}" in checked.stdout
    assert daycase("projections", "rebuild", "--db", url).returncode == 0
    assert daycase("projections", "rebuild", "--db", url, "--check").returncode == 0


def test_report_prints_every_measure_as_json_and_csv(url: str) -> None:
    import json

    out = daycase(
        "report",
        "all",
        "--db",
        url,
        "--from",
        "2026-11-26",
        "--to",
        "2026-11-26",
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["cases"] == 4
    assert body["filters"]["start"] == "2026-11-26"
    by_id = {m["id"]: m for m in body["measures"]}
    assert by_id["asc4_transfer"]["proportion"]["denominator"] == 4
    table = daycase("report", "turnover", "--db", url, "--from", "2026-11-26", "--to", "2026-11-26")
    assert table.returncode == 0
    assert "Turnover by room" in table.stdout
    text = daycase(
        "report", "complications", "--db", url, "--from", "2026-11-26", "--format", "csv"
    )
    assert text.stdout.startswith("measure,group,title,numerator,denominator")
    bad = daycase("report", "asc99", "--db", url)
    assert bad.returncode == 1
    assert "no measure 'asc99'" in bad.stderr
    backwards = daycase("report", "all", "--db", url, "--from", "2026-12-01", "--to", "2026-11-01")
    assert backwards.returncode == 1
    assert "--from: the first day is after the last day" in backwards.stderr
