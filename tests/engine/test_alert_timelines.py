"""Alert timelines: `(minute, phase, active codes)` across a day, asserted in one go.

Recovery timelines count minutes from `pacu_arrival` (A); procedure timelines from
`in_room` (minute 0). Timers say "more than N min": at exactly N the alert is not yet
active, one second later it is, and its `started_at` is the instant N was reached.
"""

from __future__ import annotations

import pytest

from tests.engine.builders import SECOND, Day, data_for, minutes

V = ["vitals_overdue"]
LOW = ["aldrete_low"]
LONG = ["running_long"]


def recovery(*, aldrete_at: float | None = 5) -> tuple[Day, float]:
    """A one-level case arrived in recovery at A = 30, with a good Aldrete at A + 5."""
    day = Day()
    arrival = day.advance_to("pacu_arrival")
    if aldrete_at is not None:
        day.step("aldrete_score", arrival + aldrete_at)
    return day, arrival


# ------------------------------------------------------------------ vitals_overdue


def test_vitals_overdue_without_any_recovery_vitals() -> None:
    day, a = recovery()

    day.observe(0, 14, 15, 15 + SECOND, 16, 59, 60, 61, since=a)
    day.step("padss_score", a + 65)
    day.observe(65, 99, since=a)
    day.step("admitted", a + 100)
    day.observe(100, 130, since=a)

    assert day.log == [
        (0, "recovery", []),
        (14, "recovery", []),
        (15, "recovery", []),
        (15 + SECOND, "recovery", V),
        (16, "recovery", V),
        (59, "recovery", V),
        (60, "recovery", V),
        (61, "recovery", V),
        (65, "discharge", V),
        (99, "discharge", V),
        (100, "admitted", []),
        (130, "admitted", []),
    ]
    assert day.spans("vitals_overdue", 130, since=a) == [(15, 100, "warning")]


def test_vitals_overdue_every_15_min_in_the_first_hour_then_every_30() -> None:
    day, a = recovery()

    day.step("pacu_vitals", a + 10)
    day.observe(10, 25, 25 + SECOND, 49, since=a)
    day.step("pacu_vitals", a + 50)
    day.observe(50, 60, 65 + SECOND, 79, 80, 80 + SECOND, 90, since=a)

    assert day.log == [
        (10, "recovery", []),
        (25, "recovery", []),
        (25 + SECOND, "recovery", V),
        (49, "recovery", V),
        (50, "recovery", []),
        (60, "recovery", []),
        # 15 min after the +50 set is past the first hour: the 30-min rule applies.
        (65 + SECOND, "recovery", []),
        (79, "recovery", []),
        (80, "recovery", []),
        (80 + SECOND, "recovery", V),
        (90, "recovery", V),
    ]
    assert day.spans("vitals_overdue", 90, since=a) == [(25, 50, "warning"), (80, None, "warning")]


def test_vitals_overdue_ends_when_the_first_hour_ends_and_restarts_on_the_30_min_rule() -> None:
    day, a = recovery()

    for minute in (10, 25, 40):
        day.step("pacu_vitals", a + minute)
    day.observe(40, 55, 55 + SECOND, 59, 60, 60 + SECOND, 69, 70, 70 + SECOND, since=a)

    # Last set at +40: more than 15 min from +55, until the first hour ends at +60;
    # then more than 30 min from +70.
    assert day.log == [
        (40, "recovery", []),
        (55, "recovery", []),
        (55 + SECOND, "recovery", V),
        (59, "recovery", V),
        (60, "recovery", []),
        (60 + SECOND, "recovery", []),
        (69, "recovery", []),
        (70, "recovery", []),
        (70 + SECOND, "recovery", V),
    ]
    assert day.spans("vitals_overdue", 75, since=a) == [(55, 60, "warning"), (70, None, "warning")]


def test_vitals_overdue_message_counts_from_the_last_set() -> None:
    day, a = recovery()
    day.step("pacu_vitals", a + 10)

    [alert] = [x for x in day.evaluate(a + 27).alerts if x.code == "vitals_overdue"]

    assert (alert.step, alert.message) == (
        "pacu_vitals",
        "Recovery vitals overdue: 17 min since the last set",
    )


# ------------------------------------------------------------------ running_long


def test_running_long_one_level_ends_at_out_of_room() -> None:
    day = Day()
    day.advance_to("anesthesia_end")

    day.observe(89, 90, 90 + SECOND, 99)
    day.step("out_of_room", 100)
    day.observe(100, 120)

    assert day.log == [
        (89, "procedure", []),
        (90, "procedure", []),
        (90 + SECOND, "procedure", LONG),
        (99, "procedure", LONG),
        (100, "procedure", []),
        (120, "procedure", []),
    ]
    assert day.spans("running_long", 120) == [(90, 100, "info")]


