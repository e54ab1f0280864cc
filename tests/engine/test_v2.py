"""Kyphoplasty 2.0 in the engine: the safety net 1.0 was not (tests room).

Each test names the row of the specification's "What changed from 1.0" it holds, and
where a 1.0 case behaves differently on the same entries, checks that too: 1.0 cases keep
1.0 behaviour for ever.
"""

from __future__ import annotations

from typing import Any

import pytest

from daycase.engine.events import EventAmended, StepRecorded
from daycase.engine.load import builtin_pathway
from daycase.engine.rules.medicines import texts_match
from tests.engine.builders import SECOND, VITALS, Day, data_for, refusal

V2 = builtin_pathway("kyphoplasty", "2.0")
NAMES = V2.medicines.names


def recovered(day: Day, arrival: float, *, until: float = 60) -> None:
    """Recovery charted on time up to `arrival + until`: vitals every 15 min, neuro every
    30, scores, consult, order and ride; everything the discharge gate asks for."""
    for m in range(0, int(until) + 1, 15):
        day.step("pacu_vitals", arrival + m)
    for m in range(0, int(until) + 1, 30):
        day.step("neuro_check", arrival + m)
    day.step("aldrete_score", arrival + 40)
    day.step("padss_score", arrival + 45)
    day.step("discharge_consult", arrival + 46)
    day.step("discharge_order", arrival + 47)
    day.step("transport_confirmed", arrival + 48)


# ------------------------------------------------------------ the discharge gate


def test_the_reviews_unsafe_discharge_is_refused_with_each_reason_then_overridden() -> None:
    """No recovery vitals, new weakness in both legs and a bladder change, a major cement
    leak into the spinal canal, warning signs never explained: 1.0 let a nurse discharge
    this patient; 2.0 refuses and names each reason, and only a physician may override."""
    day = Day(version="2.0")
    day.advance_to("balloon_removed")
    day.step("cement_injected", 20, level="L1", leakage="major", leakage_site="epidural")
    arrival = day.advance_to("pacu_arrival", skip={"cement_injected"})
    day.step(
        "neuro_check",
        arrival + 10,
        leg_strength="reduced_both",
        leg_sensation="normal",
        bladder_bowel="abnormal",
    )
    day.step("aldrete_score", arrival + 40)
    day.step("padss_score", arrival + 45)
    day.step("discharge_consult", arrival + 46, warning_signs_explained=False)
    day.step("discharge_order", arrival + 47)
    day.step("transport_confirmed", arrival + 48)

    refused = refusal(day.record("nurse", "discharged", arrival + 61))
    assert refused.kind == "gate"
    said = "\n".join(refused.messages)
    assert "Discharge consult: warning signs not explained" in said
    assert "No recovery vitals recorded" in said
    assert "Active alert: New neurological deficit" in said
    assert "Active alert: Cement leakage: major; site epidural at L1" in said
    assert "Active alert: Recovery vitals overdue" in said

    reason = "Reviewed with the spine surgeon; admitted to the ward is not possible here"
    done = day.ok("proceduralist", "discharged", arrival + 62, override_reason=reason)
    assert done.override is True
    assert day.evaluate(arrival + 62).phase == "discharged"


def test_the_same_day_on_1_0_is_discharged_by_a_nurse_without_any_override() -> None:
    """What the review found: 1.0 keeps exactly this, for the cases opened on it."""
    day = Day(version="1.0")
    day.advance_to("balloon_removed")
    day.step("cement_injected", 20, level="L1", leakage="major", leakage_site="epidural")
    arrival = day.advance_to("pacu_arrival", skip={"cement_injected"})
    day.step("neuro_check", arrival + 10, leg_strength="reduced_both", bladder_bowel="abnormal")
    day.step("aldrete_score", arrival + 40)
    day.step("padss_score", arrival + 45)
    day.step("discharge_consult", arrival + 46, warning_signs_explained=False)
    day.step("transport_confirmed", arrival + 48)
    assert day.ok("nurse", "discharged", arrival + 61).override is False


def test_an_uneventful_recovery_is_discharged_at_60_minutes_not_before() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    recovered(day, arrival)
    early = refusal(day.record("nurse", "discharged", arrival + 60 - SECOND))
    assert early.messages == ("In recovery for 59 min; 1 more minute needed",)
    assert day.ok("nurse", "discharged", arrival + 60).override is False


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("discharge_order", "No discharge order from a physician"),
        ("transport_confirmed", "Ride home confirmed not done"),
    ],
)
def test_each_missing_discharge_step_is_named(missing: str, message: str) -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    for m in (0, 15, 30, 45, 60):
        day.step("pacu_vitals", arrival + m)
    for m in (0, 30, 60):
        day.step("neuro_check", arrival + m)
    for step in ("aldrete_score", "padss_score", "discharge_consult", "discharge_order"):
        day.step(step, arrival + 40)
    if missing != "transport_confirmed":
        day.step("transport_confirmed", arrival + 41)
    if missing == "discharge_order":
        day.void("proceduralist", day.ids["discharge_order"], arrival + 42)
    assert refusal(day.record("nurse", "discharged", arrival + 61)).messages == (message,)


