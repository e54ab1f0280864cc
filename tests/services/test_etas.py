"""Estimated times on the boards, fitted on the centre's recorded days: shown where the
history supports them and the interval is narrow, never otherwise (service room, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daycase.config import Settings
from daycase.demo import seed_day
from daycase.services.runtime import Runtime, open_runtime
from daycase.web.pages import family_screen
from tests.support.databases import database
from tests.support.report_days import record_days

TZ = ZoneInfo("America/New_York")
HISTORY = [date(2026, 3, 2) + timedelta(days=n) for n in range(4)]
TODAY = date(2026, 3, 10)
NOW = datetime.combine(TODAY, time(10, 30), TZ)


def open_centre(tmp_path: Path, url: str, spread: float) -> Runtime:
    return open_runtime(
        Settings(db=url, timezone=str(TZ), eta_spread_minutes=spread), clock=lambda: NOW
    )


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """Four recorded days, and today a patient in the room for half an hour."""
    with database("sqlite", tmp_path) as found:
        rt = open_centre(tmp_path, found, 30)
        try:
            record_days(rt, HISTORY, TZ)
            seed_day(
                rt.store,
                day=TODAY,
                tz=TZ,
                patients=1,
                seed=3,
                until=NOW,
                starts=[NOW - timedelta(minutes=30)],
            )
        finally:
            rt.close()
        yield found


def test_a_patient_in_the_room_has_a_likely_time_for_recovery(tmp_path: Path, url: str) -> None:
    rt = open_centre(tmp_path, url, 30)
    try:
        assert rt.etas.current is None
        screen = family_screen(rt, TODAY)
        assert screen["expected"] == {}  # nothing shown before the day's fit
        fit = rt.etas.refit()
        assert fit is not None
        assert fit.cases == 32
        assert fit.model.durations.procedure[1].source == "history"
        assert fit.calibration.predictions > 0
        screen = family_screen(rt, TODAY)
        [(code, words)] = screen["expected"].items()
        assert words.startswith("Likely to move to recovery around 10:")
        assert screen["caveat"] == "Likely times come from past days. They can change."
        [row] = [r for r in screen["rows"] if r.family_code == code]
        assert row.status == "In procedure"
        assert rt.etas.refit() is fit  # once a day
    finally:
        rt.close()


def test_no_likely_times_when_the_centre_turns_them_off(tmp_path: Path, url: str) -> None:
    rt = open_centre(tmp_path, url, 0)
    try:
        assert rt.etas.refit() is None
        assert family_screen(rt, TODAY)["expected"] == {}
    finally:
        rt.close()


def test_an_interval_wider_than_the_setting_is_not_shown(tmp_path: Path, url: str) -> None:
    rt = open_centre(tmp_path, url, 0.5)
    try:
        assert rt.etas.refit() is not None
        assert family_screen(rt, TODAY)["expected"] == {}
    finally:
        rt.close()