def test_running_long_not_raised_when_out_of_room_at_exactly_the_limit() -> None:
    day = Day()
    day.advance_to("anesthesia_end")
    day.step("out_of_room", 90)

    day.observe(90, 91, 200)

    assert day.log == [(90, "procedure", []), (91, "procedure", []), (200, "procedure", [])]
    assert day.spans("running_long", 200) == []


def test_running_long_two_levels_expects_30_more_minutes() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("in_room")

    day.observe(90 + SECOND, 119, 120, 120 + SECOND, 150)

    assert day.log == [
        (90 + SECOND, "procedure", []),
        (119, "procedure", []),
        (120, "procedure", []),
        (120 + SECOND, "procedure", LONG),
        (150, "procedure", LONG),
    ]
    assert day.spans("running_long", 150) == [(120, None, "info")]


def test_running_long_abandoned_level_reduces_the_expected_time() -> None:
    day = Day(("T12", "L1"))
    day.advance_to("in_room")
    day.ok("proceduralist", "level_abandoned", 10, data_for("level_abandoned", "L1"))

    day.observe(89, 90, 90 + SECOND, 121)

    assert day.log == [
        (89, "procedure", []),
        (90, "procedure", []),
        (90 + SECOND, "procedure", LONG),
        (121, "procedure", LONG),
    ]
    [alert] = day.evaluate(121).alerts
    assert alert.message == "Running long: in the room 121 min, expected 60 min"


# ------------------------------------------------------------------ aldrete_low


def recovery_with_vitals(until: float) -> tuple[Day, float]:
    """Recovery with vitals every 10 min up to A + until (no vitals_overdue), no Aldrete yet."""
    day, a = recovery(aldrete_at=None)
    for minute in range(10, int(until) + 1, 10):
        day.step("pacu_vitals", a + minute)
    return day, a


def test_aldrete_low_after_the_first_hour_until_a_good_score() -> None:
    day, a = recovery(aldrete_at=None)
    score_9 = data_for("aldrete_score", activity=1)
    score_7 = data_for("aldrete_score", activity=0, respiration=1)

    for minute in (10, 20):
        day.step("pacu_vitals", a + minute)
    day.ok("nurse", "aldrete_score", a + 30, data_for("aldrete_score", activity=0))  # 8
    for minute in (30, 40, 50, 60, 70):
        day.step("pacu_vitals", a + minute)
    day.observe(30, 59, 60, 60 + SECOND, 74, since=a)
    day.ok("nurse", "aldrete_score", a + 75, score_9)
    day.observe(75, 89, since=a)
    day.step("pacu_vitals", a + 80)
    day.ok("nurse", "aldrete_score", a + 90, score_7)
    day.observe(90, 100, since=a)

    assert day.log == [
        (30, "recovery", []),
        (59, "recovery", []),
        (60, "recovery", []),
        (60 + SECOND, "recovery", LOW),
        (74, "recovery", LOW),
        (75, "recovery", []),
        (89, "recovery", []),
        (90, "recovery", LOW),
        (100, "recovery", LOW),
    ]
    assert day.spans("aldrete_low", 100, since=a) == [(60, 75, "info"), (90, None, "info")]


def test_aldrete_low_when_none_is_recorded() -> None:
    day, a = recovery_with_vitals(until=70)

    day.observe(60, 60 + SECOND, 70, since=a)

    assert day.log == [(60, "recovery", []), (60 + SECOND, "recovery", LOW), (70, "recovery", LOW)]
    [alert] = day.evaluate(a + 70).alerts
    assert alert.message == "No Aldrete score recorded 60 min after arrival in recovery"


def test_aldrete_good_before_the_hour_raises_nothing() -> None:
    day, a = recovery_with_vitals(until=90)
    day.step("aldrete_score", a + 59)  # 10

    day.observe(60 + SECOND, 90, since=a)

    assert day.log == [(60 + SECOND, "recovery", []), (90, "recovery", [])]


# ------------------------------------------------------------------ vitals_out_of_range