def test_a_1_0_style_recovery_is_refused_in_2_0() -> None:
    """Last vitals 58 min after arrival and discharge 20 min later: the set taken before
    the 60-minute mark was due again 15 min later, so vitals are overdue at 78."""
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    for m in (0, 15, 30, 45, 58):
        day.step("pacu_vitals", arrival + m)
    for m in (0, 30, 58):
        day.step("neuro_check", arrival + m)
    for step in ("aldrete_score", "padss_score", "discharge_consult", "discharge_order"):
        day.step(step, arrival + 50)
    day.step("transport_confirmed", arrival + 51)
    refused = refusal(day.record("nurse", "discharged", arrival + 78))
    assert refused.messages == ("Active alert: Recovery vitals overdue: 20 min since the last set",)


# ------------------------------------------------------------ timers that persist


def test_vitals_overdue_stays_until_the_next_set_and_its_interval_follows_the_last_set() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    day.step("pacu_vitals", arrival + 40)
    day.observe(55, 55 + SECOND, 60, 70, 89, since=arrival)
    day.step("pacu_vitals", arrival + 90)
    day.observe(90, 119, 120, 120 + SECOND, since=arrival)
    overdue = [(m, "vitals_overdue" in codes) for m, _, codes in day.log]
    assert overdue == [
        (55, False),  # exactly 15 min is on time
        (55 + SECOND, True),
        (60, True),  # 1.0 cleared at the 60-minute mark; 2.0 does not
        (70, True),
        (89, True),
        (90, False),  # the next set ends it
        (119, False),
        (120, False),  # taken after the first hour: 30 min interval
        (120 + SECOND, True),
    ]
    assert day.evaluate(arrival + 70).steps["pacu_vitals"] == "overdue"


def test_on_1_0_the_same_entries_clear_the_alert_at_the_60_minute_mark() -> None:
    day = Day(version="1.0")
    arrival = day.advance_to("pacu_arrival")
    day.step("pacu_vitals", arrival + 40)
    assert "vitals_overdue" in day.active(arrival + 56)
    assert "vitals_overdue" not in day.active(arrival + 61)


def test_neuro_overdue_after_30_minutes_and_the_step_shows_overdue() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    day.step("pacu_vitals", arrival)
    assert "neuro_overdue" not in day.active(arrival + 30)
    assert "neuro_overdue" in day.active(arrival + 30 + SECOND)
    assert day.evaluate(arrival + 31).steps["neuro_check"] == "overdue"
    day.step("neuro_check", arrival + 31)
    assert "neuro_overdue" not in day.active(arrival + 61)
    assert "neuro_overdue" in day.active(arrival + 61 + SECOND)


# ------------------------------------------------------------ pre-procedure safety


@pytest.mark.parametrize(
    ("hours", "held"),
    [(72, True), (71, False), (72 - SECOND / 60, False)],
)
def test_apixaban_is_held_from_72_hours_before_the_scheduled_start(
    hours: float, held: bool
) -> None:
    day = Day(version="2.0")
    dose = day_start_minus_hours(hours)
    day.step("check_in", -90)
    day.step(
        "medication_review",
        -80,
        antithrombotics=[{"drug": "apixaban", "last_dose_at": dose}],
    )
    assert ("antithrombotic_not_held" in day.active(-79)) is not held


def day_start_minus_hours(hours: float) -> str:
    from datetime import timedelta

    from tests.engine.builders import START

    return (START - timedelta(hours=hours)).isoformat()


