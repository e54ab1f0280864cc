"""Field validation: a 422 naming the field, nothing stored, never lifted by an override."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from tests.engine.builders import Day, data_for, refusal, role_of

VITALS_MIN = -80


def checked_in() -> Day:
    day = Day()
    day.advance_to("check_in")
    return day


def invalid_fields(
    day: Day, step: str, at_minute: float, data: Any, role: str = ""
) -> dict[str, str]:
    """The field problems of a refused entry; asserts it was `invalid` and stored nothing."""
    before = day.count()
    result = refusal(day.record(role or role_of(step), step, at_minute, data))
    assert result.kind == "invalid", result
    assert day.count() == before
    return result.fields


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"heart_rate": True}, {"heart_rate": "must be a number"}, id="bool-as-number"),
        pytest.param({"heart_rate": "72"}, {"heart_rate": "must be a number"}, id="numeric-string"),
        pytest.param({"pain_score": 3.5}, {"pain_score": "must be a whole number"}, id="int-3.5"),
        pytest.param({"pain_score": True}, {"pain_score": "must be a whole number"}, id="bool-int"),
        pytest.param({"pain_score": "3"}, {"pain_score": "must be a whole number"}, id="str-int"),
        pytest.param(
            {"temperature_c": math.nan}, {"temperature_c": "must be a finite number"}, id="nan"
        ),
        pytest.param(
            {"temperature_c": math.inf}, {"temperature_c": "must be a finite number"}, id="inf"
        ),
        pytest.param(
            {"weight_kg": 70}, {"weight_kg": "is not a field of this step"}, id="unknown-field"
        ),
        pytest.param({"spo2": None}, {"spo2": "is required"}, id="missing-as-null"),
        pytest.param(
            {"heart_rate": 19.9},
            {"heart_rate": "must be between 20 and 250 (got 19.9)"},
            id="below-min",
        ),
        pytest.param(
            {"heart_rate": 250.1},
            {"heart_rate": "must be between 20 and 250 (got 250.1)"},
            id="above-max",
        ),
        pytest.param(
            {"bp_systolic": 120, "bp_diastolic": 120},
            {"bp_diastolic": "must be below Systolic BP (120)"},
            id="diastolic-equal-systolic",
        ),
        pytest.param(
            {"bp_systolic": 120, "bp_diastolic": 130},
            {"bp_diastolic": "must be below Systolic BP (120)"},
            id="diastolic-above-systolic",
        ),
    ],
)
def test_preop_vitals_field_is_refused(changes: dict[str, Any], fields: dict[str, str]) -> None:
    day = checked_in()

    fields_got = invalid_fields(
        day, "preop_vitals", VITALS_MIN, data_for("preop_vitals", **changes)
    )

    assert fields_got == fields


def test_missing_field_is_refused() -> None:
    day = checked_in()
    data = data_for("preop_vitals")
    del data["resp_rate"]

    assert invalid_fields(day, "preop_vitals", VITALS_MIN, data) == {"resp_rate": "is required"}


@pytest.mark.parametrize("heart_rate", [20, 250, 20.0, 250.0, 72.5])
def test_bounds_are_inclusive(heart_rate: float) -> None:
    day = checked_in()

    entry = day.ok(
        "nurse", "preop_vitals", VITALS_MIN, data_for("preop_vitals", heart_rate=heart_rate)
    )

    assert entry.data["heart_rate"] == heart_rate


def test_integer_is_accepted_where_a_number_is_expected() -> None:
    day = checked_in()

    entry = day.ok(
        "nurse", "preop_vitals", VITALS_MIN, data_for("preop_vitals", temperature_c=37, spo2=96)
    )

    assert (entry.data["temperature_c"], entry.data["spo2"]) == (37, 96)


def test_diastolic_just_below_systolic_is_accepted() -> None:
    day = checked_in()

    day.ok(
        "nurse",
        "preop_vitals",
        VITALS_MIN,
        data_for("preop_vitals", bp_systolic=120, bp_diastolic=119),
    )


def test_unknown_field_inside_a_list_item_is_named_with_its_path() -> None:
    day = checked_in()
    medications = [
        {"name": "alendronate", "kind": "prescription"},
        {"name": "warfarin", "kind": "prescription", "dose_mg": 5},
    ]

    fields = invalid_fields(
        day, "medication_review", -80, data_for("medication_review", medications=medications)
    )

    assert fields == {"medications[1].dose_mg": "is not a field of this step"}


def test_list_item_problems_are_named_with_their_path() -> None:
    day = checked_in()
    medications = [{"name": "  ", "kind": "herbal"}, {"kind": "otc"}]

    fields = invalid_fields(
        day, "medication_review", -80, data_for("medication_review", medications=medications)
    )

    assert fields == {
        "medications[0].name": "must not be empty",
        "medications[0].kind": "must be one of prescription, otc, supplement",
        "medications[1].name": "is required",
    }


def test_enum_outside_its_values_is_refused() -> None:
    day = checked_in()

    fields = invalid_fields(
        day, "back_assessment", -75, data_for("back_assessment", leg_strength="weak")
    )

    assert fields == {
        "leg_strength": "must be one of normal, reduced_left, reduced_right, reduced_both"
    }


def test_empty_text_after_trimming_is_refused_and_text_is_stored_trimmed() -> None:
    day = checked_in()
    day.step("medication_review", -80)

    empty = invalid_fields(day, "antibiotic_given", -30, data_for("antibiotic_given", drug=" \t "))
    given = day.ok(
        "nurse", "antibiotic_given", -30, data_for("antibiotic_given", drug=" cefazolin ")
    )

    assert empty == {"drug": "must not be empty"}
    assert given.data["drug"] == "cefazolin"


@pytest.mark.parametrize(
    "value",
    ["2026-11-25T22:00:00", "2026-11-25", datetime(2026, 11, 25, 22, 0), "last night", 1700000000],
)
def test_time_in_data_must_carry_a_timezone(value: object) -> None:
    day = Day()

    fields = invalid_fields(day, "check_in", -90, data_for("check_in", last_solids_at=value))

    assert fields == {
        "last_solids_at": "must be a date and time with a timezone, e.g. 2026-11-26T07:30:00-05:00"
    }


def test_time_in_data_has_no_window() -> None:
    day = Day()

    entry = day.ok(
        "front_desk",
        "check_in",
        -90,
        data_for("check_in", last_solids_at="2026-11-20T22:00:00Z", escort_name="  Sam "),
    )

    assert entry.data["last_solids_at"] == "2026-11-20T22:00:00+00:00"
    assert entry.data["escort_name"] == "Sam"


def test_must_be_true_boolean_is_validation_and_false_consent_is_accepted() -> None:
    day = Day()

    fields = invalid_fields(day, "check_in", -90, data_for("check_in", identity_confirmed=False))
    entry = day.ok("front_desk", "check_in", -90, data_for("check_in", consent_signed=False))

    assert fields == {"identity_confirmed": "must be true"}
    assert entry.data["consent_signed"] is False


def anesthesia_ready() -> Day:
    day = Day()
    day.advance_to("in_room")  # the consult planned local_sedation
    return day


def test_anesthesia_type_differing_from_plan_needs_change_reason() -> None:
    day = anesthesia_ready()

    fields = invalid_fields(day, "anesthesia_start", 3, {"type": "general"})
    blank = invalid_fields(day, "anesthesia_start", 3, {"type": "general", "change_reason": " "})
    overridden = refusal(
        day.record("proceduralist", "anesthesia_start", 3, {"type": "general"}, override_reason="x")
    )

    assert fields == {
        "change_reason": "is required when the anaesthesia type differs from the consult's plan"
    }
    assert blank == fields  # a blank optional text is simply not given
    assert overridden.kind == "invalid"


def test_anesthesia_type_differing_from_plan_with_change_reason_is_accepted() -> None:
    day = anesthesia_ready()

    entry = day.ok(
        "anesthesia", "anesthesia_start", 3, {"type": "general", "change_reason": "agitated"}
    )

    assert entry.data == {"type": "general", "change_reason": "agitated"}


def test_anesthesia_type_matching_the_plan_needs_no_reason() -> None:
    day = anesthesia_ready()

    day.ok("anesthesia", "anesthesia_start", 3, {"type": "local_sedation"})


def sign_out_ready(*, biopsy: bool) -> Day:
    day = Day()
    day.advance_to("trocar_placed")
    if biopsy:
        day.step("biopsy_taken", 15, level="L1")
    for minute, step in [
        (16, "balloon_inflated"),
        (18, "balloon_removed"),
        (20, "cement_injected"),
    ]:
        day.step(step, minute, level="L1")
    day.step("final_imaging", 21)
    day.step("dressing_applied", 22)
    return day


def test_specimens_not_labelled_without_a_biopsy_is_accepted() -> None:
    day = sign_out_ready(biopsy=False)

    day.ok("nurse", "sign_out", 23, data_for("sign_out", specimens_labelled=False))


def test_specimens_not_labelled_after_a_biopsy_is_refused() -> None:
    day = sign_out_ready(biopsy=True)

    fields = invalid_fields(day, "sign_out", 23, data_for("sign_out", specimens_labelled=False))
    overridden = refusal(
        day.record(
            "proceduralist",
            "sign_out",
            23,
            data_for("sign_out", specimens_labelled=False),
            override_reason="labels printing",
        )
    )

    assert fields == {"specimens_labelled": "must be true when a biopsy was taken"}
    assert overridden.kind == "invalid"


def after_incision() -> Day:
    day = Day()
    day.advance_to("trocar_placed")
    return day


@pytest.mark.parametrize(
    "step", ["balloon_inflated", "balloon_removed", "biopsy_taken", "level_abandoned"]
)
def test_planned_level_steps_refuse_an_unplanned_level(step: str) -> None:
    day = after_incision()

    fields = invalid_fields(day, step, 15, data_for(step, "L2"))

    assert fields == {"level": "L2 is not a planned level (L1)"}


@pytest.mark.parametrize("step", ["level_confirmed", "trocar_placed"])
def test_unplanned_level_is_accepted_where_allowed_and_raises_wrong_level(step: str) -> None:
    day = after_incision()

    entry = day.ok("proceduralist", step, 15, data_for(step, "L2"))

    assert entry.level == "L2"
    wrong = [a for a in day.evaluate(16).alerts if a.code == "wrong_level"]
    assert [(a.severity, a.active, a.event_id, a.step) for a in wrong] == [
        ("critical", True, entry.event_id, step)
    ]


@pytest.mark.parametrize(
    ("level", "problem"),
    [
        ("L6", "must be a vertebral level such as T12 or L1"),
        ("l1", "must be a vertebral level such as T12 or L1"),
        (1, "must be a vertebral level such as T12 or L1"),
        (None, "is required"),
    ],
)
def test_bad_or_missing_level_is_refused(level: object, problem: str) -> None:
    day = after_incision()
    data: dict[str, Any] = {"method": "fluoroscopy"}
    if level is not None:
        data["level"] = level

    assert invalid_fields(day, "level_confirmed", 15, data) == {"level": problem}


def test_data_that_is_not_an_object_is_refused() -> None:
    day = checked_in()

    assert invalid_fields(day, "preop_vitals", VITALS_MIN, [1, 2]) == {"data": "must be an object"}
