"""A centre with recorded history for the report tests: two past days of eight demo cases
each (one admission a day), booked into the example centre's first two rooms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from daycase.config import Settings
from daycase.demo import _book_rooms, seed_day
from daycase.services.accounts import User
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.runtime import Runtime, open_runtime
from tests.support.clock import CENTRE_TZ, OFFSET, centre_now
from tests.support.databases import database
from tests.support.server import Server, run_server

DAYS = [(centre_now() - timedelta(days=n)).date() for n in (10, 9)]
RANGE = {"from": DAYS[0].isoformat(), "to": DAYS[1].isoformat()}


def record_days(
    runtime: Runtime, days: Sequence[date], tz: ZoneInfo, *, untouched: int = 0
) -> None:
    """The example centre's set-up, then eight demo cases on each day, to the evening,
    booked into its first two rooms; the last `untouched` of each day only booked."""
    runtime.change_setup(
        setup_from_yaml(example_yaml()), by=User("ann", "admin"), expected_version=0
    )
    for i, day in enumerate(days):
        seed_day(
            runtime.store,
            day=day,
            tz=tz,
            patients=8,
            seed=i,
            until=datetime.combine(day, time(23, 0), tz),
            untouched=untouched,
        )
        _book_rooms(runtime, day, rooms_used=2)


@contextmanager
def server_with_history(tmp_path: Path) -> Iterator[Server]:
    with database("sqlite", tmp_path) as url:
        runtime = open_runtime(
            Settings(db=url, clock_offset_seconds=OFFSET.total_seconds(), timezone=str(CENTRE_TZ))
        )
        try:
            record_days(runtime, DAYS, CENTRE_TZ)
        finally:
            runtime.close()
        with run_server(url, tmp_path) as srv:
            yield srv