def test_the_incision_names_each_active_safety_alert_and_the_override_ends_them() -> None:
    day = Day(version="2.0")
    day.step("check_in", -90)
    day.step("preop_vitals", -85, temperature_c=38.2)
    day.step(
        "medication_review",
        -80,
        allergies=["Betadine", "co"],
        antithrombotics=[
            {"drug": "warfarin", "last_dose_at": day_start_minus_hours(30)},
            {"drug": "aspirin_secondary_prevention", "last_dose_at": day_start_minus_hours(2)},
        ],
    )
    day.advance_to("level_confirmed", skip={"check_in", "preop_vitals", "medication_review"})
    refused = refusal(day.record("proceduralist", "incision", 13))
    assert refused.kind == "gate"
    assert sorted(refused.messages) == sorted(
        [
            "Allergy to a material the procedure uses: skin preparation",
            "Blood thinner not held: warfarin, 30 h since the last dose, 120 h needed",
            "Fever before the procedure: temperature 38.2 °C (38.0 or more)",
            "No INR result while on warfarin: record the blood tests",
        ]
    )
    cut = day.ok("proceduralist", "incision", 14, override_reason="Plan confirmed with the team")
    assert cut.override is True
    ended = {a.code: a.ended_at for a in day.evaluate(20).alerts}
    assert set(ended) >= {"antithrombotic_not_held", "inr_missing", "preop_fever"}
    assert all(ended[c] == cut.at for c in ("antithrombotic_not_held", "preop_fever"))


def test_other_blood_thinner_always_asks_to_confirm_the_plan() -> None:
    day = Day(version="2.0")
    day.step("check_in", -90)
    day.step(
        "medication_review",
        -80,
        antithrombotics=[{"drug": "other", "last_dose_at": day_start_minus_hours(400)}],
    )
    alert = next(a for a in day.evaluate(-79).alerts if a.code == "antithrombotic_not_held")
    assert "confirm the plan" in alert.message


def test_a_last_dose_later_than_the_review_is_invalid() -> None:
    day = Day(version="2.0")
    day.step("check_in", -90)
    refused = refusal(
        day.record(
            "nurse",
            "medication_review",
            -80,
            data_for(
                "medication_review",
                version="2.0",
                antithrombotics=[{"drug": "apixaban", "last_dose_at": day_start_minus_hours(1)}],
            ),
        )
    )
    assert refused.fields == {
        "antithrombotics[0].last_dose_at": "must not be later than the time of this entry"
    }


def test_imaging_review_is_required_and_gates_the_time_out() -> None:
    day = Day(version="2.0")
    day.advance_to("site_prepped", skip={"imaging_review"})
    refused = refusal(day.record("proceduralist", "time_out", 7))
    assert refused.messages == ("Imaging review not done",)
    assert day.evaluate(7).steps["imaging_review"] == "due"


def test_a_mismatch_on_imaging_is_its_own_alert_and_wrong_level_is_for_the_room() -> None:
    day = Day(("L1",), version="2.0")
    day.step("check_in", -90)
    day.step("imaging_review", -60, levels_confirmed=["L1", "L2"])
    assert day.active(-59) == ["imaging_level_mismatch"]


# ------------------------------------------------------------ matching names


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("PCN", "pcn", True),
        ("PCN allergy", "pcn", True),
        ("allergic to pcn", "pcn", True),
        ("co", "cefazolin", False),
        ("IV", "cefazolin 2 g IV", False),
        ("G", "cefazolin 2 g", False),
        ("Ancef", "ancef", True),
        ("cephalosporins", "cephalosporin", True),
        ("cefazolin 2 g", "cefazolin", True),
        ("", "cefazolin", False),
    ],
)
def test_texts_match_as_the_spec_says(a: str, b: str, same: bool) -> None:
    assert texts_match(a, b, NAMES) is same


@pytest.mark.parametrize(
    ("allergy", "raised"),
    [("Ancef", True), ("cephalosporins", True), ("penicillin", False), ("co", False)],
)
def test_antibiotic_allergy_by_class(allergy: str, raised: bool) -> None:
    day = Day(version="2.0")
    day.step("check_in", -90)
    day.step("medication_review", -80, allergies=[allergy])
    day.step("antibiotic_given", -30, drug="cefazolin 2 g")
    assert ("antibiotic_allergy" in day.active(-29)) is raised


def test_a_vancomycin_brand_gets_the_120_minute_window() -> None:
    day = Day(version="2.0")
    day.advance_to("medication_review")
    day.step("antibiotic_given", -75, drug="Vancocin 1 g", dose_mg=1000)
    day.advance_to("level_confirmed", skip={"antibiotic_given"})
    day.step("incision", 13)  # 88 min after the vancomycin
    assert "antibiotic_timing" not in day.active(14)


# ------------------------------------------------------------ severities and leaks


