"""A day of kyphoplasty through the case page's forms (issue 4, items 3 and 7).

Four people in four browser contexts take a one-level case from check-in to discharge,
back-charting clinical times so the timed gates (5 min after cement, 60 min in recovery)
are met; a gate refuses and a proceduralist records anyway with a reason; an entry is
amended and another voided from the history; and the boards of other contexts follow a
recording without a reload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from playwright.sync_api import Locator, Page, expect

from tests.support.checklists import (
    ALDRETE,
    CALL_ALL_WELL,
    NORMAL_LEGS,
    PADSS,
    SIGN_IN,
    SIGN_OUT,
    TIME_OUT,
)
from tests.web.served import (
    PATHWAY,
    SCREENSHOTS,
    FieldValue,
    Site,
    fill_fields,
    open_amend_form,
    open_step_form,
    record,
    refused,
    screenshot,
)

VITALS: dict[str, FieldValue] = {
    "heart_rate": 72,
    "bp_systolic": 130,
    "bp_diastolic": 80,
    "spo2": 97,
    "resp_rate": 14,
    "temperature_c": 36.8,
}
# Every step the day needs: a complete day shows each of them done.
REQUIRED_STEPS = [s.id for s in PATHWAY.steps if s.need == "required"] + ["discharged"]


def _open_case_through_the_form(site: Site, desk: Page) -> tuple[str, str]:
    """Open a case on the new-case page: (case id, family code)."""
    desk.get_by_role("link", name="New case").click()
    desk.get_by_label("MRN").fill("MRN-D2001")
    desk.get_by_label("Given name").fill("Dora")
    desk.get_by_label("Family name").fill("Daylong")
    desk.get_by_label("Birth date").fill("1941-09-30")
    desk.get_by_label("Scheduled start").fill(site.local_input(site.now()))
    desk.get_by_label("Sex").select_option("female")
    desk.get_by_label("L2", exact=True).check()
    desk.get_by_role("button", name="Open case").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Dora Daylong")
    screenshot(desk, "case-new-opened")
    code = desk.locator(".case-head span", has_text="Family code").locator("strong").inner_text()
    return desk.url.rsplit("/", 1)[-1], code


def test_a_complete_one_level_day_from_check_in_to_discharge(site: Site) -> None:
    desk = site.page_as("front_desk")
    case_id, code = _open_case_through_the_form(site, desk)
    case_path = f"/cases/{case_id}"
    nurse = site.page_as("nurse", path=case_path)
    # The anaesthetist and the proceduralist watch the board and come to the case for
    # their steps.
    day = site.day_of(case_id)
    gas = site.page_as("anesthesia", path=f"/board?date={day}")
    doc = site.page_as("proceduralist", path=f"/board?date={day}")
    t0 = site.now() - timedelta(minutes=140)

    @contextmanager
    def at_the_case(page: Page) -> Iterator[None]:
        page.get_by_role("link", name="Dora Daylong").click()
        expect(page).to_have_url(site.url(case_path))
        yield
        page.get_by_role("link", name=re.compile("^Board of ")).click()

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    record(
        desk,
        site,
        "check_in",
        at=at(0),
        fields={
            "identity_confirmed": True,
            "consent_signed": True,
            "last_solids_at": at(-600),
            "last_clear_fluids_at": at(-240),
            "escort_name": "Sam Daylong",
        },
    )
    # The front desk and a waiting-room screen follow the rest of the day live.
    desk.goto(site.url(f"/board?date={day}"))
    family = site.page_as("viewer", path=f"/family?date={day}")
    record(nurse, site, "preop_vitals", at=at(2), fields={**VITALS, "pain_score": 6})
    record(
        nurse,
        site,
        "medication_review",
        at=at(4),
        fields={
            "medications.0.name": "alendronate",
            "medications.0.kind": "prescription",
            "allergies": "sulfa",
        },
    )
    record(
        nurse,
        site,
        "back_assessment",
        at=at(6),
        fields={
            "pain_score": 7,
            "leg_strength": "normal",
            "leg_sensation": "normal",
            "bladder_bowel": "normal",
        },
    )
    with at_the_case(doc):
        record(
            doc,
            site,
            "imaging_review",
            at=at(7),
            fields={"modality": "mri", "levels_confirmed": ["L2"], "findings": "L2 fracture"},
        )
    with at_the_case(gas):
        record(
            gas,
            site,
            "anesthesia_consult",
            at=at(8),
            fields={"plan": "local_sedation", "asa_class": 2, "mallampati": 2},
        )
    record(
        nurse,
        site,
        "antibiotic_given",
        at=at(10),
        fields={"drug": "cefazolin", "dose_mg": 2000, "route": "iv"},
    )
    record(nurse, site, "sign_in", at=at(12), fields=dict.fromkeys(SIGN_IN, True))
    record(nurse, site, "in_room", at=at(14))
    record(nurse, site, "positioned_prone", at=at(15))
    with at_the_case(gas):
        record(gas, site, "anesthesia_start", at=at(16), fields={"type": "local_sedation"})
    record(nurse, site, "site_prepped", at=at(17), fields={"shaved": False, "draped": True})
    with at_the_case(doc):
        record(doc, site, "time_out", at=at(18), fields=dict.fromkeys(TIME_OUT, True))
        record(
            doc, site, "level_confirmed", at=at(19), level="L2", fields={"method": "fluoroscopy"}
        )
        record(doc, site, "incision", at=at(20))
        record(
            doc, site, "trocar_placed", at=at(22), level="L2", fields={"approach": "bipedicular"}
        )
        record(
            doc,
            site,
            "balloon_inflated",
            at=at(24),
            level="L2",
            fields={"max_pressure_psi": 180, "volume_ml": 3},
        )
        record(doc, site, "balloon_removed", at=at(26), level="L2")
        record(
            doc,
            site,
            "cement_injected",
            at=at(28),
            level="L2",
            fields={"volume_ml": 3.5, "leakage": "none"},
        )
        record(
            doc,
            site,
            "final_imaging",
            at=at(29),
            fields={"cement_distribution_ok": True, "leakage": "none"},
        )
    record(
        nurse,
        site,
        "dressing_applied",
        at=at(30),
        fields={"pressure_applied": True, "sutures": False},
    )
    record(
        nurse,
        site,
        "sign_out",
        at=at(31),
        fields={**dict.fromkeys(SIGN_OUT, True), "specimens_labelled": False},
    )
    with at_the_case(gas):
        record(gas, site, "anesthesia_end", at=at(31))
    # The timed gates read the clinical times: 3 min after the cement is too soon.
    expect(refused(nurse, site, "out_of_room", at=at(31))).to_have_text(
        "Cement was injected 3 min ago; wait 2 more minutes"
    )
    record(nurse, site, "out_of_room", at=at(34))
    record(nurse, site, "pacu_arrival", at=at(36))
    recovery: dict[str, FieldValue] = {**VITALS, "bp_systolic": 124, "pain_score": 2}
    neuro: dict[str, FieldValue] = {
        "leg_strength": "normal",
        "leg_sensation": "normal",
        "bladder_bowel": "normal",
    }
    # Recovery as 2.0 asks: vitals every 15 min in the first hour, legs every 30 min.
    record(nurse, site, "pacu_vitals", at=at(38), fields={**recovery, "sedation": 0})
    record(nurse, site, "neuro_check", at=at(39), fields=neuro)
    record(nurse, site, "aldrete_score", at=at(40), fields=dict.fromkeys(ALDRETE, 2))
    for minute in (53, 68, 83):
        record(nurse, site, "pacu_vitals", at=at(minute), fields={**recovery, "sedation": 0})
    record(nurse, site, "neuro_check", at=at(68), fields=neuro)
    record(nurse, site, "padss_score", at=at(80), fields=dict.fromkeys(PADSS, 2))
    record(
        nurse,
        site,
        "discharge_consult",
        at=at(82),
        fields={
            "medications_reviewed": True,
            "physical_therapy": "referred",
            "warning_signs_explained": True,
            "follow_up_at": at(60 * 24 * 14),
            "instructions_given": True,
        },
    )
    record(
        nurse,
        site,
        "transport_confirmed",
        at=at(84),
        fields={
            "escort_name": "Sam Daylong",
            "escort_present": True,
            "no_driving_acknowledged": True,
        },
    )
    with at_the_case(doc):
        record(doc, site, "discharge_order", at=at(85), fields={"post_anesthesia_assessed": True})
    expect(refused(nurse, site, "discharged", at=at(86))).to_have_text(
        "In recovery for 50 min; 10 more minutes needed"
    )
    record(nurse, site, "pacu_vitals", at=at(96), fields={**recovery, "sedation": 0})
    record(nurse, site, "neuro_check", at=at(96), fields=neuro)
    record(nurse, site, "discharged", at=at(100))

    expect(nurse.locator(".case-head")).to_contain_text("Phase Discharged")
    for step in REQUIRED_STEPS:
        expect(nurse.locator(f"#step-{step} header .badge")).to_have_text("done")
    # A closed case offers no more forms but the next-day call's.
    expect(nurse.locator(".step details")).to_have_count(1)
    expect(nurse.locator("#step-follow_up_call details")).to_have_count(1)
    screenshot(nurse, "case-discharged")

    nurse.get_by_role("link", name="Patient view").click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text("Your day, Dora")
    sheet = nurse.locator(".sheet")
    expect(sheet).to_contain_text("Do not drive")
    expect(sheet).to_contain_text("You have been sent to physical therapy")
    expect(sheet).to_contain_text("The opening was closed without stitches.")
    expect(sheet).to_contain_text("A nurse will call you tomorrow")
    expect(sheet).to_contain_text("Going home with: Sam Daylong.")
    expect(sheet).to_contain_text("Call the surgery center at the phone number your care team")
    follow_up = at(60 * 24 * 14).astimezone(site.tz)
    expect(sheet).to_contain_text(f"{follow_up:%B} {follow_up.day}, {follow_up.year}")
    for staff_title in ("WHO Sign In", "PADSS", "Trocar"):
        expect(nurse.locator("main")).not_to_contain_text(staff_title)
    screenshot(nurse, "patient-view-discharged")
    # Printed, the page is the going-home sheet alone.
    nurse.emulate_media(media="print")
    expect(sheet).to_be_visible()
    expect(nurse.locator("header.top")).to_be_hidden()
    expect(nurse.get_by_role("button", name="Print the going-home sheet")).to_be_hidden()
    nurse.pdf(path=str(SCREENSHOTS / "patient-discharge-sheet.pdf"))
    nurse.emulate_media(media="screen")

    expect(desk.locator(f'tr[data-case="{case_id}"]')).to_contain_text("Discharged")
    expect(family.locator("#family tr", has_text=code)).to_contain_text("Gone home")
    screenshot(family, "family-gone-home")

    # The next day's board lists the call to make; the nurse records it from there.
    nurse.goto(site.url(f"/board?date={day + timedelta(days=1)}"))
    call = nurse.locator(f'#calls tr[data-call="{case_id}"]')
    expect(call).to_contain_text("due")
    screenshot(nurse, "board-calls-to-make")
    call.get_by_role("link", name=re.compile("^Record the call")).click()
    record(
        nurse,
        site,
        "follow_up_call",
        at=site.now(),
        fields=CALL_ALL_WELL,
    )
    expect(nurse.locator(".case-head")).to_contain_text("Phase Discharged")
    nurse.goto(site.url(f"/board?date={day + timedelta(days=1)}"))
    expect(nurse.locator(f'#calls tr[data-call="{case_id}"]')).to_have_count(0)


def test_a_gate_refusal_and_a_proceduralist_override(site: Site) -> None:
    case_id, code = site.open_case(
        mrn="MRN-G3001",
        given_name="Gail",
        family_name="Gatekeeper",
        birth_date="1948-01-12",
        levels=["T12"],
    )
    start = site.now() - timedelta(minutes=30)
    site.check_in_api(case_id, at=start)
    path = f"/cases/{case_id}"

    # A nurse is refused, and is not offered an override.
    nurse = site.page_as("nurse", path=path)
    open_step_form(nurse, "in_room").get_by_role("button", name="Record").click()
    expect(nurse.locator("#step-in_room [role=alert]")).to_have_text("WHO Sign In not done")
    expect(
        nurse.locator("#step-in_room").get_by_role("button", name="Record anyway")
    ).to_have_count(0)
    expect(nurse.locator("#step-in_room header .badge")).to_have_text("blocked")

    # A proceduralist is refused too, then records anyway with a reason.
    doc = site.page_as("proceduralist", path=path)
    form = open_step_form(doc, "time_out")
    checks = {
        "team_introduced": True,
        "patient_procedure_levels_confirmed": True,
        "imaging_displayed": True,
        "critical_events_reviewed": True,
    }
    fill_fields(form, site, "time_out", checks)
    form.get_by_role("button", name="Record", exact=True).click()
    card = doc.locator("#step-time_out")
    expect(card.get_by_role("alert")).to_contain_text("not done")
    reason = card.get_by_label("Reason to record anyway")
    expect(reason).to_have_attribute("required", "")
    screenshot(doc, "case-gate-refusal")
    # The checkboxes kept their values; the reason is required before the form goes.
    expect(card.get_by_label("Team introduced")).to_be_checked()
    card.get_by_role("button", name="Record anyway").click()
    assert reason.evaluate("e => e.validity.valueMissing")
    reason.fill("Emergency decompression; prep done in bay")
    card.get_by_role("button", name="Record anyway").click()
    expect(doc.locator("#saved-notice")).to_have_text("Time-out recorded (override)")
    card = doc.locator("#step-time_out")
    expect(card.locator("header .badge")).to_have_text("done")
    expect(card.locator(".done-by .override")).to_have_text("override")
    expect(doc.locator(".history")).to_contain_text(
        "override: Emergency decompression; prep done in bay"
    )
    screenshot(doc, "case-override")

    doc.get_by_role("link", name=re.compile("^Board of ")).click()
    row = doc.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_contain_text(code)
    expect(row.locator(".override")).to_have_text("override")
    screenshot(doc, "board-override")


def _amend(page: Page, site: Site, item: Locator, step: str, fields: dict[str, FieldValue]) -> None:
    """Correct one history entry through its "Amend or void" form."""
    open_amend_form(item)
    fill_fields(item.locator("form").first, site, step, fields)
    item.get_by_label("Reason for the correction").fill(f"Corrected {', '.join(fields)}")
    item.get_by_role("button", name="Save correction").click()
    expect(page.locator("#saved-notice")).to_have_text("Correction recorded")


def test_entries_are_amended_and_voided_from_the_history(site: Site) -> None:
    case_id, _ = site.open_case(
        mrn="MRN-A4001",
        given_name="Amos",
        family_name="Amendola",
        birth_date="1939-07-04",
        levels=["L1"],
    )
    # Entries from a device through the API: UTC times with seconds, lists and rows.
    start = site.now().replace(microsecond=0) - timedelta(minutes=20, seconds=17)
    site.check_in_api(case_id, at=start, escort_name="Sam")
    site.record_api(
        "nurse",
        case_id,
        "medication_review",
        at=start + timedelta(minutes=2),
        data={
            "medications": [
                {"name": "alendronate", "kind": "prescription"},
                {
                    "name": "apixaban",
                    "kind": "prescription",
                    "last_taken_at": (start - timedelta(hours=30)).isoformat(),
                },
            ],
            "allergies": ["sulfa"],
            "antithrombotics": [
                {"drug": "apixaban", "last_dose_at": (start - timedelta(hours=80)).isoformat()}
            ],
        },
    )
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    record(
        nurse,
        site,
        "preop_vitals",
        at=start + timedelta(minutes=5),
        fields={**VITALS, "pain_score": 5},
    )
    record(
        nurse,
        site,
        "back_assessment",
        at=start + timedelta(minutes=6),
        fields={
            "pain_score": 5,
            "leg_strength": "normal",
            "leg_sensation": "normal",
            "bladder_bowel": "normal",
        },
    )
    history = nurse.locator(".history")

    vitals = history.locator("li", has_text="Pre-op vitals at")
    _amend(nurse, site, vitals, "preop_vitals", {"heart_rate": 84})
    # The original stays readable beside its correction.
    expect(vitals).to_contain_text("Heart rate: 72 /min")
    # ...marked as amended, and the correction says which entry it corrects.
    expect(vitals).to_contain_text("amended later")
    expect(history.locator("li", has_text="Amended:")).to_have_text(
        re.compile(
            r"Amended: Heart rate: 84 /min — reason: Corrected heart_rate\s+"
            r"corrects #\d+ Pre-op vitals\s*$"
        )
    )
    expect(nurse.locator("#step-preop_vitals tbody")).to_contain_text("84")
    expect(nurse.locator("#step-preop_vitals tbody")).to_contain_text("(amended)")

    # Correcting one field leaves the others as they were: times, lists and rows
    # recorded elsewhere come back from the form unchanged.
    medication = history.locator("li", has_text="Medication review at")
    _amend(nurse, site, medication, "medication_review", {"allergies": "sulfa\ncodeine"})
    expect(history.locator("li", has_text="Amended:").last).to_have_text(
        re.compile(
            r"Amended: Allergies: sulfa, codeine — reason: Corrected allergies\s+"
            r"corrects #\d+ Medication review\s*$"
        )
    )
    expect(medication).to_contain_text("drug: apixaban")
    desk = site.page_as("front_desk", path=f"/cases/{case_id}")
    check_in = desk.locator(".history li", has_text="Check-in at")
    _amend(desk, site, check_in, "check_in", {"escort_name": "Samuel Amendola"})
    expect(desk.locator(".history li", has_text="Amended:").last).to_have_text(
        re.compile(
            r"Amended: Escort name: Samuel Amendola — reason: Corrected escort_name\s+"
            r"corrects #\d+ Check-in\s*$"
        )
    )
    expect(desk.locator("#step-check_in")).to_contain_text("(amended)")

    back = history.locator("li", has_text="Back assessment at")
    open_amend_form(back)
    back.get_by_label("Reason to void this entry").fill("Wrong patient's chart")
    back.get_by_role("button", name="Void entry").click()
    expect(nurse.locator("#saved-notice")).to_have_text("Entry voided")
    expect(back.locator(".badge")).to_have_text("voided")
    expect(history).to_contain_text("Voided — reason: Wrong patient's chart")
    expect(nurse.locator("#step-back_assessment header .badge")).to_have_text("due")
    screenshot(nurse, "case-history-amended")


def _count_live_swaps(page: Page) -> None:
    """Mark the page (a reload would drop the mark) and count the live refreshes it takes."""
    page.locator("[data-live-open]").wait_for(state="attached")  # the stream is open
    page.evaluate(
        """() => {
            window.liveSwaps = 0;
            const region = document.querySelector("[data-live-refresh]");
            region.addEventListener("htmx:afterSwap", (e) => {
                if (e.target === region) { window.liveSwaps += 1; }
            });
        }"""
    )


def test_boards_in_other_contexts_follow_a_recording_without_reload(site: Site) -> None:
    case_id, code = site.open_case(
        mrn="MRN-L5001",
        given_name="Lena",
        family_name="Livorno",
        birth_date="1952-03-08",
        levels=["L4"],
    )
    day = site.day_of(case_id)
    board = site.page_as("anesthesia", path=f"/board?date={day}")
    family = site.page_as("viewer", path=f"/family?date={day}")
    row = board.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_contain_text("Scheduled")
    family_row = family.locator("#family tr", has_text=code)
    expect(family_row).to_contain_text("Expected today")
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    for page in (board, family, nurse):
        _count_live_swaps(page)

    now = site.now()
    record(
        nurse,
        site,
        "check_in",
        at=now,
        fields={
            "identity_confirmed": True,
            "consent_signed": True,
            "last_solids_at": now - timedelta(hours=9),
            "last_clear_fluids_at": now - timedelta(hours=3),
        },
    )
    expect(row).to_contain_text("Pre-op")
    expect(family_row).to_contain_text("Getting ready")
    for page in (board, family):
        assert page.evaluate("() => window.liveSwaps") >= 1
    screenshot(board, "board-live")
    screenshot(family, "family-live")

    # The nurse's own page refreshes too, and keeps its "recorded" confirmation.
    nurse.wait_for_function("() => window.liveSwaps >= 1")
    expect(nurse.locator("#saved-notice")).to_have_text("Check-in recorded")

    # A form being filled in is not swapped away when someone else records: a notice
    # offers the refresh instead.
    fill_fields(open_step_form(nurse, "preop_vitals"), site, "preop_vitals", {"heart_rate": 66})
    site.record_api(
        "anesthesia",
        case_id,
        "anesthesia_consult",
        at=now + timedelta(minutes=1),
        data={"plan": "general", "asa_class": 2, "mallampati": 1},
    )
    notice = nurse.locator("#live-notice")
    expect(notice).to_contain_text("This page changed elsewhere")
    expect(nurse.locator("#step-preop_vitals [name='f.heart_rate']")).to_have_value("66")
    expect(nurse.locator("#step-anesthesia_consult header .badge")).to_have_text("due")
    notice.get_by_role("button", name="Show the latest").click()
    expect(nurse.locator("#step-anesthesia_consult header .badge")).to_have_text("done")
    expect(notice).to_have_count(0)
    for page in (board, family, nurse):
        assert page.evaluate("() => window.liveSwaps") >= 1  # never reloaded


def _recorder(site: Site, case_id: str, t0: datetime) -> Callable[..., None]:
    """Record steps of one case through the API at minutes after `t0`."""

    def api(name: str, step: str, minute: float, data: dict[str, object] | None = None) -> None:
        site.record_api(name, case_id, step, at=t0 + timedelta(minutes=minute), data=data)

    return api


def _to_recovery_through_the_api(site: Site, case_id: str, t0: datetime, *, leak: str) -> None:
    """A 2.0 case from check-in to arrival in recovery (t0 + 62 min), recorded by the API."""
    api = _recorder(site, case_id, t0)

    site.check_in_api(case_id, at=t0)
    api("nurse", "preop_vitals", 2, {**VITALS, "pain_score": 5})
    api(
        "nurse", "medication_review", 4, {"medications": [], "allergies": [], "antithrombotics": []}
    )
    api("nurse", "back_assessment", 6, {"pain_score": 6, **NORMAL_LEGS})
    api(
        "proceduralist",
        "imaging_review",
        8,
        {"modality": "ct", "levels_confirmed": ["T12"], "findings": "T12 fracture"},
    )
    api(
        "anesthesia",
        "anesthesia_consult",
        10,
        {"plan": "local_sedation", "asa_class": 2, "mallampati": 2},
    )
    api("nurse", "antibiotic_given", 30, {"drug": "cefazolin", "dose_mg": 2000, "route": "iv"})
    api(
        "nurse",
        "sign_in",
        32,
        dict.fromkeys(SIGN_IN, True),
    )
    api("nurse", "in_room", 40)
    api("nurse", "positioned_prone", 41)
    api("anesthesia", "anesthesia_start", 42, {"type": "local_sedation"})
    api("nurse", "site_prepped", 43, {"shaved": False, "draped": True})
    api(
        "proceduralist",
        "time_out",
        44,
        dict.fromkeys(TIME_OUT, True),
    )
    api("proceduralist", "level_confirmed", 45, {"level": "T12", "method": "fluoroscopy"})
    api("proceduralist", "incision", 46)
    api("proceduralist", "trocar_placed", 47, {"level": "T12", "approach": "bipedicular"})
    api(
        "proceduralist",
        "balloon_inflated",
        49,
        {"level": "T12", "max_pressure_psi": 150, "volume_ml": 3},
    )
    api("proceduralist", "balloon_removed", 51, {"level": "T12"})
    api(
        "proceduralist",
        "cement_injected",
        53,
        {"level": "T12", "volume_ml": 4, "leakage": "major", "leakage_site": leak},
    )
    api("proceduralist", "final_imaging", 55, {"cement_distribution_ok": False, "leakage": "major"})
    api("nurse", "dressing_applied", 56, {"pressure_applied": True, "sutures": True})
    api(
        "nurse",
        "sign_out",
        57,
        dict.fromkeys(SIGN_OUT, True),
    )
    api("anesthesia", "anesthesia_end", 57)
    api("nurse", "out_of_room", 60)
    api("nurse", "pacu_arrival", 62)


def test_the_reviews_unsafe_patient_goes_home_only_with_a_physicians_override(
    site: Site,
) -> None:
    """No recovery vitals, both legs weak and a new bladder change, a major leak into the
    spinal canal, warning signs never explained: the nurse is refused with every reason
    in words and offered no way round; a proceduralist records it anyway with a reason."""
    case_id, _ = site.open_case(
        mrn="MRN-U7001",
        given_name="Uma",
        family_name="Unsafe",
        birth_date="1942-06-02",
        levels=["T12"],
    )
    t0 = site.now() - timedelta(minutes=150)
    _to_recovery_through_the_api(site, case_id, t0, leak="epidural")

    api = _recorder(site, case_id, t0)
    api(
        "nurse",
        "neuro_check",
        70,
        {"leg_strength": "reduced_both", "leg_sensation": "normal", "bladder_bowel": "abnormal"},
    )
    api(
        "nurse",
        "aldrete_score",
        100,
        dict.fromkeys(ALDRETE, 2),
    )
    api(
        "nurse",
        "padss_score",
        105,
        dict.fromkeys(PADSS, 2),
    )
    api(
        "nurse",
        "discharge_consult",
        110,
        {
            "medications_reviewed": True,
            "physical_therapy": "not_needed",
            "warning_signs_explained": False,
            "instructions_given": True,
        },
    )
    api("proceduralist", "discharge_order", 112, {"post_anesthesia_assessed": True})
    api(
        "nurse",
        "transport_confirmed",
        114,
        {"escort_name": "Ola", "escort_present": True, "no_driving_acknowledged": True},
    )

    path = f"/cases/{case_id}"
    nurse = site.page_as("nurse", path=path)
    open_step_form(nurse, "discharged").get_by_role("button", name="Record").click()
    said = nurse.locator("#step-discharged [role=alert]")
    for reason in (
        "Discharge consult: warning signs not explained",
        "No recovery vitals recorded",
        "Active alert: New neurological deficit",
        "Active alert: Cement leakage: major; site epidural at T12",
        "Active alert: Recovery vitals overdue",
    ):
        expect(said).to_contain_text(reason)
    expect(
        nurse.locator("#step-discharged").get_by_role("button", name="Record anyway")
    ).to_have_count(0)
    expect(nurse.locator("#step-discharged header .badge")).to_have_text("blocked")
    screenshot(nurse, "case-unsafe-discharge-refused")

    doc = site.page_as("proceduralist", path=path)
    card = doc.locator("#step-discharged")
    open_step_form(doc, "discharged").get_by_role("button", name="Record").click()
    card.get_by_label("Reason to record anyway").fill(
        "Reviewed with the spine surgeon; plan agreed"
    )
    card.get_by_role("button", name="Record anyway").click()
    expect(doc.locator("#saved-notice")).to_have_text("Discharged home recorded (override)")
    expect(doc.locator(".case-head")).to_contain_text("Phase Discharged")
    doc.get_by_role("link", name="Patient view").click()
    sheet = doc.locator(".sheet")
    expect(sheet).to_contain_text("You have stitches.")
    expect(doc.locator("main")).not_to_contain_text("Cement leakage")
    expect(doc.locator("main")).not_to_contain_text("override")
