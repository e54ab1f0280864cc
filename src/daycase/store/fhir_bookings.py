"""Which case each hospital booking made (store room): an Appointment's identifier, for good."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from daycase.store.sql import reader
from daycase.store.tables import fhir_bookings_table

_B = fhir_bookings_table.c


class SqlFhirBookings:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reader = reader(engine)

    def cases(self, bookings: Sequence[str]) -> dict[str, str]:
        """The case each of these bookings made, for those that made one."""
        found: dict[str, str] = {}
        for start in range(0, len(bookings), 500):
            query = sa.select(_B.booking, _B.case_id).where(
                _B.booking.in_(bookings[start : start + 500])
            )
            with self._reader.connect() as conn:
                found.update({str(b): str(c) for b, c in conn.execute(query)})
        return found

    def add(self, booking: str, case_id: str, at: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                fhir_bookings_table.insert().values(
                    booking=booking, case_id=case_id, booked_at=at.isoformat()
                )
            )
