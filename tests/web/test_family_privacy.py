"""The family board never shows PHI (issue 4, item 4): a search of the rendered pages.

Cases of today carry names, MRNs, birth dates, levels, alerts and free text in every
field that takes it. What to look for is read back from the API for every case of the
day (not only the ones seeded here): the patient, the levels, each alert's code and
message, and every free-text value and reason in the history. The viewer's /family page
and an admin-made display link, full pages and the parts their live refresh fetches,
are searched for each of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from daycase.config import Settings
from daycase.engine.load import builtin_pathway
from daycase.pathways.schema import FieldSpec, Pathway
from daycase.services.accounts import User
from daycase.services.centre_setup import parse_setup
from daycase.services.runtime import open_runtime
from tests.support.clock import OFFSET
from tests.web.served import DESKTOP, Site, screenshot


@dataclass(frozen=True)
class Seeded:
    codes: list[str]
    day: date


def _check_in(start: datetime, escort: str, phone: str) -> dict[str, Any]:
    return {
        "identity_confirmed": True,
        "consent_signed": True,
        "last_solids_at": (start - timedelta(hours=10)).isoformat(),
        "last_clear_fluids_at": (start - timedelta(hours=4)).isoformat(),
        "escort_name": escort,
        "escort_phone": phone,
    }


@pytest.fixture(scope="module")
def seeded(site: Site) -> Seeded:
    """Four cases of today in different states, with PHI and alerts wherever they fit.

    Returns their family codes and their day.
    """
    now = site.now()
    start = now - timedelta(minutes=110)
    opened = [
        site.open_case(
            mrn=mrn,
            given_name=given,
            family_name=family,
            birth_date=born,
            levels=levels,
            scheduled_start=now - timedelta(hours=2),
        )
        for mrn, given, family, born, levels in [
            ("MRN-778812", "Zelda", "Quimby", "1944-05-17", ["T11", "T12"]),
            ("MRN-903311", "Ignatius", "Vreeland", "1937-11-02", ["L5"]),
            ("MRN-4471-B", "Octavia", "Pemberton-Ruiz", "1962-12-09", ["S1"]),
            ("MRN-118830", "Rupert", "Quellington", "1955-01-30", ["T10"]),
        ]
    ]
    (waiting, _), (running, _), _, (cancelled, _) = opened

    # Waiting in pre-op, with allergies, medicines and two warnings.
    site.record_api(
        "front_desk",
        waiting,
        "check_in",
        at=start,
        data=_check_in(start, "Bartholomew Fennimore", "555-0142"),
    )
    site.record_api(
        "nurse",
        waiting,
        "medication_review",
        at=start + timedelta(minutes=5),
        data={
            "medications": [{"name": "warfarin", "kind": "prescription"}],
            "allergies": ["sulfonamide"],
            "antithrombotics": [
                {"drug": "warfarin", "last_dose_at": (start - timedelta(hours=20)).isoformat()}
            ],
        },
    )
    site.record_api(
        "nurse",
        waiting,
        "blood_tests",
        at=start + timedelta(minutes=6),
        data={"inr": 2.1, "platelets": 40, "hemoglobin": 12, "pregnancy_test": "not_applicable"},
    )
    site.record_api(
        "anesthesia",
        waiting,
        "anesthesia_consult",
        at=start + timedelta(minutes=8),
        data={"plan": "general", "asa_class": 3, "mallampati": 2},
    )
    site.record_api(
        "nurse",
        waiting,
        "anxiolytic_given",
        at=start + timedelta(minutes=9),
        data={"drug": "Lorazepamoid", "dose_mg": 1, "route": "oral"},
    )

    # In the room for well over 90 min, by override, with a wrong level and a complication.
    site.record_api(
        "front_desk",
        running,
        "check_in",
        at=start,
        data=_check_in(start, "Philippa Strand", "555-0199"),
    )
    site.record_api(
        "proceduralist",
        running,
        "imaging_review",
        at=start + timedelta(minutes=2),
        data={"modality": "mri", "levels_confirmed": ["L4"], "findings": "Periwinkle wedge"},
    )
    site.record_api(
        "proceduralist",
        running,
        "in_room",
        at=start + timedelta(minutes=5),
        override_reason="Override because Xylophone",
    )
    site.record_api(
        "nurse",
        running,
        "complication",
        at=start + timedelta(minutes=20),
        data={"kind": "bleeding", "severity": "major", "note": "Complication note Marmalade"},
    )

    site.record_api(
        "front_desk",
        cancelled,
        "cancelled",
        at=now - timedelta(minutes=5),
        data={"reason": "Cancelled because Tangerine"},
    )
    return Seeded(codes=[code for _, code in opened], day=site.day_of(waiting))


# ------------------------------------------------------------------ what must not show


def _texts(spec: FieldSpec | None, value: Any) -> list[str]:
    """The free-text values of one field (text, lists of text, rows with text columns)."""
    if spec is None:
        return []
    if spec.type == "text" and isinstance(value, str):
        return [value]
    if spec.type == "list" and isinstance(value, list):
        if spec.fields is None:
            return [v for v in value if isinstance(v, str)]
        return [
            text
            for row in value
            if isinstance(row, dict)
            for name, cell in row.items()
            for text in _texts(spec.fields.get(name), cell)
        ]
    return []


def _birth_formats(born: date) -> list[str]:
    return [
        born.isoformat(),
        born.strftime("%m/%d/%Y"),
        f"{born.month}/{born.day}/{born.year}",
        born.strftime("%d/%m/%Y"),
        born.strftime("%d.%m.%Y"),
        born.strftime("%Y%m%d"),
        born.strftime("%d %B %Y"),
        f"{born.day} {born:%B %Y}",
        f"{born:%B} {born.day}, {born.year}",
        born.strftime("%d %b %Y"),
        born.strftime("%b %d, %Y"),
    ]


def _case_phi(events: list[dict[str, Any]], alerts: list[dict[str, Any]], p: Pathway) -> set[str]:
    phi: set[str] = set()
    step_of: dict[str, str] = {}
    for e in events:
        if e["kind"] == "CaseOpened":
            patient = e["patient"]
            phi |= {patient["mrn"], patient["given_name"], patient["family_name"]}
            phi |= set(_birth_formats(date.fromisoformat(patient["birth_date"])))
            continue
        step = step_of.setdefault(e["event_id"], e.get("step") or step_of[e["target_event_id"]])
        fields = p.step(step).fields
        for name, value in (e.get("data") or {}).items():
            phi |= set(_texts(fields.get(name), value))
        phi |= {r for r in (e.get("override_reason"), e.get("reason")) if r}
    for a in alerts:
        phi |= {a["code"], a["message"]}
    return phi


def _phi_of_the_day(site: Site, day: date) -> tuple[set[str], set[str]]:
    """(strings, levels) that must not show, for every case of that day."""
    pathway = builtin_pathway("kyphoplasty")
    strings = {a.code for a in pathway.alerts} | {a.title for a in pathway.alerts if a.title}
    levels: set[str] = set()
    with site.server.client(site.server.token("nurse")) as nurse:
        for summary in nurse.get("/api/v1/cases", params={"date": day.isoformat()}).json():
            case = nurse.get(f"/api/v1/cases/{summary['id']}").json()
            events = nurse.get(f"/api/v1/cases/{summary['id']}/events").json()
            strings |= _case_phi(events, case["alerts"], pathway)
            levels |= set(summary["levels"])
    assert {"Zelda", "MRN-903311", "1955-01-30", "sulfonamide", "Periwinkle wedge"} <= strings
    assert {"complication_major", "Override because Xylophone", "T12", "L5"} <= strings | levels
    return strings, levels


def _phi_found(html: str, strings: set[str], levels: set[str]) -> list[str]:
    html = f"{html}\n{unescape(html)}"  # "O'Neil" may be serialised as "O&#39;Neil"
    lowered = html.lower()
    found = sorted(s for s in strings if s.lower() in lowered)
    # A level is a token of its own (family codes have no L, S, 0, 1, 2, 5 or 8).
    found += sorted(lv for lv in levels if re.search(rf"(?<![A-Za-z0-9]){lv}(?![A-Za-z0-9])", html))
    return found


def _search(site: Site, page: Page, refresh_path: str, seeded: Seeded) -> None:
    strings, levels = _phi_of_the_day(site, seeded.day)
    codes = seeded.codes
    html = page.content()
    for code in codes:
        assert code in html, f"{code} is not on the board"
    assert "Taking a little longer than planned" in html
    assert _phi_found(html, strings, levels) == []
    # The part the page fetches for its live refresh is searched as well.
    part = page.request.get(site.url(refresh_path), headers={"HX-Request": "true"})
    assert part.ok
    assert all(code in part.text() for code in codes)
    assert _phi_found(part.text(), strings, levels) == []


def test_the_viewers_family_board_shows_no_phi(site: Site, seeded: Seeded) -> None:
    page = site.page_as("viewer", path=f"/family?date={seeded.day}")
    _search(site, page, f"/family?date={seeded.day}", seeded)
    screenshot(page, "family-board-phi-search")
    # The search is not blind: the staff board of the same day shows names, levels, alerts.
    staff = site.page_as("nurse", path=f"/board?date={seeded.day}")
    found = set(_phi_found(staff.content(), *_phi_of_the_day(site, seeded.day)))
    assert {"Zelda", "Quimby", "T12", "L5", "Blood thinner not held"} <= found


def _in_rooms(site: Site, seeded: Seeded) -> None:
    """The day's cases booked into the first room of the set-up (one is made if none)."""
    with site.server.client(site.server.token("nurse")) as nurse:
        plan = nurse.get("/api/v1/schedule", params={"date": seeded.day.isoformat()}).json()
        if not plan["rooms"]:
            runtime = open_runtime(
                Settings(db=site.server.db_url, clock_offset_seconds=OFFSET.total_seconds())
            )
            try:
                runtime.change_setup(
                    parse_setup({"rooms": [{"id": "PX", "name": "Privacy room"}]}),
                    by=User("admin", "admin"),
                    expected_version=runtime.setup.current().version,
                )
            finally:
                runtime.close()
            plan = nurse.get("/api/v1/schedule", params={"date": seeded.day.isoformat()}).json()
        room = plan["rooms"][0]["room"]
        for case in plan["unplaced"]:
            r = nurse.post(
                "/api/v1/schedule/place", json={"case_id": case["case_id"], "room": room}
            )
            assert r.status_code in (200, 409), r.text