def test_vitals_out_of_range_changes_severity_in_one_entry_and_ends_in_range() -> None:
    day = Day()
    day.advance_to("check_in")
    severities: list[tuple[float, list[tuple[str, bool, float]]]] = []

    def seen(*at_minutes: float) -> None:
        day.observe(*at_minutes)
        for m in at_minutes:
            severities.append(
                (
                    m,
                    [
                        (severity, end is None, start)
                        for start, end, severity in day.spans("vitals_out_of_range", m)
                    ],
                )
            )

    seen(-86)
    day.ok("nurse", "preop_vitals", -85, data_for("preop_vitals", bp_systolic=85, bp_diastolic=50))
    seen(-85, -81)
    day.ok("nurse", "preop_vitals", -80, data_for("preop_vitals", bp_systolic=75, bp_diastolic=50))
    seen(-80, -76)
    day.ok("nurse", "preop_vitals", -75)
    seen(-75, -60)

    out = ["vitals_out_of_range"]
    assert day.log == [
        (-86, "pre_op", []),
        (-85, "pre_op", out),
        (-81, "pre_op", out),
        (-80, "pre_op", out),
        (-76, "pre_op", out),
        (-75, "pre_op", []),
        (-60, "pre_op", []),
    ]
    assert severities == [
        (-86, []),
        (-85, [("warning", True, -85)]),
        (-81, [("warning", True, -85)]),
        (-80, [("critical", True, -85)]),
        (-76, [("critical", True, -85)]),
        (-75, [("critical", False, -85)]),
        (-60, [("critical", False, -85)]),
    ]
    assert day.spans("vitals_out_of_range", -60) == [(-85, -75, "critical")]


def test_vitals_out_of_range_follows_the_latest_set_of_any_phase() -> None:
    day = Day()
    day.advance_to("anesthesia_start")
    day.ok("nurse", "intraop_vitals", 4, data_for("intraop_vitals", spo2=90))
    day.observe(4)
    day.ok("anesthesia", "intraop_vitals", 6, data_for("intraop_vitals"))
    day.observe(6)

    assert day.log == [(4, "procedure", ["vitals_out_of_range"]), (6, "procedure", [])]
    [alert] = day.evaluate(6).alerts
    assert (alert.step, alert.message) == (
        "intraop_vitals",
        "Latest vitals out of range: SpO2 90 % (below 92)",
    )


# ------------------------------------------------------------------ terminal step


def test_every_alert_ends_at_the_terminal_step() -> None:
    day, a = recovery(aldrete_at=None)
    low = data_for("pacu_vitals", bp_systolic=75, bp_diastolic=50)
    day.ok("nurse", "pacu_vitals", a + 5, low)
    day.ok("nurse", "complication", a + 10, data_for("complication", severity="major"))
    day.ok("nurse", "neuro_check", a + 12, data_for("neuro_check", leg_strength="reduced_left"))

    day.observe(69, since=a)
    day.step("admitted", a + 70)
    day.observe(70, 200, since=a)

    assert day.log == [
        (
            69,
            "recovery",
            [
                "aldrete_low",
                "bp_drop",
                "complication_major",
                "neuro_deficit",
                "vitals_out_of_range",
                "vitals_overdue",
            ],
        ),
        (70, "admitted", []),
        (200, "admitted", []),
    ]
    ended = sorted(
        (x.code, x.severity, x.active, minutes(x.started_at) - a, minutes(x.ended_at) - a)
        for x in day.evaluate(a + 200).alerts
        if x.ended_at is not None
    )
    assert len(day.evaluate(a + 200).alerts) == len(ended)
    assert ended == [
        ("aldrete_low", "info", False, 60, 70),
        ("bp_drop", "warning", False, 5, 70),
        ("complication_major", "critical", False, 10, 70),
        ("neuro_deficit", "critical", False, 12, 70),
        ("vitals_out_of_range", "critical", False, 5, 70),
        ("vitals_overdue", "warning", False, 20, 70),
    ]


def test_running_long_ends_at_a_terminal_step_in_the_room() -> None:
    day = Day()
    day.advance_to("incision")

    day.observe(95)
    day.step("admitted", 100)
    day.observe(100, 150)

    assert day.log == [(95, "procedure", LONG), (100, "admitted", []), (150, "admitted", [])]
    assert day.spans("running_long", 150) == [(90, 100, "info")]


@pytest.mark.parametrize(
    ("code", "terminal_at"),
    [("vitals_overdue", 45), ("running_long", 90)],
)
def test_no_alert_when_the_case_closes_exactly_at_the_timer_limit(
    code: str, terminal_at: float
) -> None:
    day = Day()
    day.advance_to("pacu_arrival" if code == "vitals_overdue" else "incision")
    day.step("admitted", terminal_at)  # arrival at 30 + 15; in_room at 0 + 90

    assert day.spans(code, 200) == []
