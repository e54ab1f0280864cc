"""The report facts rows as stored, and the events they are folded from (store room).

A row remembers the `seq` of the last event it has seen, so the rows that lag behind their
case are found with one join on the case index (`stale`) and folded again; the folding
itself is `daycase.reports.facts`, driven by `services.reports`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import sqlalchemy as sa

from daycase.engine.events import Event
from daycase.store.chain import parse_body
from daycase.store.sql import plain_rows, reader, snapshot
from daycase.store.tables import cases_table, events_table, report_facts_table

CHUNK = 500  # cases per statement: well under every driver's limit on bound parameters

_F = report_facts_table.c
_C = cases_table.c


@dataclass(frozen=True, slots=True)
class FactsRow:
    case_id: str
    seq: int
    day: str
    body: str


class SqlReportFacts:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)

    def stale(self, first: date | None = None, last: date | None = None) -> list[str]:
        """Cases (scheduled from `first` to `last`, or all) whose row is missing or older
        than their last event.

        A row of another day is as good as missing: its case has moved since (a move is an
        event). Joining only the rows of these days lets the join read the (day, case, seq)
        index rather than every wide row of the table."""
        on = _F.case_id == _C.case_id
        query = sa.select(_C.case_id).order_by(_C.case_id)
        if first is not None:
            query = query.where(_C.scheduled_date >= first.isoformat())
            on = sa.and_(on, _F.day >= first.isoformat())
        if last is not None:
            query = query.where(_C.scheduled_date <= last.isoformat())
            on = sa.and_(on, _F.day <= last.isoformat())
        query = query.select_from(cases_table.outerjoin(report_facts_table, on)).where(
            sa.or_(_F.seq.is_(None), _F.seq != _C.last_seq)
        )
        with self._reader.connect() as conn:
            return [str(case_id) for case_id in conn.execute(query).scalars()]

    def histories(self, case_ids: Sequence[str]) -> Iterator[tuple[str, list[Event]]]:
        """Each case's events in seq order, read a chunk of cases per statement."""
        for start in range(0, len(case_ids), CHUNK):
            chunk = case_ids[start : start + CHUNK]
            query = (
                sa.select(events_table.c.case_id, events_table.c.body)
                .where(events_table.c.case_id.in_(chunk))
                .order_by(events_table.c.case_id, events_table.c.seq)
            )
            with snapshot(self._engine).connect() as conn:
                rows = conn.execute(query).all()
            for case_id, group in itertools.groupby(rows, key=lambda row: str(row[0])):
                yield case_id, [parse_body(str(row[1])) for row in group]

    def put(self, rows: Iterable[FactsRow]) -> None:
        """Write rows, replacing a case's older row: one transaction per chunk."""
        batch = list(rows)
        for start in range(0, len(batch), CHUNK):
            chunk = batch[start : start + CHUNK]
            with self._engine.begin() as conn:
                conn.execute(
                    report_facts_table.delete().where(_F.case_id.in_([r.case_id for r in chunk]))
                )
                conn.execute(
                    report_facts_table.insert(),
                    [
                        {"case_id": r.case_id, "seq": r.seq, "day": r.day, "body": r.body}
                        for r in chunk
                    ],
                )

    def seqs_between(self, first: date, last: date) -> list[tuple[str, int, str]]:
        """(case id, seq, day) of every row of these days: what a reader with rows or whole
        days in memory needs to know which of them are still current."""
        query = sa.select(_F.case_id, _F.seq, _F.day).where(
            _F.day >= first.isoformat(), _F.day <= last.isoformat()
        )
        with self._reader.connect() as conn:  # both drivers give these types as they are
            return cast("list[tuple[str, int, str]]", plain_rows(conn, query))

    def bodies(self, case_ids: Sequence[str]) -> Iterator[FactsRow]:
        """The rows of these cases, a chunk per statement."""
        for start in range(0, len(case_ids), CHUNK):
            chunk = case_ids[start : start + CHUNK]
            query = sa.select(_F.case_id, _F.seq, _F.day, _F.body).where(_F.case_id.in_(chunk))
            with self._reader.connect() as conn:
                rows = conn.execute(query).all()
            for c, s, d, b in rows:
                yield FactsRow(str(c), int(s), str(d), str(b))

    def between(self, first: date, last: date) -> list[FactsRow]:
        query = (
            sa.select(_F.case_id, _F.seq, _F.day, _F.body)
            .where(_F.day >= first.isoformat(), _F.day <= last.isoformat())
            .order_by(_F.day, _F.case_id)
        )
        with self._reader.connect() as conn:
            return [FactsRow(str(c), int(s), str(d), str(b)) for c, s, d, b in conn.execute(query)]

    def stored(self) -> dict[str, tuple[int, str]]:
        """Every row's (seq, body) by case: what a rebuild compares with."""
        query = sa.select(_F.case_id, _F.seq, _F.body)
        with self._reader.connect() as conn:
            return {str(c): (int(s), str(b)) for c, s, b in conn.execute(query)}

    def case_ids(self) -> list[str]:
        with self._reader.connect() as conn:
            return [
                str(c) for c in conn.execute(sa.select(_C.case_id).order_by(_C.case_id)).scalars()
            ]

    def drop(self, case_ids: Sequence[str]) -> None:
        """Rows of cases that no longer exist (a rebuild found them)."""
        for start in range(0, len(case_ids), CHUNK):
            with self._engine.begin() as conn:
                conn.execute(
                    report_facts_table.delete().where(
                        _F.case_id.in_(case_ids[start : start + CHUNK])
                    )
                )
