"""Shared route helpers: documented refusals and the day a query means (API room)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query

from daycase.api.schemas import RefusalOut
from daycase.services.runtime import Runtime

DayQuery = Annotated[
    date | None, Query(alias="date", description="YYYY-MM-DD; default: today at the centre")
]


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusal statuses a route may answer."""
    return {code: {"model": RefusalOut} for code in (401, 422, *codes)}


def day_or_today(runtime: Runtime, day: date | None) -> date:
    return day if day is not None else runtime.today()
