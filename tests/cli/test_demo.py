"""The demo is something to try at any hour, on any machine (tests room)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from daycase.config import Settings
from daycase.demo import seed_server_demo
from daycase.services.board import board
from daycase.services.runtime import open_runtime
from daycase.store.factory import migrate

NEW_YORK = ZoneInfo("America/New_York")
PRINT_ZONE = "from daycase.config import Settings; print(Settings().timezone)"


@pytest.mark.parametrize("clock", [time(23, 40), time(2, 0), time(13, 0)])
def test_the_demo_leaves_patients_to_take_from_check_in(tmp_path: Path, clock: time) -> None:
    instant = datetime.combine(datetime.now(NEW_YORK).date(), clock, NEW_YORK)
    settings = Settings(
        db=f"sqlite:///{tmp_path / 'demo.db'}",
        timezone="America/New_York",
        clock_offset_seconds=(instant - datetime.now(UTC)).total_seconds(),
    )
    migrate(settings.db)
    # Today is what this test reads; the four weeks of history are another test's.
    seed_server_demo(settings, console=Console(file=io.StringIO()), history=False)
    runtime = open_runtime(settings)
    try:
        rows = board(runtime.cases, on=runtime.today(), now=runtime.now())
    finally:
        runtime.close()
    assert len(rows) == 8
    assert [r.phase for r in rows][-2:] == ["scheduled", "scheduled"]
    assert all(r.scheduled_start.date() == instant.date() for r in rows)


def test_the_centre_timezone_is_the_machines_unless_set() -> None:
    def zone(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DAYCASE_")}
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from daycase.config import Settings; print(Settings().timezone)",
            ],
            capture_output=True,
            text=True,
            env={**clean, **env},
            check=True,
            timeout=60,
        )
        return out.stdout.strip()

    assert zone(TZ="Europe/Paris") == "Europe/Paris"
    assert zone(TZ="Asia/Tokyo", DAYCASE_TIMEZONE="America/Chicago") == "America/Chicago"


def test_the_demo_records_four_weeks_for_the_reports(tmp_path: Path) -> None:
    from daycase.demo import HISTORY_DAYS
    from daycase.services.reports import report_filters

    instant = datetime.combine(datetime.now(NEW_YORK).date(), time(13, 0), NEW_YORK)
    settings = Settings(
        db=f"sqlite:///{tmp_path / 'demo.db'}",
        timezone="America/New_York",
        clock_offset_seconds=(instant - datetime.now(UTC)).total_seconds(),
    )
    migrate(settings.db)
    seed_server_demo(settings, console=Console(file=io.StringIO()))
    runtime = open_runtime(settings)
    try:
        today = runtime.today()
        first, last = today - timedelta(days=HISTORY_DAYS), today - timedelta(days=2)
        weekdays = sum(
            (first + timedelta(days=n)).weekday() < 5 for n in range((last - first).days + 1)
        )
        report = runtime.reports.report(report_filters(today=today, start=first, end=last))
    finally:
        runtime.close()
    by_id = {m.id: m for m in report.measures}
    assert report.cases == 8 * weekdays
    first_cases = by_id["first_case_on_time"].proportion
    assert first_cases is not None
    assert first_cases.denominator == 2 * weekdays  # two rooms a day, booked on the schedule
    calls = by_id["next_day_calls"].proportion
    assert calls is not None
    assert 0 < calls.numerator < calls.denominator  # most reached, some missed
