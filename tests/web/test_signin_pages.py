"""Sign-in and the patient look-up in Chromium, as strangers would try them (issue 8).

A stranger's wrong passwords do not lock a nurse out of the browser she signed in on; the
admin unlocks a user from the users page; a stranger guessing birth dates against a
family code (the waiting-room screen shows them) is refused, not the family; a page left
unused past the idle timeout goes back to sign-in and says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.wire import case_body, iso, now_utc
from tests.support.clock import CENTRE_TZ
from tests.support.databases import database
from tests.support.server import PASSWORD, add_users, run_server
from tests.web.served import Site, screenshot, sign_in

LOCK_AFTER = 3
STRICT = {"DAYCASE_LOGIN_LOCK_AFTER": str(LOCK_AFTER), "DAYCASE_LOGIN_SLOW_AFTER": "10"}
LOOKUP_LOCK_AFTER = 4
LOOKUPS = {**STRICT, "DAYCASE_LOGIN_ADDRESS_LOCK_AFTER": str(LOOKUP_LOCK_AFTER)}
IDLE_S = 3
SHORT_IDLE = {"DAYCASE_SESSION_IDLE_MINUTES": str(IDLE_S / 60)}


def _site(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("signin")
    with database("sqlite", tmp) as url, run_server(url, tmp, env=env) as server:
        add_users(url, {"ward-nurse": "nurse", "new-starter": "nurse"})
        served = Site(server=server, tz=CENTRE_TZ, browser=browser)
        try:
            yield served
        finally:
            served.close_pages()


@pytest.fixture(scope="module")
def strict(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _site(browser, tmp_path_factory, STRICT)


@pytest.fixture(scope="module")
def lookups(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _site(browser, tmp_path_factory, LOOKUPS)


@pytest.fixture(scope="module")
def short_idle(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _site(browser, tmp_path_factory, SHORT_IDLE)


def _alert(page: Page) -> str:
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    return alert.inner_text()


def test_a_stranger_cannot_lock_a_nurse_out_of_her_own_browser(strict: Site) -> None:
    nurse = strict.anonymous()
    sign_in(nurse, strict, "ward-nurse")
    expect(nurse).to_have_url(strict.url("/board"))
    nurse.get_by_role("button", name="Sign out").click()
    expect(nurse).to_have_url(strict.url("/login"))

    stranger = strict.anonymous()
    for n in range(LOCK_AFTER):
        sign_in(stranger, strict, "ward-nurse", f"guess number {n}")
    assert "Too many failed sign-ins for this user name" in _alert(stranger)
    screenshot(stranger, "sign-in-locked-for-new-browsers")
    # The right password from the stranger's browser is refused too...
    sign_in(stranger, strict, "ward-nurse")
    assert "Too many failed sign-ins" in _alert(stranger)
    # ...but the nurse's own browser signs in as usual.
    sign_in(nurse, strict, "ward-nurse")
    expect(nurse).to_have_url(strict.url("/board"))


def test_the_admin_unlocks_a_user_on_the_users_page(strict: Site) -> None:
    with httpx.Client(base_url=strict.server.url) as c:
        for n in range(LOCK_AFTER):
            c.cookies.clear()
            c.post("/api/v1/auth/token", data={"username": "new-starter", "password": f"x{n}"})
    refused = strict.anonymous()
    sign_in(refused, strict, "new-starter")
    assert "Too many failed sign-ins" in _alert(refused)

    admin = strict.page_as("admin")
    admin.get_by_role("link", name="Users").click()
    expect(admin).to_have_url(strict.url("/admin/users"))
    row = admin.get_by_role("row").filter(has_text="new-starter")
    expect(row).to_contain_text("new computers refused until")
    row.get_by_role("button", name="Unlock new-starter").click()
    expect(admin.get_by_role("status")).to_have_text(
        "new-starter can sign in again from any computer."
    )
    screenshot(admin, "users-page-after-unlock")

    sign_in(refused, strict, "new-starter")
    expect(refused).to_have_url(strict.url("/board"))


def _look_up(page: Page, site: Site, code: str, birth_date: str) -> None:
    page.goto(site.url("/patient"))
    page.get_by_label("Family code").fill(code)
    page.get_by_label("Birth date").fill(birth_date)
    page.get_by_role("button", name="Show my day").click()
    page.wait_for_load_state()


def test_a_stranger_guessing_birth_dates_does_not_shut_the_family_out(lookups: Site) -> None:
    _, code = lookups.open_case(
        mrn="MRN-G0800",
        given_name="Gwendolyn",
        family_name="Guessworth",
        birth_date="1947-08-09",
        levels=["L2"],
        scheduled_start=lookups.now() - timedelta(minutes=30),
    )
    family = lookups.anonymous()
    _look_up(family, lookups, code, "1947-08-09")
    expect(family.get_by_text("Gwendolyn Guessworth")).to_be_visible()

    stranger = lookups.anonymous()
    for n in range(LOOKUP_LOCK_AFTER):
        _look_up(stranger, lookups, code, f"1950-01-{n + 1:02d}")
    assert "Too many wrong tries from this device" in _alert(stranger)
    # Even the right birth date is refused to the stranger's device for a while...
    _look_up(stranger, lookups, code, "1947-08-09")
    assert "Too many wrong tries" in _alert(stranger)
    # ...while the family's phone, which found this code before, still gets in.
    _look_up(family, lookups, code, "1947-08-09")
    expect(family.get_by_text("Gwendolyn Guessworth")).to_be_visible()


def test_an_idle_page_goes_back_to_sign_in_and_says_why(short_idle: Site) -> None:
    page = short_idle.anonymous()
    sign_in(page, short_idle, "nurse")
    expect(page).to_have_url(short_idle.url("/board"))
    page.wait_for_timeout((IDLE_S + 1.5) * 1000)
    page.goto(short_idle.url("/board"))
    expect(page).to_have_url(short_idle.url("/login?next=/board"))
    assert _alert(page) == (
        f"You were signed out because this sign-in was not used for {IDLE_S} seconds. "
        "Sign in again to go on."
    )
    screenshot(page, "signed-out-when-idle")
    page.get_by_label("User name").fill("nurse")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(short_idle.url("/board"))


def test_a_board_refreshing_itself_still_logs_off_when_nobody_uses_it(short_idle: Site) -> None:
    """The live board re-fetches itself on every change; that is not use of the sign-in,
    so a board left open on an unattended screen still ends at the idle timeout."""
    page = short_idle.anonymous()
    sign_in(page, short_idle, "nurse")
    expect(page).to_have_url(short_idle.url("/board"))
    expect(page.locator("#board[data-live-open]")).to_be_attached()
    refreshes: list[str] = []
    page.on(
        "request",
        lambda r: refreshes.append(r.url) if r.headers.get("x-daycase-live") == "1" else None,
    )
    server = short_idle.server
    with server.client(server.sign_in("new-starter")) as other:
        deadline = time.monotonic() + IDLE_S + 4
        while page.url == short_idle.url("/board") and time.monotonic() < deadline:
            # Another nurse's work changes today's board, so this page refreshes itself.
            opened = other.post(
                "/api/v1/cases",
                json=case_body(scheduled_start=iso(now_utc())),
            )
            assert opened.status_code == 201, opened.text
            page.wait_for_timeout(500)
    assert refreshes, "the board never refreshed itself"
    expect(page).to_have_url(re.compile(r"/login"))
