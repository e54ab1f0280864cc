"""What a patient reads follows the record and never shows what staff explain in person.

Pure checks of `daycase.web.sheet` over cases driven through the engine (no browser).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from daycase.engine.load import builtin_pathway
from daycase.web.sheet import Section, going_home, now_and_next
from tests.engine.builders import START, Day

TZ = ZoneInfo("America/New_York")


def text_of(sections: list[Section]) -> str:
    return "\n".join(
        f"{s.heading}: " + " ".join(s.lines) + " " + " ".join(s.bullets) for s in sections
    )


def sheet(day: Day) -> str:
    pathway = builtin_pathway("kyphoplasty", day.version)
    return text_of(going_home(pathway, day.state(), centre="Elm Clinic", phone="555-0100", tz=TZ))


def test_the_2_0_sheet_follows_the_record() -> None:
    day = Day(version="2.0")
    day.step("check_in", -90)
    day.step(
        "medication_review",
        -80,
        antithrombotics=[
            {"drug": "apixaban", "last_dose_at": (START - timedelta(hours=80)).isoformat()}
        ],
    )
    day.advance_to("final_imaging", skip={"check_in", "medication_review"})
    day.step("dressing_applied", 23, sutures=True)
    text = sheet(day)
    assert "You have stitches." in text
    assert "without stitches" not in text
    assert "Ask the doctor who prescribes apixaban when to start it again." in text
    assert "Your medicines have not been gone over with you yet." in text
    assert "Physical therapy" not in text  # not referred: no line
    assert "Your next visit" not in text  # none recorded
    assert "Call Elm Clinic at 555-0100 if" in text
    assert "100.4 °F (38.0 °C)" in text
    assert "A nurse will call you tomorrow" in text

    restart = (START + timedelta(days=3)).isoformat()
    day.advance_to("pacu_arrival", skip={"dressing_applied"})
    day.step("discharge_consult", 60, antithrombotic_restart_at=restart)
    text = sheet(day)
    assert "You may start apixaban again on Sunday, November 29, 2026 at 8:00 AM." in text
    assert "Your nurse went over your medicines with you." in text


def test_the_1_0_sheet_prints_the_1_0_texts() -> None:
    day = Day(version="1.0")
    day.advance_to("pacu_arrival")
    text = sheet(day)
    assert "Call us if" in text
    assert "A nurse will call you tomorrow" not in text


def test_now_and_next_show_plain_titles_and_never_a_hidden_step() -> None:
    day = Day(version="2.0")
    day.advance_to("sign_in")
    pathway = builtin_pathway("kyphoplasty", "2.0")
    now, upcoming = now_and_next(pathway, day.state(), day.evaluate(-39))
    assert now is not None
    assert now.title == "Safety check before the procedure"
    assert upcoming is not None
    assert upcoming.title == "Medicine to prevent infection"
    day.step("in_room", 0)
    day.step("complication", 1, kind="nausea", severity="minor")
    now, _ = now_and_next(pathway, day.state(), day.evaluate(2))
    assert now is not None
    assert now.title == "Going into the procedure room"  # the complication is not shown
    day.ok("nurse", "admitted", 3, {"reason": "nausea"})
    assert now_and_next(pathway, day.state(), day.evaluate(4)) == (None, None)


def test_a_1_0_case_shows_no_staff_title_to_a_patient() -> None:
    day = Day(version="1.0")
    day.advance_to("sign_in")
    pathway = builtin_pathway("kyphoplasty", "1.0")
    now, _ = now_and_next(pathway, day.state(), day.evaluate(-39))
    assert now is not None
    assert now.title is None
