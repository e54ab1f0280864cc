"""Corrections: amendments and voids are new events; the fold uses the corrected values."""

from __future__ import annotations

from daycase.engine.events import EventAmended, EventVoided, StepRecorded
from tests.engine.builders import SECOND, Day, data_for, refusal, t


def vitals_day() -> tuple[Day, str]:
    """A checked-in case with one pre-op vitals set recorded (and happened) at -80."""
    day = Day()
    day.advance_to("check_in")
    return day, day.step("preop_vitals", -80)


def test_amend_merges_data_over_the_original() -> None:
    day, vitals = vitals_day()

    amendment = day.amend("nurse", vitals, -70, data={"heart_rate": 72, "spo2": 99})

    assert isinstance(amendment, EventAmended)
    assert amendment.data == {"heart_rate": 72, "spo2": 99}
    entry = day.state().entries[vitals]
    assert entry.data == data_for("preop_vitals", heart_rate=72, spo2=99)
    assert (entry.amended, entry.at, entry.original_at) == (True, t(-80), t(-80))


def test_amend_keeps_the_original_readable_in_the_history() -> None:
    day, vitals = vitals_day()

    day.amend("nurse", vitals, -70, data={"heart_rate": 72})

    [original] = [e for e in day.events() if e.event_id == vitals]
    assert isinstance(original, StepRecorded)
    assert original.data["heart_rate"] == 74


def test_amend_with_none_removes_an_optional_field() -> None:
    day = Day()
    check_in = day.step("check_in", -90, escort_name="Sam Lane", escort_phone="555-0134")

    day.amend("front_desk", check_in, -80, data={"escort_phone": None})

    data = day.state().entries[check_in].data
    assert "escort_phone" not in data
    assert data["escort_name"] == "Sam Lane"


def test_amend_with_none_on_a_required_field_is_invalid() -> None:
    day = Day()
    check_in = day.step("check_in", -90)
    before = day.count()

    result = refusal(day.amend("front_desk", check_in, -80, data={"consent_signed": None}))

    assert (result.kind, result.fields) == ("invalid", {"consent_signed": "is required"})
    assert day.count() == before


def test_amended_data_is_still_validated() -> None:
    day, vitals = vitals_day()
    before = day.count()

    out_of_range = refusal(day.amend("nurse", vitals, -70, data={"heart_rate": 251}))
    diastolic = refusal(day.amend("nurse", vitals, -70, data={"bp_diastolic": 130}))
    unknown = refusal(day.amend("nurse", vitals, -70, data={"weight_kg": 70}))

    assert (out_of_range.kind, out_of_range.fields) == (
        "invalid",
        {"heart_rate": "must be between 20 and 250 (got 251)"},
    )
    assert (diastolic.kind, diastolic.fields) == (
        "invalid",
        {"bp_diastolic": "must be below Systolic BP (130)"},
    )
    assert (unknown.kind, unknown.fields) == (
        "invalid",
        {"weight_kg": "is not a field of this step"},
    )
    assert day.count() == before


def test_amended_field_condition_is_still_validated() -> None:
    day = Day()
    day.advance_to("anesthesia_start")  # local_sedation, as planned
    start = day.ids["anesthesia_start"]

    refused = refusal(day.amend("anesthesia", start, 5, data={"type": "general"}))
    accepted = day.amend(
        "anesthesia", start, 5, data={"type": "general", "change_reason": "agitated"}
    )

    assert (refused.kind, refused.fields) == (
        "invalid",
        {"change_reason": "is required when the anaesthesia type differs from the consult's plan"},
    )
    assert isinstance(accepted, EventAmended)


def test_amended_at_window_is_measured_from_the_original_recorded_at() -> None:
    day, vitals = vitals_day()  # recorded at -80
    before = day.count()

    # The amendment itself is recorded at -20, but the window is the original's: -80 + 5.
    too_late = refusal(day.amend("nurse", vitals, -20, corrected_at=-75 + SECOND))
    at_limit = day.amend("nurse", vitals, -20, corrected_at=-75)

    assert (too_late.kind, too_late.fields) == (
        "invalid",
        {"at": "is more than 5 min in the future"},
    )
    assert isinstance(at_limit, EventAmended)
    assert day.count() == before + 1
    assert day.state().entries[vitals].at == t(-75)


