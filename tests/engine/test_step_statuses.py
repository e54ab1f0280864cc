"""Step statuses at a clock time: due, blocked, done, not_needed, skipped, overdue."""

from __future__ import annotations

from tests.engine.builders import SECOND, Day, by_status, data_for

OPTIONAL = [
    "anxiolytic_given",
    "biopsy_taken",
    "blood_tests",
    "complication",
    "imaging_review",
    "intraop_vitals",
    "level_abandoned",
]


def test_a_new_case() -> None:
    day = Day()

    steps = day.evaluate(-120).steps

    assert by_status(steps, "due") == ["cancelled", "check_in"]
    assert by_status(steps, "not_needed") == OPTIONAL
    assert by_status(steps, "done") == []
    assert by_status(steps, "skipped") == []
    assert by_status(steps, "overdue") == []
    assert set(by_status(steps, "blocked")) >= {
        "preop_vitals",
        "level_confirmed",
        "balloon_inflated",
        "discharged",
        "admitted",
    }


def test_after_check_in() -> None:
    day = Day()
    day.step("check_in", -90)

    statuses = day.statuses(
        -89,
        [
            "check_in",
            "preop_vitals",
            "medication_review",
            "back_assessment",
            "anesthesia_consult",
            "antibiotic_given",
            "sign_in",
            "anxiolytic_given",
        ],
    )

    assert statuses == {
        "check_in": "done",
        "preop_vitals": "due",
        "medication_review": "due",
        "back_assessment": "due",
        "anesthesia_consult": "due",
        "antibiotic_given": "blocked",
        "sign_in": "blocked",
        "anxiolytic_given": "not_needed",
    }


def test_gate_status_follows_the_clock_for_a_back_charted_entry() -> None:
    day = Day()
    day.ok("front_desk", "check_in", -60, occurred_at=-90)

    assert day.statuses(-95, ["check_in", "preop_vitals"]) == {
        "check_in": "done",
        "preop_vitals": "blocked",
    }
    assert day.statuses(-90, ["preop_vitals"]) == {"preop_vitals": "due"}


def test_repeat_step_is_done_after_its_first_entry_and_never_due_again() -> None:
    day = Day()
    day.advance_to("preop_vitals")

    assert day.statuses(-84, ["preop_vitals"]) == {"preop_vitals": "done"}
    assert day.statuses(600, ["preop_vitals"]) == {"preop_vitals": "done"}


def test_optional_step_is_done_once_recorded() -> None:
    day = Day()
    day.advance_to("check_in")
    day.step("blood_tests", -80)

    assert day.statuses(-80, ["blood_tests", "imaging_review"]) == {
        "blood_tests": "done",
        "imaging_review": "not_needed",
    }


def test_consent_not_signed_blocks_sign_in() -> None:
    day = Day()
    day.ok("front_desk", "check_in", -90, data_for("check_in", consent_signed=False))
    for step, minute in [("medication_review", -80), ("anesthesia_consult", -70)]:
        day.step(step, minute)

    assert day.statuses(-60, ["sign_in"]) == {"sign_in": "blocked"}


PER_LEVEL = [
    "level_confirmed",
    "trocar_placed",
    "balloon_inflated",
    "balloon_removed",
    "cement_injected",
    "biopsy_taken",
    "level_abandoned",
    "incision",
    "final_imaging",
]


def test_per_level_steps_with_two_levels() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("time_out")
    before_levels = day.statuses(7, PER_LEVEL)
    day.step("level_confirmed", 8, level="T12")
    one_level = day.statuses(8, PER_LEVEL)
    day.step("level_confirmed", 9, level="L1")
    day.step("incision", 10)
    day.step("trocar_placed", 11, level="T12")
    one_trocar = day.statuses(11, PER_LEVEL)

    assert before_levels == {
        "level_confirmed": "due",
        "trocar_placed": "blocked",
        "balloon_inflated": "blocked",
        "balloon_removed": "blocked",
        "cement_injected": "blocked",
        "biopsy_taken": "not_needed",
        "level_abandoned": "not_needed",
        "incision": "blocked",
        "final_imaging": "blocked",
    }
    assert one_level == {**before_levels, "level_confirmed": "due"}
    assert one_trocar == {
        **before_levels,
        "level_confirmed": "done",
        "incision": "done",
        "trocar_placed": "due",  # L1 still to do
        "balloon_inflated": "due",  # T12's trocar is in
    }


def test_per_level_steps_with_an_abandoned_level() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("time_out")
    day.step("level_confirmed", 8, level="T12")
    day.step("level_abandoned", 9, level="L1", reason="cannot see the pedicle")
    day.step("incision", 10)
    for minute, step in enumerate(
        ["trocar_placed", "balloon_inflated", "balloon_removed", "cement_injected"], start=11
    ):
        day.step(step, minute, level="T12")
    day.step("biopsy_taken", 15, level="T12")

    statuses = day.statuses(16, PER_LEVEL)

    assert statuses == {
        "level_confirmed": "done",
        "trocar_placed": "done",
        "balloon_inflated": "done",
        "balloon_removed": "done",
        "cement_injected": "done",
        "biopsy_taken": "done",  # optional per level: done when any level has it
        "level_abandoned": "done",
        "incision": "done",
        "final_imaging": "due",  # every level not abandoned has cement
    }


