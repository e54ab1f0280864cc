"""The centre's day in Chromium, tried as a charge nurse would (web tests).

A four-room day whose first cases are late: a reason given on the room board, a reorder and
a cancellation on the schedule page; the room board and the family board follow live (a
check-in, a cancellation) without a reload; a time-based alert appears on an open staff
board with nobody recording anything; the room board fits a phone and a TV.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.centre_setup import parse_setup
from daycase.services.runtime import open_runtime
from tests.support.clock import OFFSET
from tests.support.recovery import in_recovery_since
from tests.web.served import Site, screenshot

ROOMS = [("TA", "Theatre A"), ("TB", "Theatre B"), ("TC", "Theatre C"), ("TD", "Theatre D")]


@pytest.fixture
def four_rooms(site: Site) -> Iterator[None]:
    """Four rooms open all day (the suite runs at any hour), five minutes' grace."""
    runtime = open_runtime(
        Settings(db=site.server.db_url, clock_offset_seconds=OFFSET.total_seconds())
    )
    try:
        current = runtime.setup.current()
        setup = parse_setup(
            {
                "rooms": [
                    {"id": rid, "name": name, "opens": "00:00", "closes": "23:59"}
                    for rid, name in ROOMS
                ],
                "recovery_bays": [{"id": "R1", "name": "Recovery 1"}],
                "first_case_grace_min": 5,
            }
        )
        runtime.change_setup(
            setup, by=User("admin", "admin"), expected_version=current.version, note="rooms test"
        )
        yield
    finally:
        runtime.close()


def place(site: Site, case_id: str, room: str) -> None:
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.post("/api/v1/schedule/place", json={"case_id": case_id, "room": room})
    assert r.status_code == 200, r.text


def _page_showing(site: Site, family: Page, day: str, code: str) -> int:
    """Go to the family board's page that lists `code` (a long day has several)."""
    page = 1
    while True:
        family.goto(site.url(f"/family?date={day}&page={page}"))
        if family.get_by_role("row", name=re.compile(code)).count():
            return page
        found = re.search(r"Page \d+ of (\d+)", family.content())
        assert found is not None, f"{code} is not on the family board"
        assert page < int(found.group(1)), f"{code} is on no page of the family board"
        page += 1


def card(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name)