@pytest.mark.parametrize(
    ("leakage", "site", "blocks"),
    [
        ("minor", "paravertebral", False),
        ("minor", "disc", False),
        ("minor", "other", False),
        ("minor", "epidural", True),
        ("minor", "foraminal", True),
        ("minor", "venous", True),
        ("major", "paravertebral", True),
    ],
)
def test_leak_severity_by_site_decides_the_discharge(leakage: str, site: str, blocks: bool) -> None:
    day = Day(version="2.0")
    day.advance_to("balloon_removed")
    day.step("cement_injected", 20, level="L1", leakage=leakage, leakage_site=site)
    arrival = day.advance_to("pacu_arrival", skip={"cement_injected"})
    recovered(day, arrival)
    result = day.record("nurse", "discharged", arrival + 61)
    assert isinstance(result, StepRecorded) is not blocks, result


def test_a_leak_site_is_required_with_a_leak_and_refused_without_one() -> None:
    day = Day(version="2.0")
    day.advance_to("balloon_removed")
    with_leak = refusal(
        day.record(
            "proceduralist",
            "cement_injected",
            20,
            data_for("cement_injected", "L1", leakage="minor"),
        )
    )
    assert with_leak.fields == {"leakage_site": "is required when leakage is minor or major"}
    without = refusal(
        day.record(
            "proceduralist",
            "cement_injected",
            20,
            data_for("cement_injected", "L1", leakage="none", leakage_site="disc"),
        )
    )
    assert without.fields == {"leakage_site": "must be left out when leakage is none"}


def test_an_alert_keeps_the_highest_severity_it_reached_and_gates_read_the_current_one() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    recovered(day, arrival)
    day.ok("nurse", "pacu_vitals", arrival + 61, {**data_for("pacu_vitals"), "spo2": 85})
    day.ok("nurse", "pacu_vitals", arrival + 62, {**data_for("pacu_vitals"), "spo2": 90})
    alert = next(a for a in day.evaluate(arrival + 63).alerts if a.code == "vitals_out_of_range")
    assert (alert.active, alert.severity, alert.current_severity) == (True, "critical", "warning")
    one = Day(version="1.0")
    arrival = one.advance_to("pacu_arrival")
    one.ok("nurse", "pacu_vitals", arrival + 1, {**data_for("pacu_vitals"), "spo2": 85})
    one.ok("nurse", "pacu_vitals", arrival + 2, {**data_for("pacu_vitals"), "spo2": 90})
    assert [a.severity for a in one.evaluate(arrival + 3).alerts if a.active] == ["warning"]


# ------------------------------------------------------------ phases and corrections


def test_phases_advance_in_order_whatever_is_recorded_early() -> None:
    day = Day(version="2.0")
    day.advance_to("time_out")
    day.ok(
        "proceduralist",
        "discharge_consult",
        8,
        data_for("discharge_consult"),
        override_reason="Talked it through while waiting",
    )
    ev = day.evaluate(9)
    assert (ev.phase, ev.family_word) == ("procedure", "In procedure")
    one = Day(version="1.0")
    one.advance_to("time_out")
    one.ok(
        "proceduralist",
        "discharge_consult",
        8,
        data_for("discharge_consult"),
        override_reason="Talked it through while waiting",
    )
    assert one.evaluate(9).family_word == "Getting ready to go home"


def test_moving_arrival_in_recovery_before_out_of_room_is_refused_unless_overridden() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    target = day.ids["pacu_arrival"]
    moved = refusal(day.amend("nurse", target, arrival + 1, corrected_at=arrival - 8))
    assert (moved.kind, moved.messages) == ("gate", ("Out of room not done",))
    same_time = day.amend("nurse", target, arrival + 1, corrected_at=arrival)
    assert isinstance(same_time, EventAmended)  # the same time is no move: no gate to meet
    assert not same_time.override
    reason = "Out of room was charted late; the patient was in recovery at 08:22"
    done = day.amend(
        "proceduralist", target, arrival + 2, corrected_at=arrival - 8, override_reason=reason
    )
    assert isinstance(done, EventAmended)
    assert done.override
    assert any(e.step == "pacu_arrival" for e in day.evaluate(arrival + 3).overrides)


def test_a_nurse_giving_an_override_reason_on_a_moved_time_is_a_role_refusal() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    moved = refusal(
        day.amend(
            "nurse",
            day.ids["pacu_arrival"],
            arrival + 1,
            corrected_at=arrival - 8,
            override_reason="I am sure",
        )
    )
    assert moved.kind == "role"


def test_a_correction_that_breaks_the_discharge_criteria_is_flagged_for_review() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    recovered(day, arrival)
    day.ok("nurse", "discharged", arrival + 61)
    consult = day.ids["discharge_consult"]
    day.amend("nurse", consult, arrival + 90, data={"warning_signs_explained": False})
    flagged = [
        a for a in day.evaluate(arrival + 91).alerts if a.code == "discharge_criteria_amended"
    ]
    assert [(a.active, a.message) for a in flagged] == [
        (
            True,
            "A correction after discharge means the discharge criteria were not met: "
            "Discharge consult: warning signs not explained",
        )
    ]
    day.amend("nurse", consult, arrival + 100, data={"warning_signs_explained": True})
    assert "discharge_criteria_amended" not in day.active(arrival + 101)


