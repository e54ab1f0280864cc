"""Every page passes axe-core and fits a tablet and a wall screen (issue 4, item 6).

Each page, in a state that shows what it can show (alerts, overrides, refusals, field
errors, every recording form opened), is checked at 1024x768 and at 1920x1080: no axe-core
violation of serious or critical impact (lesser ones are reported in the summary), no
sideways scrolling, and a screenshot under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.web.served import (
    BLOCKING_IMPACTS,
    REPORTED,
    VIEWPORTS,
    Site,
    fill_fields,
    open_step_form,
    run_axe,
    screenshot,
    sign_in,
)


@dataclass(frozen=True)
class Scene:
    case_id: str
    family_code: str
    birth_date: str
    display_link: str
    day: date


@pytest.fixture(scope="module")
def scene(site: Site) -> Scene:
    """A case with alerts of each severity, an override, a correction and a voided entry."""
    birth = "1946-08-21"
    case_id, code = site.open_case(
        mrn="MRN-AX001",
        given_name="Agnes",
        family_name="Axelsson",
        birth_date=birth,
        levels=["L1", "L2"],
    )
    site.open_case(
        mrn="MRN-AX002",
        given_name="Bertram",
        family_name="Boardwell",
        birth_date="1950-03-03",
        levels=["T8"],
    )
    start = site.now() - timedelta(minutes=90)
    site.check_in_api(case_id, at=start)
    vitals = {"heart_rate": 130, "bp_systolic": 75, "bp_diastolic": 50, "spo2": 97}
    vitals_id = site.record_api(
        "nurse",
        case_id,
        "preop_vitals",
        at=start + timedelta(minutes=2),
        data={**vitals, "resp_rate": 14, "temperature_c": 36.8, "pain_score": 6},
    )
    site.record_api(
        "nurse",
        case_id,
        "blood_tests",
        at=start + timedelta(minutes=3),
        data={"inr": 1.9, "platelets": 150, "hemoglobin": 12, "pregnancy_test": "not_applicable"},
    )
    site.record_api(
        "proceduralist",
        case_id,
        "imaging_review",
        at=start + timedelta(minutes=4),
        data={"modality": "ct", "levels_confirmed": ["L1", "L2"], "findings": "two fractures"},
    )
    site.record_api(
        "proceduralist",
        case_id,
        "sign_in",
        at=start + timedelta(minutes=5),
        data={
            "identity_site_procedure_consent_confirmed": True,
            "site_marked": True,
            "anesthesia_check_complete": True,
            "pulse_oximeter_on": True,
            "allergies_known": True,
            "airway_risk_assessed": True,
            "blood_loss_risk_assessed": True,
        },
        override_reason="Consult done by phone",
    )
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.post(
            f"/api/v1/cases/{case_id}/events/{vitals_id}/amend",
            json={"reason": "Typed the wrong rate", "data": {"heart_rate": 128}},
        )
        assert r.status_code == 201, r.text
    back = site.record_api(
        "nurse",
        case_id,
        "back_assessment",
        at=start + timedelta(minutes=6),
        data={
            "pain_score": 6,
            "leg_strength": "normal",
            "leg_sensation": "normal",
            "bladder_bowel": "normal",
        },
    )
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.post(
            f"/api/v1/cases/{case_id}/events/{back}/void", json={"reason": "Wrong patient"}
        )
        assert r.status_code == 201, r.text

    admin = site.page_as("admin", path="/admin/displays")
    admin.get_by_label("Where the screen is").fill("Waiting room")
    admin.get_by_role("button", name="Make a new link").click()
    link = admin.get_by_role("status").locator("code").first.inner_text()
    site.close_pages()
    day = site.day_of(case_id)
    return Scene(
        case_id=case_id,
        family_code=code,
        birth_date=birth,
        display_link=f"{link}?date={day}",
        day=day,
    )


# Each page state: sign in as needed, go there, bring it into the state to check.
PageState = Callable[[Site, Scene], Page]


def _login_error(site: Site, scene: Scene) -> Page:
    page = site.anonymous()
    sign_in(page, site, "front_desk", "wrong password")
    expect(page.get_by_role("alert")).to_be_visible()
    return page


def _patient_lookup(site: Site, scene: Scene, *, code: str) -> Page:
    page = site.anonymous()
    page.goto(site.url("/patient"))
    page.get_by_label("Family code").fill(code)
    page.get_by_label("Birth date").fill(scene.birth_date)
    page.get_by_role("button", name="Show my day").click()
    if code == scene.family_code:
        expect(page.get_by_role("heading", level=1)).to_have_text("Your day, Agnes")
    else:
        expect(page.get_by_role("alert")).to_contain_text("We could not find that code")
    return page


def _board(site: Site, scene: Scene) -> Page:
    """Today's board: a critical alert comes first, repeats of one alert are counted."""
    page = site.page_as("nurse", path=f"/board?date={scene.day}")
    badges = page.locator(f'tr[data-case="{scene.case_id}"] .badge')
    expect(badges.first).to_have_text("Vitals out of range")
    expect(badges.first).to_have_class(re.compile(r"\bsev-critical\b"))
    expect(badges.filter(has_text="Late entry")).to_have_text(
        re.compile(r"^Late entry \u00d7[2-9]$")
    )
    return page