def test_a_display_link_shows_no_phi_and_can_be_revoked(site: Site, seeded: Seeded) -> None:
    admin = site.page_as("admin", path="/admin/displays")
    admin.get_by_label("Where the screen is").fill("Waiting room east")
    admin.get_by_role("button", name="Make a new link").click()
    link = admin.get_by_role("status").locator("code").first.inner_text()
    assert link.startswith(site.url("/display/"))
    token = link.rsplit("/", 1)[-1]
    assert len(token) >= 32
    screenshot(admin, "admin-display-links")

    screen = site.anonymous(viewport=DESKTOP)
    screen.goto(f"{link}?date={seeded.day}")
    expect(screen.get_by_role("heading", level=1)).to_have_text("Today's patients")
    _search(site, screen, f"/display/{token}?date={seeded.day}", seeded)
    screenshot(screen, "display-link-board")

    # The same link shows the room board on a staff-area screen: codes, never names.
    _in_rooms(site, seeded)
    screen.goto(f"{link}/rooms?date={seeded.day}")
    strings, levels = _phi_of_the_day(site, seeded.day)
    for html in (
        screen.content(),
        screen.request.get(
            f"{link}/rooms?date={seeded.day}", headers={"HX-Request": "true"}
        ).text(),
    ):
        # Not blind: the room board shows the codes of the cases it lists.
        assert any(code in html for code in seeded.codes)
        assert _phi_found(html, strings, levels) == []
    staff = site.page_as("nurse", path=f"/rooms?date={seeded.day}")
    assert {"Zelda", "Quimby"} <= set(_phi_found(staff.content(), strings, levels))

    row = admin.get_by_role("row", name="Waiting room east")
    row.get_by_role("button", name="Revoke").click()
    expect(admin.get_by_role("row", name="Waiting room east")).to_contain_text("revoked")
    response = screen.goto(link)
    assert response is not None
    assert response.status == 404
    expect(screen.get_by_role("heading", level=1)).to_have_text("This screen link no longer works")
