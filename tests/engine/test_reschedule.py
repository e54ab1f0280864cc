"""Moving a booking in time (`CaseRescheduled`): who may, when, and what the case then
reads as its start (engine room, through the real case service)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from daycase.engine.commands import Actor, RescheduleCase
from daycase.engine.events import CaseOpened, CaseRescheduled
from daycase.engine.fold import fold
from tests.engine.builders import START, Day, refusal
from tests.factories import opened

DESK = Actor("fd.kim", "front_desk")


def move(day: Day, to: datetime, *, actor: Actor = DESK, reason: str = "list moved") -> object:
    return day.service.reschedule(
        day.case_id, RescheduleCase(actor=actor, scheduled_start=to, reason=reason)
    )


def test_a_move_gives_the_case_its_new_start_and_keeps_the_first_booking() -> None:
    day = Day(version="2.0")
    later = START + timedelta(hours=26)
    moved = move(day, later)
    assert isinstance(moved, CaseRescheduled)
    assert (moved.seq, moved.actor, moved.role, moved.reason) == (
        2,
        "fd.kim",
        "front_desk",
        "list moved",
    )
    state = day.service.state(day.case_id)
    assert state.opened is not None
    assert state.opened.scheduled_start == later
    first = state.history[0]
    assert isinstance(first, CaseOpened)
    assert first.scheduled_start == START
    assert fold(day.store.load(day.case_id)).opened == state.opened
    # Back-charting is bounded by the new start: a day before it is now too early.
    refused = refusal(day.record("front_desk", "check_in", 0))
    assert refused.fields == {"at": "is more than 24 h before the scheduled start"}
    day.ok("front_desk", "check_in", 26 * 60 - 40)


@pytest.mark.parametrize(
    ("actor", "to", "reason", "kind", "fields"),
    [
        (Actor("an.roe", "anesthesia"), START + timedelta(hours=1), "x", "role", {}),
        (
            DESK,
            START.replace(tzinfo=None) + timedelta(hours=1),
            "x",
            "invalid",
            {"scheduled_start": "must carry a timezone"},
        ),
        (
            DESK,
            START + timedelta(days=800),
            "x",
            "invalid",
            {"scheduled_start": "is more than 730 days ahead"},
        ),
        (DESK, START + timedelta(hours=1), "  ", "invalid", {"reason": "is required"}),
        (DESK, START + timedelta(hours=1), "moved\u202eback", "invalid", {"reason": ...}),
        (DESK, START, "x", "duplicate", {}),
    ],
    ids=["role", "no-timezone", "too-far-ahead", "no-reason", "bidi-reason", "same-start"],
)
def test_a_move_that_cannot_be_made_is_refused_and_stores_nothing(
    actor: Actor, to: datetime, reason: str, kind: str, fields: dict[str, object]
) -> None:
    day = Day(version="2.0")
    refused = refusal(move(day, to, actor=actor, reason=reason))
    assert refused.kind == kind
    if fields:
        assert set(refused.fields) == set(fields)
        expected = {k: v for k, v in fields.items() if v is not ...}
        assert {k: refused.fields[k] for k in expected} == expected
    assert len(day.store.load(day.case_id)) == 1
    if kind == "role":
        assert refused.messages == ("An Anesthesia user may not move bookings",)


def test_once_anything_is_recorded_the_booking_stays_and_says_why() -> None:
    day = Day(version="2.0")
    day.ok("front_desk", "check_in", -50)
    refused = refusal(move(day, START + timedelta(hours=3)))
    assert refused.kind == "closed"
    assert refused.messages == (
        "The case has begun (Check-in at 07:10); a booking moves only before anything is "
        "recorded. Add a delay on the schedule, or cancel the case and book it again",
    )
    assert len(day.store.load(day.case_id)) == 2


def test_a_voided_entry_does_not_hold_the_booking() -> None:
    day = Day(version="2.0")
    recorded = day.ok("front_desk", "check_in", -50)
    day.void("front_desk", recorded.event_id, -45)
    assert isinstance(move(day, START + timedelta(hours=3)), CaseRescheduled)


def test_another_day_with_this_family_code_refuses_the_move() -> None:
    """The family board shows codes: two patients of one day never share one."""
    day = Day(version="2.0")
    state = day.service.state(day.case_id)
    assert state.opened is not None
    tomorrow = START + timedelta(days=1)
    day.store.append(
        [opened("other", scheduled_start=tomorrow, family_code=state.opened.family_code)],
        expected_seq=0,
    )
    refused = refusal(move(day, tomorrow + timedelta(hours=1)))
    assert refused.fields == {
        "scheduled_start": f"another case on {tomorrow.date()} already has this case's family "
        f"code {state.opened.family_code}; cancel this booking and book the patient again "
        "for that day"
    }
    assert isinstance(move(day, START + timedelta(hours=1)), CaseRescheduled)  # its own day
