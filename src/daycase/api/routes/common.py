"""Shared route helpers: documented refusals and the day a query means (API room)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Header, Path, Query

from daycase.api.schemas import Day, RefusalOut
from daycase.services.runtime import Runtime

DayQuery = Annotated[
    Day | None, Query(alias="date", description="YYYY-MM-DD; default: today at the centre")
]


# Ids are made by the service (hex); a path or query id outside this shape is a 422 before
# it reaches a database, which would otherwise choke on e.g. NUL bytes (PostgreSQL).
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
CaseIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="A case id from `POST /cases`")]
EventIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="An event id from the case's history")
]
CaseIdQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="Only rows about this case")
]


# Printable ASCII, as Stripe and the IETF draft use it: a UUID is the usual choice.
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description=(
            "Any unique text up to 255 printable characters (a UUID): a retry with the same "
            "key is answered with the write stored the first time, never stored twice."
        ),
    ),
]


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusal statuses a route may answer."""
    return {code: {"model": RefusalOut} for code in (401, 422, 503, *codes)}


def day_or_today(runtime: Runtime, day: date | None) -> date:
    return day if day is not None else runtime.today()
