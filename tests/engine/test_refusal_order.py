"""Refusal order: role → invalid → closed → duplicate → gate; the first failure answers.

Each test pairs two adjacent failures in one command and shows the earlier one wins, then
removes the earlier cause and shows the later failure was really there. Nothing is stored
on refusal: the event count never moves.
"""

from __future__ import annotations

from tests.engine.builders import Day, data_for, refusal


def test_role_wins_over_invalid() -> None:
    day = Day()
    day.advance_to("site_prepped")
    before = day.count()

    wrong_role_bad_data = refusal(day.record("nurse", "time_out", 8, {"team_introduced": "yes"}))
    right_role_bad_data = refusal(
        day.record("proceduralist", "time_out", 8, {"team_introduced": "yes"})
    )

    assert wrong_role_bad_data.kind == "role"
    assert wrong_role_bad_data.messages == ("A Nurse user may not record Time-out",)
    assert wrong_role_bad_data.fields == {}
    assert right_role_bad_data.kind == "invalid"
    assert right_role_bad_data.fields == {
        "team_introduced": "must be true or false",
        "patient_procedure_levels_confirmed": "is required",
        "imaging_displayed": "is required",
        "critical_events_reviewed": "is required",
    }
    assert day.count() == before


def test_invalid_wins_over_closed() -> None:
    day = Day()
    day.advance_to("check_in")
    day.step("cancelled", -85)
    before = day.count()

    bad_after_close = refusal(
        day.record("nurse", "preop_vitals", -80, data_for("preop_vitals", heart_rate=300))
    )
    good_after_close = refusal(day.record("nurse", "preop_vitals", -80))

    assert bad_after_close.kind == "invalid"
    assert bad_after_close.fields == {"heart_rate": "must be between 20 and 250 (got 300)"}
    assert good_after_close.kind == "closed"
    assert good_after_close.messages == (
        "The case is closed (Cancelled at 06:35); only amendments and voids are possible",
    )
    assert day.count() == before


def test_closed_wins_over_duplicate() -> None:
    day = Day()
    day.advance_to("medication_review")
    day.step("cancelled", -78)
    before = day.count()

    second_check_in = refusal(day.record("front_desk", "check_in", -75))

    assert second_check_in.kind == "closed"
    assert day.count() == before


def test_duplicate_shows_once_the_case_is_reopened() -> None:
    day = Day()
    day.advance_to("medication_review")
    cancel_id = day.step("cancelled", -78)
    day.void("nurse", cancel_id, -77)
    before = day.count()

    second_check_in = refusal(day.record("front_desk", "check_in", -75))

    assert second_check_in.kind == "duplicate"
    assert second_check_in.messages == (
        "Check-in is already recorded (at 06:30); amend it instead",
    )
    assert day.count() == before


def test_duplicate_wins_over_gate() -> None:
    day = Day()
    day.advance_to("medication_review")
    before = day.count()

    # Back-charted before check-in (-90): its gate fails too, but it is a second `once`.
    second_review = refusal(day.record("nurse", "medication_review", -70, occurred_at=-95))

    assert second_review.kind == "duplicate"
    assert second_review.messages == (
        "Medication review is already recorded (at 06:40); amend it instead",
    )
    assert day.count() == before


def test_gate_alone_when_nothing_else_fails() -> None:
    day = Day()
    day.advance_to("check_in")
    before = day.count()

    first_review_before_check_in = refusal(
        day.record("nurse", "medication_review", -80, occurred_at=-95)
    )

    assert first_review_before_check_in.kind == "gate"
    assert first_review_before_check_in.messages == ("Check-in not done",)
    assert day.count() == before


def test_role_wins_over_gate_for_an_unlisted_role() -> None:
    day = Day()
    day.advance_to("check_in")
    before = day.count()

    result = refusal(day.record("nurse", "time_out", -80))

    assert result.kind == "role"
    assert day.count() == before


def test_unknown_step_is_invalid_for_any_role() -> None:
    day = Day()
    before = day.count()

    result = refusal(day.record("viewer", "teleport", -90, {}))

    assert result.kind == "invalid"
    assert result.fields == {"step": "unknown step"}
    assert day.count() == before


def test_per_level_duplicate_and_abandoned_level_are_duplicates() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("time_out")
    day.step("level_confirmed", 8, level="T12")
    day.step("level_abandoned", 9, level="L1")
    before = day.count()

    again = refusal(
        day.record("proceduralist", "level_confirmed", 10, data_for("level_confirmed", "T12"))
    )
    abandoned = refusal(
        day.record("proceduralist", "level_confirmed", 10, data_for("level_confirmed", "L1"))
    )
    abandoned_twice = refusal(
        day.record("proceduralist", "level_abandoned", 10, data_for("level_abandoned", "L1"))
    )

    assert (again.kind, again.messages) == (
        "duplicate",
        ("Level confirmed is already recorded for T12; amend it instead",),
    )
    assert (abandoned.kind, abandoned.messages) == (
        "duplicate",
        ("Level L1 was abandoned; Level confirmed cannot be recorded for it",),
    )
    assert (abandoned_twice.kind, abandoned_twice.messages) == (
        "duplicate",
        ("Level abandoned is already recorded for L1; amend it instead",),
    )
    assert day.count() == before
