"""The centre manager's set-up page, in Chromium as a manager uses it (web tests).

Rooms are typed one per line; a wrong line is named and nothing is stored; a saved change
is a new version with who made it and why; a form made from an older version is refused;
and clinical staff cannot open the page.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.served import Site, screenshot

ROOMS = "\n".join(
    [
        "PR1 | Procedure room 1 | procedure room | 07:00-17:30",
        "IR1 | IR suite 1 | IR suite | 07:30-18:00",
    ]
)


def save(page: Page, *, rooms: str, note: str) -> None:
    page.get_by_label("Rooms").fill(rooms)
    page.get_by_label("Recovery bays").fill("R1 | Recovery 1\n\nR2 | Recovery 2")
    page.get_by_label("Why (kept with the change)").fill(note)
    page.get_by_role("button", name=re.compile(r"^Save as version")).click()


def test_a_manager_sets_up_rooms_and_bays(site: Site) -> None:
    page = site.page_as("admin", path="/admin/centre")
    expect(page.get_by_role("heading", level=1)).to_have_text("Centre set-up")
    stale = site.page_as("admin", path="/admin/centre")  # a second tab, opened now

    save(page, rooms=ROOMS.replace("07:30-18:00", "18:00-07:30"), note="two rooms")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("Rooms, line 2: closes (07:30) must be after opens (18:00)")
    expect(page.get_by_label("Rooms")).to_have_value(ROOMS.replace("07:30-18:00", "18:00-07:30"))

    save(page, rooms=ROOMS, note="two rooms")
    status = page.get_by_role("status")
    expect(status).to_contain_text(re.compile(r"Saved as version \d+"))
    version = int(re.findall(r"\d+", status.inner_text())[0])
    rooms = page.get_by_role("table").first
    expect(
        rooms.get_by_role("row", name=re.compile("IR suite 1 IR suite 07:30\u201318:00"))
    ).to_be_visible()
    expect(page.get_by_text("Recovery bays: Recovery 1, Recovery 2.")).to_be_visible()
    changes = page.get_by_role("table").last
    expect(changes.get_by_role("row").nth(1)).to_contain_text(f"{version}")
    expect(changes.get_by_role("row").nth(1)).to_contain_text("two rooms")
    screenshot(page, "admin-centre-setup")

    save(stale, rooms=ROOMS + "\nPR9 | Procedure room 9 | procedure room | 08:00-12:00", note="x")
    expect(stale.get_by_role("alert")).to_contain_text("changed by someone else")
    page.reload()
    expect(page.get_by_role("table").first.get_by_text("Procedure room 9")).to_have_count(0)


def test_clinical_staff_cannot_open_the_set_up(site: Site) -> None:
    page = site.page_as("nurse", path="/admin/centre")
    expect(page.get_by_role("textbox", name="Rooms")).to_have_count(0)
    expect(page.get_by_role("link", name="Centre set-up")).to_have_count(0)
