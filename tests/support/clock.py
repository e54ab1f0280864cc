"""The suite's clock: every served process and every API test reads the same shifted time.

By default the suite starts four minutes before the centre's midnight, so a test that
builds "today" from the clock instead of naming the day it means fails on every run,
not for one hour a day. `DAYCASE_TEST_CLOCK` (an ISO 8601 instant with offset) starts it
elsewhere, to try another hour. Servers get the same shift through the app's own seam,
`DAYCASE_CLOCK_OFFSET_SECONDS`, so a test and its server agree to the microsecond.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from daycase.config import Settings

CLOCK_VARIABLE = "DAYCASE_TEST_CLOCK"
CENTRE_TZ = ZoneInfo(Settings().timezone)
MINUTES_BEFORE_MIDNIGHT = 4


def _suite_start(wall: datetime) -> datetime:
    chosen = os.environ.get(CLOCK_VARIABLE)
    if chosen:
        start = datetime.fromisoformat(chosen)
        if start.tzinfo is None:
            raise ValueError(f"{CLOCK_VARIABLE} needs a timezone offset: {chosen}")
        return start
    today = wall.astimezone(CENTRE_TZ).date()
    midnight = datetime.combine(today + timedelta(days=1), time(0, 0), CENTRE_TZ)
    return midnight - timedelta(minutes=MINUTES_BEFORE_MIDNIGHT)


def _offset() -> timedelta:
    """Decided once per run: worker processes inherit it, so every clock reads the same."""
    decided = os.environ.get(_OFFSET_VARIABLE)
    if decided is None:
        wall = datetime.now(UTC)
        decided = repr((_suite_start(wall) - wall).total_seconds())
        os.environ[_OFFSET_VARIABLE] = decided
    return timedelta(seconds=float(decided))


_OFFSET_VARIABLE = "DAYCASE_TEST_SUITE_OFFSET_SECONDS"
OFFSET = _offset()
OFFSET_ENV = {"DAYCASE_CLOCK_OFFSET_SECONDS": repr(OFFSET.total_seconds())}


def suite_now() -> datetime:
    """The suite's clock now (UTC): what every server started by the tests reads too."""
    return datetime.now(UTC) + OFFSET


def centre_now() -> datetime:
    """The suite's clock in the centre's timezone."""
    return suite_now().astimezone(CENTRE_TZ)
