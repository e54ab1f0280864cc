"""A day's schedule, one numbered version per change, kept for ever (store room).

Appending version N of a day fails (`VersionTaken`) when N is already stored: the key is
(day, version), so of two schedulers who both changed version N-1 only one wins and the
other's change is made again on the newer version (`services.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daycase.store.centre_setup import VersionTaken
from daycase.store.sql import reader
from daycase.store.tables import schedule_table

__all__ = ["ScheduleRow", "SqlSchedules", "VersionTaken"]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    day: str
    version: int
    body: str
    changed_by: str
    changed_at: str
    change: str


_T = schedule_table.c
_COLUMNS = (_T.day, _T.version, _T.body, _T.changed_by, _T.changed_at, _T.change)


class SqlSchedules:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)

    def latest(self, day: date) -> ScheduleRow | None:
        query = (
            sa.select(*_COLUMNS)
            .where(_T.day == day.isoformat())
            .order_by(_T.version.desc())
            .limit(1)
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        return ScheduleRow(*row) if row else None

    def versions(self, day: date) -> list[ScheduleRow]:
        query = sa.select(*_COLUMNS).where(_T.day == day.isoformat()).order_by(_T.version)
        with self._reader.connect() as conn:
            return [ScheduleRow(*row) for row in conn.execute(query)]

    def latest_between(self, first: date, last: date) -> list[ScheduleRow]:
        """The latest version of each day from `first` to `last` that has a schedule."""
        newest = (
            sa.select(_T.day, sa.func.max(_T.version).label("version"))
            .where(_T.day >= first.isoformat(), _T.day <= last.isoformat())
            .group_by(_T.day)
            .subquery()
        )
        query = (
            sa.select(*_COLUMNS)
            .join(newest, sa.and_(_T.day == newest.c.day, _T.version == newest.c.version))
            .order_by(_T.day)
        )
        with self._reader.connect() as conn:
            return [ScheduleRow(*row) for row in conn.execute(query)]

    def latest_versions(self, first: date, last: date) -> dict[str, int]:
        """The latest version number of each day from `first` to `last` with a schedule:
        what a reader that keeps days in memory compares, without reading the bodies."""
        query = (
            sa.select(_T.day, sa.func.max(_T.version))
            .where(_T.day >= first.isoformat(), _T.day <= last.isoformat())
            .group_by(_T.day)
        )
        with self._reader.connect() as conn:
            return {str(day): int(version) for day, version in conn.execute(query)}

    def append(
        self,
        *,
        day: date,
        version: int,
        body: str,
        changed_by: str,
        changed_at: datetime,
        change: str,
    ) -> ScheduleRow:
        row = ScheduleRow(
            day.isoformat(), version, body, changed_by, changed_at.isoformat(), change
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    schedule_table.insert().values(
                        day=row.day,
                        version=row.version,
                        body=row.body,
                        changed_by=row.changed_by,
                        changed_at=row.changed_at,
                        change=row.change,
                    )
                )
        except IntegrityError as exc:
            raise VersionTaken(f"{row.day} version {version}") from exc
        return row