def _board_other_day(site: Site, scene: Scene) -> Page:
    """The board of the day before the scene's, through the date picker."""
    page = site.page_as("nurse", path=f"/board?date={scene.day}")
    yesterday = scene.day - timedelta(days=1)
    page.get_by_label("Day").fill(yesterday.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(site.url(f"/board?date={yesterday}"))
    expect(page.get_by_text("No cases on this day.")).to_be_visible()
    return page


def _new_case_errors(site: Site, scene: Scene) -> Page:
    page = site.page_as("nurse", path="/cases/new")
    page.get_by_label("MRN").fill("MRN-AX009")
    page.get_by_label("Given name").fill("Nora")
    page.get_by_label("Family name").fill("Nolevel")
    page.get_by_label("Birth date").fill("1950-01-01")
    page.get_by_label("Scheduled start").fill(site.local_input(site.now()))
    page.get_by_role("button", name="Open case").click()
    expect(page.locator(".error")).to_contain_text("must plan 1 to 6 levels")
    return page


def _case_all_forms_open(site: Site, scene: Scene) -> Page:
    page = site.page_as("proceduralist", path=f"/cases/{scene.case_id}")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    return page


def _case_refused(site: Site, scene: Scene) -> Page:
    """A gate refusal, with the form to record anyway."""
    page = site.page_as("anesthesia", path=f"/cases/{scene.case_id}")
    form = open_step_form(page, "anesthesia_start")
    fill_fields(form, site, "anesthesia_start", {"type": "general"})
    form.get_by_role("button", name="Record").click()
    card = page.locator("#step-anesthesia_start")
    expect(card.get_by_role("button", name="Record anyway")).to_be_visible()
    return page


def _case_field_error(site: Site, scene: Scene) -> Page:
    """A value the engine refuses, shown beside its field."""
    page = site.page_as("anesthesia", path=f"/cases/{scene.case_id}")
    form = open_step_form(page, "intraop_vitals")
    fill_fields(
        form,
        site,
        "intraop_vitals",
        {
            "heart_rate": 80,
            "bp_systolic": 100,
            "bp_diastolic": 120,
            "spo2": 97,
            "resp_rate": 14,
            "temperature_c": 36.5,
        },
    )
    form.get_by_role("button", name="Record").click()
    expect(page.locator("#step-intraop_vitals .error")).not_to_have_count(0)
    return page


def _schedule_all_forms_open(site: Site, scene: Scene) -> Page:
    """The schedule with the scene's case in a room and its change forms opened."""
    with site.server.client(site.server.token("nurse")) as nurse:
        rooms = nurse.get("/api/v1/schedule", params={"date": scene.day.isoformat()}).json()
        if rooms["rooms"]:
            place = {"case_id": scene.case_id, "room": rooms["rooms"][0]["room"]}
            assert nurse.post("/api/v1/schedule/place", json=place).status_code == 200
    page = site.page_as("proceduralist", path=f"/schedule?date={scene.day}")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    return page


PAGES: dict[str, PageState] = {
    "login": lambda site, scene: _goto(site.anonymous(), site, "/login"),
    "login-error": _login_error,
    "patient-lookup": lambda site, scene: _goto(site.anonymous(), site, "/patient"),
    "patient-lookup-error": lambda site, scene: _patient_lookup(site, scene, code="XXXXXX"),
    "patient-view": lambda site, scene: _patient_lookup(site, scene, code=scene.family_code),
    "board": _board,
    "board-other-day": _board_other_day,
    "new-case": lambda site, scene: site.page_as("nurse", path="/cases/new"),
    "new-case-errors": _new_case_errors,
    "case": lambda site, scene: site.page_as("nurse", path=f"/cases/{scene.case_id}"),
    "case-all-forms-open": _case_all_forms_open,
    "case-refused": _case_refused,
    "case-field-error": _case_field_error,
    "case-patient-view": lambda site, scene: site.page_as(
        "nurse", path=f"/cases/{scene.case_id}/patient"
    ),
    "family-viewer": lambda site, scene: site.page_as("viewer", path=f"/family?date={scene.day}"),
    "family-staff": lambda site, scene: site.page_as("nurse", path=f"/family?date={scene.day}"),
    "display-link": lambda site, scene: _goto(site.anonymous(), site, scene.display_link),
    "admin-displays": lambda site, scene: site.page_as("admin", path="/admin/displays"),
    "admin-centre": lambda site, scene: site.page_as("admin", path="/admin/centre"),
    "rooms": lambda site, scene: site.page_as("nurse", path=f"/rooms?date={scene.day}"),
    "rooms-display": lambda site, scene: _goto(
        site.anonymous(), site, scene.display_link.replace("?date=", "/rooms?date=")
    ),
    "schedule-all-forms-open": _schedule_all_forms_open,
    "not-found": lambda site, scene: site.page_as("nurse", path="/cases/no-such-case"),
    "not-allowed": lambda site, scene: site.page_as("viewer", path="/board"),
}


def _goto(page: Page, site: Site, path: str) -> Page:
    page.goto(path if path.startswith("http") else site.url(path))
    return page


@pytest.mark.parametrize("name", list(PAGES))
def test_page_passes_axe_and_fits_both_screens(site: Site, scene: Scene, name: str) -> None:
    page = PAGES[name](site, scene)
    blocking: list[str] = []
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        label = f"{name}-{size}"
        for v in run_axe(page, label):
            (blocking if v.impact in BLOCKING_IMPACTS else REPORTED).append(f"{label}: {v.line()}")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{label} scrolls sideways by {overflow}px"
        screenshot(page, label)
    assert blocking == []
