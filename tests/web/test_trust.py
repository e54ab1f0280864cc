"""Times and corrections staff can trust, in the browser (issue 8, part 1).

An amendment changes only what the user changed, whatever the form shows (any number of
rows, every level); the clinical time defaults to the moment Record is pressed; a
physician refused on role may record anyway; an impossible corrected time is a field
problem, not a server error; and a save that fails says so and keeps the form.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.checklists import VITALS
from tests.web.served import Site, fill_fields, open_amend_form, open_step_form, screenshot


def _case(site: Site, mrn: str, levels: list[str]) -> tuple[str, datetime]:
    case_id, _ = site.open_case(
        mrn=mrn, given_name="Tess", family_name="Trust", birth_date="1950-02-02", levels=levels
    )
    start = site.now().replace(microsecond=0) - timedelta(minutes=30)
    site.check_in_api(case_id, at=start)
    return case_id, start


def _events(site: Site, case_id: str) -> list[dict[str, Any]]:
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.get(f"/api/v1/cases/{case_id}/events")
    r.raise_for_status()
    events: list[dict[str, Any]] = r.json()
    return events


def _amend_form(page: Page, history_text: str) -> Any:
    item = page.locator(".history li", has_text=history_text)
    return open_amend_form(item)


def test_an_amendment_keeps_every_level_it_does_not_show_changed(site: Site) -> None:
    """Levels confirmed as [L1, S1] on a case planned at L1: the mismatch alert must stay
    when only the findings are corrected (the form once offered T and L levels only)."""
    case_id, start = _case(site, "MRN-T8001", ["L1"])
    site.record_api(
        "proceduralist",
        case_id,
        "imaging_review",
        at=start + timedelta(minutes=2),
        data={"modality": "mri", "levels_confirmed": ["L1", "S1"], "findings": "two levels"},
    )
    doc = site.page_as("proceduralist", path=f"/cases/{case_id}")
    item = _amend_form(doc, "Imaging review at")
    expect(item.get_by_label("S1", exact=True)).to_be_checked()
    fill_fields(item.locator("form").first, site, "imaging_review", {"findings": "L1 and S1"})
    item.get_by_label("Reason for the correction").fill("Typed the findings short")
    item.get_by_role("button", name="Save correction").click()
    expect(doc.locator("#saved-notice")).to_have_text("Correction recorded")
    amendment = _events(site, case_id)[-1]
    assert amendment["kind"] == "EventAmended"
    assert amendment["data"] == {"findings": "L1 and S1"}
    expect(doc.locator(".alerts")).to_contain_text("Imaging confirmed L1, S1 but the plan is L1")


def test_an_amendment_keeps_every_row_of_a_long_medication_list(site: Site) -> None:
    case_id, start = _case(site, "MRN-T8002", ["L2"])
    drugs = [{"name": f"drug {n}", "kind": "prescription"} for n in range(1, 8)]
    site.record_api(
        "nurse",
        case_id,
        "medication_review",
        at=start + timedelta(minutes=2),
        data={
            "medications": drugs,
            "allergies": ["penicillin (rash, hives)"],
            "antithrombotics": [],
        },
    )
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    item = _amend_form(nurse, "Medication review at")
    expect(item.get_by_label("Name 7", exact=True)).to_have_value("drug 7")
    allergies = item.get_by_label("Allergies")
    expect(allergies).to_have_value("penicillin (rash, hives)")
    allergies.fill("penicillin (rash, hives)\nsoy")
    item.get_by_label("Reason for the correction").fill("Forgot soy")
    item.get_by_role("button", name="Save correction").click()
    expect(nurse.locator("#saved-notice")).to_have_text("Correction recorded")
    # An allergy whose words hold a comma stays one allergy.
    assert _events(site, case_id)[-1]["data"] == {"allergies": ["penicillin (rash, hives)", "soy"]}
    expect(nurse.locator(".history li", has_text="Medication review at")).to_contain_text("drug 7")


def test_the_clinical_time_is_when_record_is_pressed(site: Site) -> None:
    case_id, _ = _case(site, "MRN-T8003", ["L3"])
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    form = open_step_form(nurse, "preop_vitals")
    expect(form.locator('[name="at"]')).to_have_value("")
    fill_fields(form, site, "preop_vitals", VITALS)
    form.get_by_role("button", name="Record", exact=True).click()
    expect(nurse.locator("#saved-notice")).to_have_text("Pre-op vitals recorded")
    recorded = _events(site, case_id)[-1]
    at = datetime.fromisoformat(recorded["at"])
    assert abs((datetime.fromisoformat(recorded["recorded_at"]) - at).total_seconds()) < 2


def test_a_physician_refused_on_role_may_record_anyway(site: Site) -> None:
    case_id, _ = _case(site, "MRN-T8004", ["L4"])
    doc = site.page_as("proceduralist", path=f"/cases/{case_id}")
    form = open_step_form(doc, "preop_vitals")
    fill_fields(form, site, "preop_vitals", VITALS)
    form.get_by_role("button", name="Record", exact=True).click()
    card = doc.locator("#step-preop_vitals")
    expect(card.get_by_role("alert")).to_have_text(
        "A Proceduralist user may not record Pre-op vitals"
    )
    card.get_by_label("Reason to record anyway").fill("Nurse called away to an emergency")
    card.get_by_role("button", name="Record anyway").click()
    expect(doc.locator("#saved-notice")).to_have_text("Pre-op vitals recorded (override)")


def test_correction_forms_are_offered_only_to_who_may_correct(site: Site) -> None:
    """A correction is the author's role's, or a physician's: the nurse gets no form for
    the front desk's check-in, the proceduralist does."""
    case_id, _ = _case(site, "MRN-T8006", ["L5"])
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    check_in = nurse.locator(".history li", has_text="Check-in at")
    expect(check_in).to_be_visible()
    expect(check_in.get_by_text("Amend or void")).to_have_count(0)
    doc = site.page_as("proceduralist", path=f"/cases/{case_id}")
    expect(
        doc.locator(".history li", has_text="Check-in at").get_by_text("Amend or void")
    ).to_have_count(1)


