"""The clinical time window: `at` at most 5 min after `recorded_at`, 24 h before the schedule."""

from __future__ import annotations

from datetime import datetime

from tests.engine.builders import SECOND, Day, refusal, t


def test_at_exactly_five_minutes_after_recorded_at_is_accepted() -> None:
    day = Day()

    entry = day.ok("front_desk", "check_in", -90, occurred_at=-85)

    assert (entry.recorded_at, entry.at) == (t(-90), t(-85))


def test_at_five_minutes_and_one_second_after_recorded_at_is_refused() -> None:
    day = Day()
    before = day.count()

    result = refusal(day.record("front_desk", "check_in", -90, occurred_at=-85 + SECOND))

    assert (result.kind, result.fields) == ("invalid", {"at": "is more than 5 min in the future"})
    assert day.count() == before


def test_at_exactly_24_hours_before_the_scheduled_start_is_accepted() -> None:
    day = Day()

    entry = day.ok("front_desk", "check_in", -90, occurred_at=-24 * 60)

    assert entry.at == t(-1440)


def test_at_a_second_more_than_24_hours_before_the_scheduled_start_is_refused() -> None:
    day = Day()
    before = day.count()

    result = refusal(day.record("front_desk", "check_in", -90, occurred_at=-24 * 60 - SECOND))

    assert (result.kind, result.fields) == (
        "invalid",
        {"at": "is more than 24 h before the scheduled start"},
    )
    assert day.count() == before


def test_naive_at_is_refused() -> None:
    day = Day()
    before = day.count()

    result = refusal(
        day.record("front_desk", "check_in", -90, occurred_at=datetime(2026, 11, 26, 6, 30))
    )

    assert (result.kind, result.fields) == ("invalid", {"at": "must carry a timezone"})
    assert day.count() == before


def test_window_problem_comes_with_the_field_problems() -> None:
    day = Day()

    result = refusal(
        day.record(
            "front_desk",
            "check_in",
            -90,
            {"identity_confirmed": False},
            occurred_at=-80,
        )
    )

    assert result.kind == "invalid"
    assert result.fields == {
        "at": "is more than 5 min in the future",
        "identity_confirmed": "must be true",
        "consent_signed": "is required",
        "last_solids_at": "is required",
        "last_clear_fluids_at": "is required",
    }


def test_back_charted_entries_are_judged_by_clinical_time() -> None:
    day = Day()
    day.advance_to("check_in")  # at -90

    # Recorded after check-in but happened before it: the gate looks at clinical order.
    before_check_in = refusal(day.record("nurse", "preop_vitals", -60, occurred_at=-91))
    after_check_in = day.ok("nurse", "preop_vitals", -60, occurred_at=-89)

    assert (before_check_in.kind, before_check_in.messages) == ("gate", ("Check-in not done",))
    assert (after_check_in.at, after_check_in.recorded_at) == (t(-89), t(-60))