def test_amended_at_may_not_go_more_than_24_hours_before_the_schedule() -> None:
    day, vitals = vitals_day()

    result = refusal(day.amend("nurse", vitals, -70, corrected_at=-1440 - SECOND))

    assert (result.kind, result.fields) == (
        "invalid",
        {"at": "is more than 24 h before the scheduled start"},
    )


def test_amended_at_does_not_recheck_gates_and_later_entries_stay_valid() -> None:
    day = Day()
    day.advance_to("antibiotic_given")
    review = day.ids["medication_review"]

    moved = day.amend("nurse", review, -20, corrected_at=-95)  # before check-in (-90)

    assert isinstance(moved, EventAmended)
    state = day.state()
    assert state.entries[review].at == t(-95)
    assert [e.step for e in state.step_entries("antibiotic_given")] == ["antibiotic_given"]
    assert day.evaluate(-20).steps["medication_review"] == "done"


def test_amend_by_another_non_correcting_role_is_role() -> None:
    day, vitals = vitals_day()
    before = day.count()

    by_front_desk = refusal(day.amend("front_desk", vitals, -70, data={"heart_rate": 72}))
    void_by_front_desk = refusal(day.void("front_desk", vitals, -70))
    check_in_by_nurse = refusal(
        day.amend("nurse", day.ids["check_in"], -70, data={"escort_name": "Sam"})
    )

    assert by_front_desk.kind == "role"
    assert by_front_desk.messages == (
        "Only a nurse, anaesthesia or proceduralist user may correct this entry",
    )
    assert void_by_front_desk.kind == "role"
    assert check_in_by_nurse.kind == "role"
    assert day.count() == before


def test_amend_and_void_by_anesthesia_or_proceduralist_are_accepted() -> None:
    day, vitals = vitals_day()

    by_proceduralist = day.amend("proceduralist", vitals, -70, data={"heart_rate": 72})
    void_by_anesthesia = day.void("anesthesia", vitals, -69)

    assert isinstance(by_proceduralist, EventAmended)
    assert isinstance(void_by_anesthesia, EventVoided)
    assert day.state().step_entries("preop_vitals") == []


def test_amend_or_void_of_an_unknown_event_is_invalid() -> None:
    day, _ = vitals_day()
    before = day.count()

    amend = refusal(day.amend("nurse", "no-such-id", -70, data={"heart_rate": 72}))
    void = refusal(day.void("nurse", "no-such-id", -70))
    opening = refusal(day.void("nurse", day.events()[0].event_id, -70))

    for result in (amend, void, opening):
        assert (result.kind, result.fields) == ("invalid", {"target": "unknown"})
    assert day.count() == before


def test_amend_or_void_of_a_voided_event_is_invalid() -> None:
    day, vitals = vitals_day()
    day.void("nurse", vitals, -75)
    before = day.count()

    amend = refusal(day.amend("nurse", vitals, -70, data={"heart_rate": 72}))
    void = refusal(day.void("nurse", vitals, -70))

    for result in (amend, void):
        assert (result.kind, result.messages, result.fields) == (
            "invalid",
            ("This entry was already voided",),
            {"target": "voided"},
        )
    assert day.count() == before


def test_reason_is_required_and_an_empty_amendment_is_invalid() -> None:
    day, vitals = vitals_day()
    before = day.count()

    no_reason = refusal(day.amend("nurse", vitals, -70, data={"heart_rate": 72}, reason="  "))
    void_no_reason = refusal(day.void("nurse", vitals, -70, reason=""))
    nothing = refusal(day.amend("nurse", vitals, -70))

    assert (no_reason.kind, no_reason.fields) == ("invalid", {"reason": "is required"})
    assert (void_no_reason.kind, void_no_reason.fields) == ("invalid", {"reason": "is required"})
    assert (nothing.kind, nothing.fields) == (
        "invalid",
        {"data": "give corrected data, a corrected time, or both"},
    )
    assert day.count() == before


def test_amend_creating_a_duplicate_level_is_duplicate() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("level_confirmed")
    before = day.count()

    result = refusal(
        day.amend("proceduralist", day.ids["level_confirmed@T12"], 10, data={"level": "L1"})
    )

    assert (result.kind, result.messages) == (
        "duplicate",
        ("Level confirmed is already recorded for L1; amend it instead",),
    )
    assert day.count() == before