def test_an_impossible_corrected_time_is_a_field_problem(site: Site) -> None:
    case_id, _ = _case(site, "MRN-T8005", ["L5"])
    # The front desk recorded the check-in, so the front desk may correct it.
    nurse = site.page_as("front_desk", path=f"/cases/{case_id}")
    item = _amend_form(nurse, "Check-in at")
    item.locator('[name="at"]').fill("9999-12-31T23:59")
    item.get_by_label("Reason for the correction").fill("Clock typo")
    item.get_by_role("button", name="Save correction").click()
    expect(item.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    expect(nurse.locator(".history")).not_to_contain_text("Amended:")


def test_a_save_that_fails_says_so_and_keeps_the_form(site: Site) -> None:
    """With another process holding the SQLite write lock, Record says it did not save;
    once the lock is gone, pressing it again saves what was typed."""
    case_id, _ = _case(site, "MRN-T8006", ["T12"])
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    form = open_step_form(nurse, "preop_vitals")
    fill_fields(form, site, "preop_vitals", VITALS)
    path = site.server.db_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")
        form.get_by_role("button", name="Record", exact=True).click()
        failed = nurse.locator(".save-failed")
        expect(failed).to_contain_text("Not saved", timeout=30_000)
        screenshot(nurse, "case-save-failed")
        expect(form.locator('[name="f.heart_rate"]')).to_have_value("72")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    form.get_by_role("button", name="Record", exact=True).click()
    expect(nurse.locator("#saved-notice")).to_have_text("Pre-op vitals recorded")
    assert [e["step"] for e in _events(site, case_id) if e.get("step") == "preop_vitals"] == [
        "preop_vitals"
    ]


def test_refusals_and_choices_are_in_the_words_staff_read(site: Site) -> None:
    """A field problem names the field as the form labels it; choices read as words."""
    case_id, _ = _case(site, "MRN-T8007", ["L5"])
    nurse = site.page_as("nurse", path=f"/cases/{case_id}")
    form = open_step_form(nurse, "preop_vitals")
    fill_fields(form, site, "preop_vitals", {**VITALS, "bp_systolic": 120, "bp_diastolic": 125})
    form.get_by_role("button", name="Record", exact=True).click()
    card = nurse.locator("#step-preop_vitals")
    expect(card.get_by_role("alert")).to_have_text("Diastolic BP must be below Systolic BP (120)")
    expect(card.locator(".error")).to_have_text("must be below Systolic BP (120)")
    anesthesia = site.page_as("anesthesia", path=f"/cases/{case_id}")
    consult = open_step_form(anesthesia, "anesthesia_consult")
    plan = consult.get_by_label("Anesthesia plan")
    expect(plan.locator("option")).to_have_text(["Choose…", "General", "Local with sedation"])
    expect(anesthesia.get_by_text("Record WHO Sign In")).to_be_visible()
