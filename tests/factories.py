"""Small builders of events for tests; every datetime is tz-aware (Europe/London summer, +01:00).

Defaults describe one ordinary kyphoplasty case; tests override only what they assert on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from daycase.engine.commands import Actor, OpenCase
from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    Patient,
    StepRecorded,
)
from daycase.services.cases import CaseService
from daycase.types import JSONObject

BST = timezone(timedelta(hours=1))
DAY = date(2025, 6, 2)
START_AT = datetime(2025, 6, 2, 8, 30, tzinfo=BST)


def at(hour: int, minute: int = 0, *, day: date = DAY) -> datetime:
    """A clinical time on `day` in +01:00."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BST)


# Store tests need a digest, not a real definition: the service checks it, the store keeps it.
DIGEST = "0" * 64


def event_id(case_id: str, seq: int) -> str:
    """A readable event id that is unique per case and seq."""
    return f"{case_id}-e{seq}"


def opened(
    case_id: str,
    seq: int = 1,
    *,
    scheduled_start: datetime = START_AT,
    recorded_at: datetime | None = None,
    pathway_id: str = "kyphoplasty",
    family_code: str | None = None,
) -> CaseOpened:
    """The CaseOpened that starts a case (recorded two hours before its start by default).

    Its family code is the case's own unless given: a store refuses a second case of
    one day with the same code."""
    return CaseOpened(
        event_id=event_id(case_id, seq),
        case_id=case_id,
        seq=seq,
        recorded_at=recorded_at or scheduled_start - timedelta(hours=2),
        actor="nurse.ada",
        role="nurse",
        pathway_id=pathway_id,
        pathway_version="1",
        pathway_digest=DIGEST,
        patient=Patient(
            mrn=f"MRN-{case_id}",
            given_name="Mary",
            family_name="Jones",
            birth_date=date(1948, 3, 14),
            sex="female",
        ),
        levels=("T12", "L1"),
        scheduled_start=scheduled_start,
        family_code=f"K-{case_id}" if family_code is None else family_code,
    )


def recorded(
    case_id: str,
    seq: int,
    *,
    step: str = "arrived",
    at_time: datetime | None = None,
    data: JSONObject | None = None,
    eid: str | None = None,
    level: str | None = None,
    override_reason: str | None = None,
) -> StepRecorded:
    """A StepRecorded at `at_time` (default: `seq` minutes after 07:00), recorded a minute later."""
    when = at_time or at(7) + timedelta(minutes=seq)
    return StepRecorded(
        event_id=eid or event_id(case_id, seq),
        case_id=case_id,
        seq=seq,
        recorded_at=when + timedelta(minutes=1),
        actor="nurse.ada",
        role="nurse",
        step=step,
        at=when,
        data=data if data is not None else {},
        level=level,
        override=override_reason is not None,
        override_reason=override_reason,
    )


def amended(
    case_id: str,
    seq: int,
    *,
    target_event_id: str,
    at_time: datetime | None = None,
    data: JSONObject | None = None,
    reason: str = "typed the wrong value",
) -> EventAmended:
    """An EventAmended of `target_event_id`."""
    return EventAmended(
        event_id=event_id(case_id, seq),
        case_id=case_id,
        seq=seq,
        recorded_at=at(9) + timedelta(minutes=seq),
        actor="nurse.ada",
        role="nurse",
        target_event_id=target_event_id,
        reason=reason,
        at=at_time,
        data=data,
    )


def voided(
    case_id: str,
    seq: int,
    *,
    target_event_id: str,
    reason: str = "recorded on the wrong case",
) -> EventVoided:
    """An EventVoided of `target_event_id`."""
    return EventVoided(
        event_id=event_id(case_id, seq),
        case_id=case_id,
        seq=seq,
        recorded_at=at(9) + timedelta(minutes=seq),
        actor="nurse.ada",
        role="nurse",
        target_event_id=target_event_id,
        reason=reason,
    )


def rescheduled(case_id: str, seq: int, *, to: datetime) -> CaseRescheduled:
    """A CaseRescheduled of the booking to `to`."""
    return CaseRescheduled(
        event_id=event_id(case_id, seq),
        case_id=case_id,
        seq=seq,
        recorded_at=at(7) + timedelta(minutes=seq),
        actor="fd.kim",
        role="front_desk",
        scheduled_start=to,
        reason="the hospital moved the list",
    )


def history(case_id: str, *, steps: int = 3) -> list[Event]:
    """A CaseOpened followed by `steps` StepRecorded events (seq 1 .. steps + 1)."""
    return [opened(case_id), *(recorded(case_id, seq) for seq in range(2, steps + 2))]


def open_one_level(
    service: CaseService, *, start: datetime, mrn: str = "H-1", family_name: str = "Lane"
) -> CaseOpened:
    """Open a one-level (L1) kyphoplasty 2.0 case through the service; assert it opened."""
    found = service.open_case(
        OpenCase(
            actor=Actor("fd", "front_desk"),
            pathway_id="kyphoplasty",
            pathway_version="2.0",
            mrn=mrn,
            given_name="Ada",
            family_name=family_name,
            birth_date=date(1944, 5, 17),
            sex="female",
            levels=["L1"],
            scheduled_start=start,
        )
    )
    assert isinstance(found, CaseOpened), found
    return found