def test_wrong_level_entry_does_not_complete_a_planned_level() -> None:
    day = Day()
    day.advance_to("time_out")
    day.ok("proceduralist", "level_confirmed", 8, data_for("level_confirmed", "L2"))

    assert day.statuses(9, ["level_confirmed", "incision"]) == {
        "level_confirmed": "due",
        "incision": "blocked",
    }


def test_pacu_vitals_overdue_even_when_done_before() -> None:
    day = Day()
    a = day.advance_to("pacu_arrival")
    day.step("aldrete_score", a + 5)
    day.step("pacu_vitals", a + 10)

    assert day.statuses(a + 25, ["pacu_vitals"]) == {"pacu_vitals": "done"}
    assert day.statuses(a + 25 + SECOND, ["pacu_vitals"]) == {"pacu_vitals": "overdue"}
    assert day.statuses(a + 15, ["pacu_vitals"]) == {"pacu_vitals": "done"}
    assert day.statuses(a + 16, ["neuro_check"]) == {"neuro_check": "due"}
    assert "pacu_vitals" in day.evaluate(a + 26).next_due


def test_pacu_vitals_overdue_before_any_set() -> None:
    day = Day()
    a = day.advance_to("pacu_arrival")

    assert day.statuses(a + 15, ["pacu_vitals"]) == {"pacu_vitals": "due"}
    assert day.statuses(a + 16, ["pacu_vitals"]) == {"pacu_vitals": "overdue"}


TERMINALS = ["discharged", "admitted", "cancelled"]


def test_terminal_steps_are_due_or_blocked_by_their_gates_until_the_case_closes() -> None:
    day = Day()
    day.advance_to("sign_in")
    assert day.statuses(-39, TERMINALS) == {
        "discharged": "blocked",
        "admitted": "blocked",
        "cancelled": "due",
    }
    day.advance_to("incision")
    assert day.statuses(14, TERMINALS) == {
        "discharged": "blocked",
        "admitted": "due",
        "cancelled": "blocked",
    }


def discharge_ready() -> tuple[Day, float]:
    day = Day()
    a = day.advance_to("pacu_arrival")
    for step, minute in [
        ("pacu_vitals", 5),
        ("neuro_check", 6),
        ("aldrete_score", 10),
        ("pacu_vitals", 20),
        ("padss_score", 30),
        ("discharge_consult", 31),
        ("transport_confirmed", 32),
        ("pacu_vitals", 35),
        ("pacu_vitals", 50),
    ]:
        day.step(step, a + minute)
    return day, a


def test_discharged_is_due_only_60_minutes_after_arrival() -> None:
    day, a = discharge_ready()

    assert day.statuses(a + 60 - SECOND, ["discharged"]) == {"discharged": "blocked"}
    assert day.statuses(a + 60, ["discharged"]) == {"discharged": "due"}


def test_a_major_complication_blocks_discharge() -> None:
    day, a = discharge_ready()
    day.ok("nurse", "complication", a + 55, data_for("complication", severity="major"))

    assert day.statuses(a + 61, ["discharged"]) == {"discharged": "blocked"}


def test_after_discharge_untaken_terminals_and_missing_required_steps_are_skipped() -> None:
    day, a = discharge_ready()
    day.step("discharged", a + 60)

    steps = day.evaluate(a + 61).steps

    assert (steps["discharged"], steps["admitted"], steps["cancelled"]) == (
        "done",
        "skipped",
        "skipped",
    )
    assert by_status(steps, "not_needed") == OPTIONAL
    assert by_status(steps, "skipped") == ["admitted", "cancelled"]
    assert by_status(steps, "due") == by_status(steps, "blocked") == []
    assert by_status(steps, "overdue") == []


def test_cancel_before_incision_skips_every_required_step_not_done() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("time_out")
    day.step("level_confirmed", 8, level="T12")
    day.step("cancelled", 9)

    statuses = day.statuses(
        10,
        [
            "check_in",
            "time_out",
            "level_confirmed",
            "trocar_placed",
            "incision",
            "pacu_vitals",
            "biopsy_taken",
            *TERMINALS,
        ],
    )

    assert statuses == {
        "check_in": "done",
        "time_out": "done",
        "level_confirmed": "skipped",  # L1 was never confirmed
        "trocar_placed": "skipped",
        "incision": "skipped",
        "pacu_vitals": "skipped",
        "biopsy_taken": "not_needed",
        "discharged": "skipped",
        "admitted": "skipped",
        "cancelled": "done",
    }