def test_amend_to_an_unplanned_level_where_allowed_raises_wrong_level() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("level_confirmed")
    target = day.ids["level_confirmed@T12"]

    day.amend("proceduralist", target, 10, data={"level": "T11"})

    evaluation = day.evaluate(11)
    assert day.state().entries[target].level == "T11"
    assert [(a.code, a.event_id) for a in evaluation.active_alerts] == [("wrong_level", target)]
    assert evaluation.steps["level_confirmed"] == "due"  # T12 is no longer confirmed


def test_amend_to_an_unplanned_level_where_planned_is_required_is_invalid() -> None:
    day = Day()
    day.advance_to("balloon_inflated")

    result = refusal(
        day.amend("proceduralist", day.ids["balloon_inflated"], 17, data={"level": "L2"})
    )

    assert (result.kind, result.fields) == ("invalid", {"level": "L2 is not a planned level (L1)"})


def test_voiding_a_milestone_moves_the_phase_back() -> None:
    day = Day()
    arrival = day.advance_to("pacu_arrival")

    assert day.evaluate(arrival).phase == "recovery"
    day.void("nurse", day.ids["pacu_arrival"], arrival + 1)
    assert day.evaluate(arrival + 1).phase == "procedure"
    day.void("nurse", day.ids["in_room"], arrival + 2)
    assert day.evaluate(arrival + 2).phase == "pre_op"
    day.void("front_desk", day.ids["check_in"], arrival + 3)
    assert day.evaluate(arrival + 3).phase == "scheduled"


def test_voiding_the_terminal_step_reopens_the_case() -> None:
    day = Day()
    day.advance_to("check_in")
    cancelled = day.step("cancelled", -85)
    assert refusal(day.record("nurse", "preop_vitals", -84)).kind == "closed"

    day.void("nurse", cancelled, -83)

    vitals = day.ok("nurse", "preop_vitals", -82)
    evaluation = day.evaluate(-82)
    assert vitals.step == "preop_vitals"
    assert evaluation.phase == "pre_op"
    assert (evaluation.steps["cancelled"], evaluation.steps["admitted"]) == ("due", "blocked")


def test_amendments_and_voids_are_accepted_after_a_terminal_step() -> None:
    day, vitals = vitals_day()
    day.step("cancelled", -75)

    amend = day.amend("nurse", vitals, -70, data={"heart_rate": 80})
    void = day.void("nurse", day.ids["cancelled"], -69, reason="cancelled the wrong case")

    assert isinstance(amend, EventAmended)
    assert isinstance(void, EventVoided)


def late_entries(day: Day, at_minute: float) -> list[tuple[str, float]]:
    return [
        (a.step, (a.started_at - t(0)).total_seconds() / 60)
        for a in day.evaluate(at_minute).alerts
        if a.code == "late_entry"
    ]


def test_late_entry_needs_more_than_60_minutes_of_back_charting() -> None:
    day = Day()
    day.ok("front_desk", "check_in", -30, occurred_at=-90)  # exactly 60 min late
    day.ok("nurse", "preop_vitals", -20, occurred_at=-80 + SECOND)  # 59 min 59 s late
    day.ok("nurse", "back_assessment", -10, occurred_at=-70 - SECOND)  # 60 min 1 s late

    assert late_entries(day, 0) == [("back_assessment", -70 - SECOND)]


def test_late_entry_is_not_raised_by_amendments() -> None:
    day, vitals = vitals_day()

    day.amend("nurse", vitals, 60, data={"heart_rate": 80})  # 140 min after the event
    day.amend("nurse", vitals, 61, corrected_at=-200)  # moves the event 120 min earlier
    day.void("nurse", vitals, 62)
    day.step("back_assessment", 63)

    assert late_entries(day, 64) == []


def test_alert_caused_by_a_voided_entry_ends_and_stays_in_the_history() -> None:
    day, _ = vitals_day()
    low_spo2 = day.step("preop_vitals", -78, spo2=90)
    assert day.active(-77) == ["vitals_out_of_range"]

    day.void("nurse", low_spo2, -70)

    assert day.active(-60) == []
    assert day.spans("vitals_out_of_range", -60) == [(-78, -70, "warning")]


def test_alert_amended_away_ends_and_stays_in_the_history() -> None:
    day, _ = vitals_day()
    low_spo2 = day.step("preop_vitals", -78, spo2=90)

    day.amend("nurse", low_spo2, -70, data={"spo2": 96})

    assert day.active(-60) == []
    assert day.spans("vitals_out_of_range", -60) == [(-78, -70, "warning")]
