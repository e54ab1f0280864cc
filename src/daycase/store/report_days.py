"""Each day's report tallies as stored (store room): a cache a report may always rebuild.

`services.reports` keeps the tallies of every day it has counted with a fingerprint of what
they were made from (the day's rows and their seqs, its schedule and set-up versions, the
shapes of rows and tallies), so a new process (a restart, every `daycase report`) reads a
year's tallies instead of parsing and counting a year of rows. A row whose fingerprint no
longer matches is counted again and replaced; `daycase projections rebuild` drops them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daycase.store.sql import reader
from daycase.store.tables import report_days_table

CHUNK = 500
_D = report_days_table.c


@dataclass(frozen=True, slots=True)
class DayRow:
    day: str
    fingerprint: str
    until: str | None  # ISO instant: the tallies change by the clock alone then
    cases: int
    body: str


class SqlReportDays:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)

    def get(self, days: Sequence[str]) -> dict[str, DayRow]:
        found: dict[str, DayRow] = {}
        for start in range(0, len(days), CHUNK):
            query = sa.select(_D.day, _D.fingerprint, _D.until, _D.cases, _D.body).where(
                _D.day.in_(days[start : start + CHUNK])
            )
            with self._reader.connect() as conn:
                for day, fingerprint, until, cases, body in conn.execute(query):
                    found[str(day)] = DayRow(str(day), str(fingerprint), until, int(cases), body)
        return found

    def put(self, rows: Sequence[DayRow]) -> None:
        """Replace these days' rows. Two servers counting one day at once write the same
        tallies: when the other's insert wins, its rows stand and this chunk is let be
        (every row here is a cache; a day not written is counted again when read)."""
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        report_days_table.delete().where(_D.day.in_([r.day for r in chunk]))
                    )
                    conn.execute(
                        report_days_table.insert(),
                        [
                            {
                                "day": r.day,
                                "fingerprint": r.fingerprint,
                                "until": r.until,
                                "cases": r.cases,
                                "body": r.body,
                            }
                            for r in chunk
                        ],
                    )
            except IntegrityError:
                continue

    def clear(self) -> int:
        """Drop every row (a rebuild); how many there were."""
        with self._engine.begin() as conn:
            return conn.execute(report_days_table.delete()).rowcount