@pytest.mark.usefixtures("four_rooms")
def test_a_charge_nurse_runs_a_four_room_day(site: Site) -> None:
    booked = site.now() - timedelta(minutes=20)
    cases: dict[str, tuple[str, str]] = {}
    for key, room in [("a1", "TA"), ("a2", "TA"), ("b1", "TB"), ("c1", "TC"), ("d1", "TD")]:
        cases[key] = site.open_case(
            mrn=f"H-room-{key}",
            given_name="Rosa",
            family_name=f"Room{key.upper()}",
            birth_date="1941-03-02",
            levels=["L1"],
            scheduled_start=booked,
        )
        place(site, cases[key][0], room)
    cases["d2"] = site.open_case(
        mrn="H-room-d2",
        given_name="Rosa",
        family_name="RoomD2",
        birth_date="1941-03-02",
        levels=["L1"],
        scheduled_start=booked,
    )
    place(site, cases["d2"][0], "TD")
    day = site.day_of(cases["a1"][0]).isoformat()

    rooms = site.page_as("nurse", path=f"/rooms?date={day}")
    family = site.page_as("viewer", path=f"/family?date={day}")
    expect(rooms.locator("#rooms[data-live-open]")).to_have_count(1)
    theatre_a = card(rooms, "Theatre A")
    expect(theatre_a).to_contain_text("First case late")
    expect(theatre_a).to_contain_text(re.compile(r"Not arrived, 2\d min past booked time"))
    screenshot(rooms, "rooms-late-first-cases")

    # The late first case asks for its reason on the board; once given, it shows instead.
    theatre_a.get_by_label("Why is it late?").select_option(label="Patient late")
    theatre_a.get_by_label("Note").fill("bus was late")
    theatre_a.get_by_role("button", name="Save reason").click()
    expect(card(rooms, "Theatre A")).to_contain_text("Patient late: bus was late")
    expect(card(rooms, "Theatre A").get_by_label("Why is it late?")).to_have_count(0)
    expect(card(rooms, "Theatre B").get_by_label("Why is it late?")).to_have_count(1)

    # A check-in at the front desk reaches the open room board without a reload.
    expect(card(rooms, "Theatre B")).to_contain_text("Not arrived")
    site.check_in_api(cases["b1"][0], at=site.now())
    expect(card(rooms, "Theatre B")).not_to_contain_text("Not arrived", timeout=10_000)

    # Reorder on the schedule page: RoomA1 goes after RoomA2.
    schedule = site.page_as("nurse", path=f"/schedule?date={day}")
    table_a = schedule.get_by_role("region", name=re.compile("^Theatre A"))
    table_a.get_by_role("button", name="Later Rosa RoomA1").click()
    expect(schedule.get_by_role("status")).to_contain_text("Saved")
    table_a = schedule.get_by_role("region", name=re.compile("^Theatre A"))
    expect(table_a.get_by_role("row").nth(1)).to_contain_text("RoomA2")
    expect(table_a.get_by_role("row").nth(2)).to_contain_text("RoomA1")
    expect(card(rooms, "Theatre A")).to_contain_text("Next: Rosa RoomA2", timeout=10_000)

    # Cancel RoomD2 for the day, with a reason from the centre's list.
    table_d = schedule.get_by_role("region", name=re.compile("^Theatre D"))
    row_d2 = table_d.get_by_role("row", name=re.compile("RoomD2"))
    row_d2.get_by_text("Move, delay or cancel Rosa RoomD2").click()
    row_d2.get_by_label("Cancel for today because").select_option(label="Not fasted")
    row_d2.get_by_role("button", name="Cancel case").click()
    table_d = schedule.get_by_role("region", name=re.compile("^Theatre D"))
    expect(table_d.get_by_role("row", name=re.compile("RoomD2"))).to_contain_text(
        "Cancelled Not fasted"
    )
    screenshot(schedule, "schedule-after-changes")
    expect(card(rooms, "Theatre D")).to_contain_text("1 cancelled", timeout=10_000)
    with site.server.client(site.server.token("viewer")) as viewer:
        rows = viewer.get("/api/v1/family-board", params={"date": day}).json()
    assert {r["family_code"]: r["status"] for r in rows}[cases["d2"][1]] == "Not today"

    # The family board follows live too: RoomD1 checks in while the screen shows its page.
    d1_code = cases["d1"][1]
    family_page = _page_showing(site, family, day, d1_code)
    row = family.get_by_role("row", name=re.compile(d1_code))
    expect(row).to_contain_text("Expected today")
    expect(family.locator("#family[data-live-open]")).to_have_count(1)
    site.check_in_api(cases["d1"][0], at=site.now())
    expect(row).to_contain_text("Getting ready", timeout=10_000)
    assert family.url.endswith(f"page={family_page}")


def test_a_time_based_alert_reaches_an_open_board_with_nobody_recording(site: Site) -> None:
    # Recovery vitals fall overdue 15 min after arrival: 8 s from now.
    arrival_at = site.now() - timedelta(minutes=15) + timedelta(seconds=8)
    case_id = in_recovery_since(site.server.db_url, arrival_at, mrn="H-room-tick")
    day = site.day_of(case_id).isoformat()
    board = site.page_as("nurse", path=f"/board?date={day}")
    expect(board.locator("#board[data-live-open]")).to_have_count(1)
    row = board.locator(f"tr[data-case='{case_id}']")
    expect(row).to_contain_text("Recovery")
    expect(row).not_to_contain_text("Recovery vitals overdue")
    expect(row).to_contain_text("Recovery vitals overdue", timeout=25_000)
    assert site.now() - arrival_at >= timedelta(minutes=15)


@pytest.mark.usefixtures("four_rooms")
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1024, 768), (1366, 768), (1920, 1080)])
def test_the_room_board_fits_a_phone_a_tablet_a_laptop_and_a_tv(
    site: Site, width: int, height: int
) -> None:
    page = site.page_as("nurse", path="/rooms", viewport={"width": width, "height": height})
    expect(page.get_by_role("region", name="Theatre A")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"rooms-{width}x{height}")


