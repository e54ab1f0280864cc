"""Sign-in, sign-out and keyboard use of the pages (issue 4, items 1, 6 and 7).

Every role signs in through the form and lands where it should; wrong credentials get
one neutral message whatever was wrong; the session cookie is HttpOnly and SameSite=Strict;
a form sent after the session ended leads back to the sign-in page; and a nurse signs in
and opens a case with the keyboard alone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import PASSWORD, ROLES
from tests.web.served import Site, open_step_form, screenshot, sign_in


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_and_lands_on_its_board(site: Site, role: str) -> None:
    page = site.anonymous()
    page.goto(site.url("/"))
    expect(page).to_have_url(site.url("/login?next=/"))
    sign_in(page, site, role)
    landing = "/family" if role == "viewer" else "/board"
    expect(page).to_have_url(site.url(landing))
    if role == "viewer":
        # The waiting-room screen shows no staff header, only the board.
        expect(page.get_by_role("heading", name="Today's patients")).to_be_visible()
        response = page.goto(site.url("/board"))
        assert response is not None
        assert response.status == 403
        page.goto(site.url("/family"))
    else:
        expect(page.get_by_role("heading", name="Board for")).to_be_visible()
        expect(page.get_by_text(f"{role} ({role})")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "daycase_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    if role == "viewer":
        # A waiting-room screen has nothing to press, not even a sign-out; its sign-in
        # ends with the session (or the admin's screen link is used instead).
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
        return
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(site.url("/login"))
    page.goto(site.url(landing))
    expect(page).to_have_url(site.url(f"/login?next={landing}"))


def test_wrong_credentials_get_one_neutral_message(site: Site) -> None:
    page = site.anonymous()
    messages = []
    for name, password in [("nurse", "not the password"), ("nobody-here", PASSWORD)]:
        sign_in(page, site, name, password)
        expect(page).to_have_url(site.url("/login"))
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        messages.append(alert.inner_text())
        assert not any(c["name"] == "daycase_session" for c in page.context.cookies())
    assert messages == ["Wrong user name or password"] * 2
    screenshot(page, "login-wrong-credentials")


def _tab_to(page: Page, selector: str, *, limit: int = 100) -> None:
    """Press Tab until the focused element matches `selector`; the focus must show."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"no visible focus on {selector}"
            return
    raise AssertionError(f"{selector} not reached with {limit} presses of Tab")


def test_sign_in_and_open_a_case_with_the_keyboard_only(site: Site) -> None:
    case_id, code = site.open_case(
        mrn="MRN-K0100",
        given_name="Kirsikka",
        family_name="Keyworth",
        birth_date="1950-02-03",
        levels=["L3"],
    )
    page = site.anonymous()
    page.goto(site.url("/"))
    # The user name field has the focus on arrival (autofocus).
    assert page.evaluate("() => document.activeElement.id") == "username"
    page.keyboard.type("nurse")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.url("/board"))

    # The skip link comes first and shows itself when focused.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    box = page.evaluate("() => document.activeElement.getBoundingClientRect().left")
    assert box >= 0

    _tab_to(page, f'a[href="/cases/{case_id}"]')
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.url(f"/cases/{case_id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Kirsikka Keyworth")
    expect(page.get_by_text(code)).to_be_visible()

    # The check-in form opens from the keyboard, and its first input takes the focus next.
    _tab_to(page, "#step-check_in summary")
    page.keyboard.press("Enter")
    expect(page.locator("#step-check_in form")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "f.identity_confirmed"
    screenshot(page, "keyboard-check-in-form")


def test_a_form_sent_after_the_session_ended_leads_to_the_sign_in_page(site: Site) -> None:
    case_id, _ = site.open_case(
        mrn="MRN-E0200",
        given_name="Ezekiel",
        family_name="Expiresworth",
        birth_date="1949-06-06",
        levels=["L1"],
    )
    page = site.anonymous()
    sign_in(page, site, "nurse")
    page.goto(site.url(f"/cases/{case_id}"))
    # The same person signs out in another tab of the same browser.
    other = page.context.new_page()
    other.goto(site.url("/board"))
    other.get_by_role("button", name="Sign out").click()
    expect(other).to_have_url(site.url("/login"))

    form = open_step_form(page, "check_in")
    form.get_by_role("button", name="Record").click()
    expect(page).to_have_url(re.compile(re.escape(site.url("/login"))))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
