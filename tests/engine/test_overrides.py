"""Overrides: anaesthesia and proceduralist users lift gates and role lists, nothing else."""

from __future__ import annotations

import pytest

from tests.engine.builders import Day, data_for, refusal

REASON = "patient unstable, moving on with the anaesthetist"


def test_gate_lifted_by_a_listed_role_is_an_override() -> None:
    day = Day()
    day.advance_to("level_confirmed", skip=["antibiotic_given"])
    before = day.count()

    incision = day.ok("proceduralist", "incision", 13, override_reason=f"  {REASON} ")

    assert (incision.override, incision.override_reason) == (True, REASON)
    assert day.count() == before + 1
    stored = day.state().entries[incision.event_id]
    assert (stored.override, stored.override_reason) == (True, REASON)
    assert [e.event_id for e in day.evaluate(14).overrides] == [incision.event_id]


def test_unlisted_role_whose_gate_holds_is_an_override() -> None:
    day = Day()
    day.advance_to("antibiotic_given")

    in_room = day.ok("anesthesia", "in_room", 0, override_reason=REASON)

    assert in_room.role == "anesthesia"  # in_room lists only nurses
    assert (in_room.override, in_room.override_reason) == (True, REASON)


def test_unlisted_role_and_failing_gate_is_one_override() -> None:
    day = Day()
    day.advance_to("check_in")

    in_room = day.ok("proceduralist", "in_room", -80, override_reason=REASON)

    assert (in_room.override, in_room.override_reason) == (True, REASON)
    assert day.evaluate(-80).phase == "procedure"


def test_reason_when_nothing_needed_lifting_is_kept_as_a_note() -> None:
    day = Day()
    day.advance_to("site_prepped")

    time_out = day.ok("proceduralist", "time_out", 7, override_reason="all checks done early")

    assert (time_out.override, time_out.override_reason) == (False, "all checks done early")
    assert day.evaluate(8).overrides == []


def test_blank_reason_is_no_override() -> None:
    day = Day()
    day.advance_to("level_confirmed", skip=["antibiotic_given"])
    before = day.count()

    blocked = refusal(day.record("proceduralist", "incision", 13, override_reason="   "))
    day.step("antibiotic_given", 13)
    incision = day.ok("proceduralist", "incision", 14, override_reason="   ")

    assert (blocked.kind, blocked.messages) == ("gate", ("Antibiotic given not done",))
    assert (incision.override, incision.override_reason) == (False, None)
    assert day.count() == before + 2


def test_nurse_reason_while_gate_fails_is_role() -> None:
    day = Day()
    day.advance_to("sign_out")
    day.step("anesthesia_end", 23)
    before = day.count()

    # Cement at 20: out_of_room at 23 is 3 min too early; nurses may not override.
    result = refusal(day.record("nurse", "out_of_room", 23, override_reason=REASON))

    assert result.kind == "role"
    assert result.messages == (
        "Only anaesthesia or proceduralist staff may override a gate",
        "Cement was injected 3 min ago; wait 2 more minutes",
    )
    assert day.count() == before


def test_nurse_reason_while_gate_holds_is_a_note() -> None:
    day = Day()
    day.advance_to("anesthesia_end")

    out = day.ok("nurse", "out_of_room", 25, override_reason="porter waiting")

    assert (out.override, out.override_reason) == (False, "porter waiting")


def test_override_never_accepts_invalid_data() -> None:
    day = Day()
    day.advance_to("check_in")
    before = day.count()

    result = refusal(
        day.record(
            "anesthesia",
            "preop_vitals",
            -80,
            data_for("preop_vitals", heart_rate=19),
            override_reason=REASON,
        )
    )
    field_condition = refusal(
        day.record(
            "proceduralist",
            "sign_in",
            -80,
            data_for("sign_in", site_marked=False),
            override_reason=REASON,
        )
    )

    assert (result.kind, result.fields) == (
        "invalid",
        {"heart_rate": "must be between 20 and 250 (got 19)"},
    )
    assert (field_condition.kind, field_condition.fields) == (
        "invalid",
        {"site_marked": "must be true"},
    )
    assert day.count() == before


def test_override_never_accepts_a_duplicate() -> None:
    day = Day()
    day.advance_to("time_out")
    before = day.count()

    result = refusal(day.record("proceduralist", "time_out", 8, override_reason=REASON))

    assert result.kind == "duplicate"
    assert day.count() == before


def test_override_never_accepts_a_step_after_a_terminal_one() -> None:
    day = Day()
    day.advance_to("sign_in")
    day.step("cancelled", -35)
    before = day.count()

    result = refusal(day.record("anesthesia", "in_room", -30, override_reason=REASON))

    assert result.kind == "closed"
    assert day.count() == before


@pytest.mark.parametrize("reason", [None, REASON])
def test_front_desk_cancel_after_in_room_is_role(reason: str | None) -> None:
    day = Day()
    day.advance_to("in_room")
    before = day.count()

    result = refusal(day.record("front_desk", "cancelled", 1, override_reason=reason))

    assert result.kind == "role"
    assert result.messages[0] == "A Front desk user may not record Cancelled"
    assert day.count() == before


def test_front_desk_cancels_before_in_room_and_nurse_after_it() -> None:
    before_room, after_room = Day(), Day()
    before_room.advance_to("sign_in")
    after_room.advance_to("in_room")

    by_desk = before_room.ok("front_desk", "cancelled", -35)
    by_nurse = after_room.ok("nurse", "cancelled", 1)

    assert (by_desk.override, by_nurse.override) == (False, False)
    assert after_room.evaluate(2).phase == "cancelled"


def test_front_desk_reason_on_an_ungated_step_is_a_note() -> None:
    day = Day()

    check_in = day.ok("front_desk", "check_in", -90, override_reason="arrived by ambulance")

    assert (check_in.override, check_in.override_reason) == (False, "arrived by ambulance")
