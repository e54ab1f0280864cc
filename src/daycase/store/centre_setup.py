"""The centre's set-up, one numbered version per change, kept for ever (store room).

Appending version N fails (`VersionTaken`) when N is already stored: the primary key is
the version, so two managers who both edited version N-1 cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from daycase.store.sql import reader
from daycase.store.tables import centre_setup_table


class VersionTaken(Exception):
    """Another change stored that version first."""


@dataclass(frozen=True, slots=True)
class SetupRow:
    version: int
    body: str
    changed_by: str
    changed_at: str
    note: str


_COLUMNS = (
    centre_setup_table.c.version,
    centre_setup_table.c.body,
    centre_setup_table.c.changed_by,
    centre_setup_table.c.changed_at,
    centre_setup_table.c.note,
)


class SqlCentreSetups:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)

    def latest(self) -> SetupRow | None:
        query = sa.select(*_COLUMNS).order_by(centre_setup_table.c.version.desc()).limit(1)
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        return SetupRow(*row) if row else None

    def latest_version(self) -> int:
        row = self.latest()
        return row.version if row else 0

    def versions(self) -> list[SetupRow]:
        query = sa.select(*_COLUMNS).order_by(centre_setup_table.c.version.desc())
        with self._reader.connect() as conn:
            return [SetupRow(*row) for row in conn.execute(query)]

    def append(
        self, *, version: int, body: str, changed_by: str, changed_at: datetime, note: str
    ) -> SetupRow:
        row = SetupRow(version, body, changed_by, changed_at.isoformat(), note)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    centre_setup_table.insert().values(
                        version=row.version,
                        body=row.body,
                        changed_by=row.changed_by,
                        changed_at=row.changed_at,
                        note=row.note,
                    )
                )
        except IntegrityError as exc:
            raise VersionTaken(str(version)) from exc
        return row