@pytest.mark.usefixtures("four_rooms")
def test_a_booking_that_puts_a_patient_in_two_places_is_refused_on_the_page(site: Site) -> None:
    booked = site.now() - timedelta(minutes=10)
    first, _ = site.open_case(
        mrn="H-room-twin",
        given_name="Tess",
        family_name="Twin",
        birth_date="1939-09-09",
        levels=["L1"],
        scheduled_start=booked,
    )
    second, _ = site.open_case(
        mrn="H-room-twin",
        given_name="Tess",
        family_name="Twin",
        birth_date="1939-09-09",
        levels=["L2"],
        scheduled_start=booked,
    )
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.post(
            "/api/v1/schedule/place", json={"case_id": first, "room": "TA", "position": 1}
        )
    assert r.status_code == 200, r.text
    day = site.day_of(first).isoformat()
    page = site.page_as("nurse", path=f"/schedule?date={day}")
    row = page.locator(f"tr[data-case='{second}']")
    # First in Theatre B while the same patient is first in Theatre A: both from now.
    row.get_by_label("Room for Tess Twin").select_option(label="Theatre B")
    row.get_by_label("at position").fill("1")
    row.get_by_role("button", name="Book").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("one patient cannot be in two places at once")
    expect(
        page.locator(f"tr[data-case='{second}']").get_by_role("button", name="Book")
    ).to_be_visible()
    for path in ("/schedule", "/rooms"):
        screen = site.page_as("viewer", path=path)
        expect(screen.get_by_role("heading", level=1)).to_have_text(
            "Not available for this sign-in"
        )


def test_the_family_tv_pages_a_long_day_with_the_ended_rows_last(site: Site) -> None:
    """Fourteen patients two hours from now: twelve a page, the cancelled one on the last
    page after everyone still here, and no sign-out button on the screen."""
    start = site.now() + timedelta(hours=2)
    codes = [
        site.open_case(
            mrn=f"H-tv-{i}",
            given_name="Tova",
            family_name=f"Screen{i}",
            birth_date="1944-04-04",
            levels=["L1"],
            scheduled_start=start,
        )
        for i in range(14)
    ]
    with site.server.client(site.server.token("nurse")) as nurse:
        r = nurse.post(
            f"/api/v1/cases/{codes[0][0]}/events",
            json={"step": "cancelled", "at": site.now().isoformat(), "data": {"reason": "unwell"}},
        )
        assert r.status_code == 201, r.text
    day = site.day_of(codes[0][0]).isoformat()
    tv = site.page_as("viewer", path=f"/family?date={day}&page=1")
    expect(tv.get_by_text(re.compile(r"Page 1 of \d+"))).to_be_visible()
    expect(tv.locator("#family tbody tr")).to_have_count(12)
    expect(tv.get_by_role("button", name="Sign out")).to_have_count(0)
    shown: list[str] = []
    pages = int(re.findall(r"of (\d+)", tv.get_by_text(re.compile("Page 1 of")).inner_text())[0])
    for page in range(1, pages + 1):
        tv.goto(site.url(f"/family?date={day}&page={page}"))
        shown += tv.locator("#family tbody td.code").all_inner_texts()
        assert tv.locator("#family tbody tr").count() <= 12
    cancelled = codes[0][1]
    assert cancelled in shown
    statuses = {code: i for i, code in enumerate(shown)}
    # Everyone still expected comes before the cancelled patient.
    assert all(statuses[code] < statuses[cancelled] for _, code in codes[1:])
    assert tv.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone = site.page_as(
        "viewer", path=f"/family?date={day}", viewport={"width": 390, "height": 844}
    )
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    board = site.page_as("nurse", path=f"/board?date={day}", viewport={"width": 390, "height": 844})
    expect(board.locator(f"tr[data-case='{codes[1][0]}']")).to_be_visible()
    assert board.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(board, "board-390-phone")