# ------------------------------------------------------------ aftercare


def discharged_day() -> tuple[Day, float]:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    recovered(day, arrival)
    day.ok("nurse", "discharged", arrival + 61)
    return day, arrival + 61


def test_the_next_day_call_has_a_gate_no_override_lifts() -> None:
    day = Day(version="2.0")
    arrival = day.advance_to("pacu_arrival")
    refused = refusal(
        day.record(
            "proceduralist",
            "follow_up_call",
            arrival + 5,
            data_for("follow_up_call", version="2.0"),
            override_reason="calling early",
        )
    )
    assert (refused.kind, refused.messages) == ("gate", ("Patient has not gone home",))


def test_the_call_is_recorded_on_a_closed_case_within_14_days_and_never_late() -> None:
    day, home = discharged_day()
    assert day.ok("nurse", "follow_up_call", home + 20 * 60).step == "follow_up_call"
    assert "late_entry" not in day.active(home + 20 * 60 + 1)
    too_late = refusal(day.record("nurse", "follow_up_call", home + 14 * 24 * 60 + 1))
    assert too_late.fields == {"at": "is more than 14 days after Discharged home"}


def test_a_missed_call_after_36_hours_ends_with_a_call_that_reaches_the_patient() -> None:
    day, home = discharged_day()
    assert "follow_up_call_missed" not in day.active(home + 36 * 60)
    assert "follow_up_call_missed" in day.active(home + 36 * 60 + SECOND)
    day.ok("nurse", "follow_up_call", home + 37 * 60, {"reached": False})
    assert "follow_up_call_missed" in day.active(home + 37 * 60 + 1)
    day.step("follow_up_call", home + 38 * 60)
    assert "follow_up_call_missed" not in day.active(home + 38 * 60 + 1)


@pytest.mark.parametrize(
    "flag",
    [
        {"new_leg_weakness_or_numbness": True},
        {"bladder_or_bowel_problem": True},
        {"breathing_problem_or_chest_pain": True},
        {"fever": True},
        {"action": "emergency_department"},
    ],
)
def test_each_red_flag_on_a_call_is_critical_until_a_later_call_has_none(
    flag: dict[str, Any],
) -> None:
    day, home = discharged_day()
    day.step("follow_up_call", home + 20 * 60, **flag)
    assert "follow_up_red_flag" in day.active(home + 20 * 60 + 1)
    day.ok("nurse", "follow_up_call", home + 21 * 60, {"reached": False})
    assert "follow_up_red_flag" in day.active(home + 21 * 60 + 1)
    day.step("follow_up_call", home + 22 * 60)
    assert "follow_up_red_flag" not in day.active(home + 22 * 60 + 1)


def test_answers_belong_to_a_call_that_reached_the_patient() -> None:
    day, home = discharged_day()
    unreached = refusal(
        day.record("nurse", "follow_up_call", home + 600, {"reached": False, "fever": False})
    )
    assert unreached.fields == {"fever": "must be left out when reached is false"}
    reached = refusal(day.record("nurse", "follow_up_call", home + 600, {"reached": True}))
    assert set(reached.fields) == {
        "new_leg_weakness_or_numbness",
        "bladder_or_bowel_problem",
        "breathing_problem_or_chest_pain",
        "fever",
        "wound_problem",
        "fall",
        "pain_score",
        "antithrombotic_restarted",
        "action",
    }


def test_sedation_needs_consent() -> None:
    day = Day(version="2.0")
    day.step("check_in", -90, consent_signed=False)
    day.step("anesthesia_consult", -70)
    refused = refusal(day.record("nurse", "anxiolytic_given", -60))
    assert refused.messages == ("Consent not signed",)


def test_a_heavy_meal_needs_8_hours() -> None:
    for hours, raised in ((8, False), (8 - SECOND / 60, True)):
        day = Day(version="2.0")
        start = day_start_minus_hours(hours - 3 / 60)  # anesthesia starts at minute 3
        day.step("check_in", -90, last_solids_at=start, last_solids_kind="heavy")
        day.advance_to("anesthesia_start", skip={"check_in"})
        assert ("npo_violation" in day.active(4)) is raised, hours


def test_the_vitals_helper_data_is_in_range() -> None:
    assert VITALS["spo2"] >= 92
