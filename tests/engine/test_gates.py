"""Gates: every unmet condition is named in plain words; clinical order decides."""

from __future__ import annotations

from tests.engine.builders import Day, data_for, refusal


def ready_to_leave_the_room() -> Day:
    """One level, cement at 20, sign-out and anaesthesia end at 23."""
    day = Day()
    day.advance_to("sign_out")
    day.step("anesthesia_end", 23)
    return day


def test_out_of_room_waits_five_minutes_after_the_last_cement() -> None:
    day = ready_to_leave_the_room()

    early = refusal(day.record("nurse", "out_of_room", 23))
    on_time = day.ok("nurse", "out_of_room", 25)

    assert (early.kind, early.messages) == (
        "gate",
        ("Cement was injected 3 min ago; wait 2 more minutes",),
    )
    assert on_time.override is False


def test_no_cement_means_no_rest_before_out_of_room() -> None:
    day = Day()
    day.advance_to("incision")
    day.ok("proceduralist", "level_abandoned", 14, data_for("level_abandoned", "L1"))
    for minute, step in enumerate(["final_imaging", "dressing_applied", "sign_out"], start=15):
        day.step(step, minute)
    day.step("anesthesia_end", 17)

    day.ok("nurse", "out_of_room", 17)


def test_every_unmet_condition_is_named() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("time_out", skip=["antibiotic_given"])

    result = refusal(day.record("proceduralist", "incision", 8))

    assert (result.kind, result.messages) == (
        "gate",
        ("Level confirmed not done for T12, L1", "Antibiotic given not done"),
    )


def test_per_level_gate_names_the_level() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("trocar_placed")  # both levels' trocars are in; T12 is further on

    result = refusal(
        day.record("proceduralist", "balloon_removed", 30, data_for("balloon_removed", "L1"))
    )

    assert (result.kind, result.messages) == ("gate", ("Balloon inflated not done for L1",))


def test_discharge_gate_lists_every_missing_condition() -> None:
    day = Day()
    a = day.advance_to("pacu_arrival")
    day.ok("nurse", "aldrete_score", a + 5, data_for("aldrete_score", activity=0))

    result = refusal(day.record("nurse", "discharged", a + 20))

    assert (result.kind, result.messages) == (
        "gate",
        (
            "Latest Aldrete score total is 8 (needs 9 or more)",
            "No PADSS score recorded",
            "Discharge consult not done",
            "Ride home confirmed not done",
            "In recovery for 20 min; 40 more minutes needed",
        ),
    )


def test_cancel_is_refused_after_incision() -> None:
    day = Day()
    day.advance_to("incision")

    result = refusal(day.record("nurse", "cancelled", 14))

    assert (result.kind, result.messages) == (
        "gate",
        ("Incision already made; the case can no longer be cancelled",),
    )


def test_cancel_back_charted_before_an_existing_incision_is_refused() -> None:
    day = Day()
    day.advance_to("incision")  # incision at 13
    before = day.count()

    result = refusal(day.record("nurse", "cancelled", 15, occurred_at=12))

    assert (result.kind, result.messages) == (
        "gate",
        ("Incision already made; the case can no longer be cancelled",),
    )
    assert day.count() == before


def test_front_desk_cancel_back_charted_before_an_existing_in_room_is_role() -> None:
    day = Day()
    day.advance_to("in_room")  # at 0
    before = day.count()

    result = refusal(day.record("front_desk", "cancelled", 3, occurred_at=-1))

    assert result.kind == "role"
    assert day.count() == before
