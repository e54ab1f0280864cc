"""Every page works under the Content-Security-Policy, in Chromium (issue 8, part 3).

The policy allows scripts and styles from the server's own files only: no inline script,
no `on…=` handler, no `style=` attribute, no `hx-on`, nothing from another origin. Each
page is opened and used as staff would (htmx forms, live updates over the stream, the
print button, the API docs), listening for `securitypolicyviolation` events, console
messages about the policy and script errors: there must be none. The templates are also
read for the inline constructs the policy forbids, so a new one fails here at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, Response, expect

from tests.support.checklists import VITALS
from tests.support.server import PASSWORD
from tests.web.served import (
    BLOCKING_IMPACTS,
    PATHWAY,
    Site,
    open_amend_form,
    record,
    run_axe,
    sign_in,
)

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ` +
    `${e.sourceFile || document.location.pathname}:${e.lineNumber}`);
});
// The print dialog would block a headless browser: count the presses instead.
window.print = () => { window.__printed = (window.__printed || 0) + 1; };
"""


@dataclass
class Watched:
    """A page whose policy violations, policy console messages and script errors are kept."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def clean(self, where: str) -> None:
        """No violation so far on this document (call before leaving it)."""
        found = self.page.evaluate("() => window.__csp || []")
        assert found == [], (where, found)
        assert self.problems == [], (where, self.problems)


def watch(page: Page) -> Watched:
    """Watch a page from its next navigation on; every document must carry the policy."""
    watched = Watched(page)

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            watched.problems.append(f"console: {message.text}")

    def error(exc: Error) -> None:
        watched.problems.append(f"script error: {exc}")

    def document(response: Response) -> None:
        if response.request.resource_type == "document":
            policy = response.headers.get("content-security-policy", "")
            if "script-src 'self'" not in policy or "unsafe-inline" in policy:
                watched.problems.append(f"{response.url}: no strict policy ({policy!r})")

    page.add_init_script(WATCH)
    page.on("console", console)
    page.on("pageerror", error)
    page.on("response", document)
    return watched


def signed_in(site: Site, name: str, path: str) -> Watched:
    page = site.page_as(name)
    watched = watch(page)
    page.goto(site.url(path))
    return watched


def test_the_templates_carry_no_inline_script_style_or_handler() -> None:
    templates = resources.files("daycase.web").joinpath("templates")
    forbidden = {
        "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
        "style attribute": re.compile(r"\sstyle\s*=", re.I),
        "<style> element": re.compile(r"<style\b", re.I),
        "on… handler": re.compile(r"\son[a-z]+\s*=", re.I),
        "hx-on": re.compile(r"\b(?:data-)?hx-on", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
    }
    found = [
        f"{t.name}: {what}"
        for t in templates.iterdir()
        if t.name.endswith(".html")
        for what, pattern in forbidden.items()
        if pattern.search(t.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_browser_enforces_the_policy(site: Site) -> None:
    """Not a page without a policy: an inline script added to a page is refused."""
    page = site.anonymous()
    page.add_init_script(WATCH)
    page.goto(site.url("/login"))
    with pytest.raises(Error):
        page.add_script_tag(content="window.__inline = 1;")
    assert page.evaluate("() => window.__inline") is None
    assert page.evaluate("() => window.__csp.length") >= 1


def test_signing_in_and_the_boards_work_under_the_policy(site: Site) -> None:
    case_id, code = site.open_case(
        mrn="MRN-CSP01",
        given_name="Cora",
        family_name="Policy",
        birth_date="1949-03-03",
        levels=["L1"],
    )
    day = site.day_of(case_id)
    login = watch(site.anonymous())
    login.page.goto(site.url(f"/login?next=/board?date={day}"))
    sign_in(login.page, site, "nurse")
    board = login.page
    expect(board.get_by_role("link", name="Cora Policy")).to_be_visible()
    board.locator("[data-live-open]").wait_for(state="attached")  # the stream is open
    family = signed_in(site, "viewer", f"/family?date={day}")
    family.page.locator("[data-live-open]").wait_for(state="attached")
    expect(family.page.locator("#family")).to_contain_text(code)

    # A recording elsewhere reaches both boards over the stream (htmx swaps the region).
    site.check_in_api(case_id, at=site.now() - timedelta(minutes=5))
    row = board.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_contain_text(PATHWAY.phase("pre_op").title)
    expect(family.page.locator("#family tr", has_text=code)).to_contain_text("Getting ready")
    login.clean("board")
    family.clean("family board")

    # The front desk's board, as the read matrix shows it, and its sign-out form (a sign-in
    # of its own: the site's shared one stays signed in for the other tests).
    desk = watch(site.anonymous())
    desk.page.goto(site.url(f"/login?next=/board?date={day}"))
    sign_in(desk.page, site, "front_desk")
    expect(desk.page.locator(f'tr[data-case="{case_id}"]')).to_be_visible()
    desk.page.get_by_role("button", name="Sign out").click()
    expect(desk.page).to_have_url(re.compile(r"/login"))
    desk.clean("sign-out")


def test_the_case_pages_and_their_forms_work_under_the_policy(site: Site) -> None:
    desk = signed_in(site, "front_desk", "/cases/new")
    page = desk.page
    page.get_by_label("MRN").fill("MRN-CSP02")
    page.get_by_label("Given name").fill("Nell")
    page.get_by_label("Family name").fill("Newform")
    page.get_by_label("Birth date").fill("1950-04-04")
    page.get_by_label("Scheduled start").fill(site.local_input(site.now()))
    page.get_by_label("L1", exact=True).check()
    page.get_by_role("button", name="Open case").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nell Newform")
    case_id = page.url.rsplit("/", 1)[-1]
    start = site.now() - timedelta(minutes=30)
    record(
        page,
        site,
        "check_in",
        at=start,
        fields={
            "identity_confirmed": True,
            "consent_signed": True,
            "last_solids_at": start - timedelta(hours=10),
            "last_clear_fluids_at": start - timedelta(hours=4),
        },
    )
    desk.clean("new case and the desk's case page")

    nurse = signed_in(site, "nurse", f"/cases/{case_id}")
    record(nurse.page, site, "preop_vitals", at=start + timedelta(minutes=2), fields=VITALS)
    # An amendment form from the history, sent with htmx.
    item = nurse.page.locator(".history li", has_text="Pre-op vitals at")
    open_amend_form(item)
    item.get_by_label("Heart rate").fill("75")
    item.get_by_label("Reason for the correction").fill("Re-read the monitor")
    item.get_by_role("button", name="Save correction").click()
    expect(nurse.page.locator("#saved-notice")).to_have_text("Correction recorded")
    nurse.clean("case page")

    # The staff patient view and its going-home sheet, printed with the button.
    nurse.page.get_by_role("link", name="Patient view").click()
    expect(nurse.page.get_by_role("heading", level=1)).to_have_text("Your day, Nell")
    nurse.page.get_by_role("button", name="Print the going-home sheet").click()
    assert nurse.page.evaluate("() => window.__printed") == 1
    nurse.clean("patient view")


def test_the_patient_look_up_and_sheet_work_under_the_policy(site: Site) -> None:
    case_id, code = site.open_case(
        mrn="MRN-CSP03",
        given_name="Pia",
        family_name="Lookup",
        birth_date="1951-05-05",
        levels=["T12"],
    )
    site.check_in_api(case_id, at=site.now() - timedelta(minutes=10))
    patient = watch(site.anonymous())
    patient.page.goto(site.url("/patient"))
    patient.page.get_by_label("Family code").fill(code)
    patient.page.get_by_label("Birth date").fill("1951-05-05")
    patient.page.get_by_role("button", name="Show my day").click()
    expect(patient.page.get_by_role("heading", level=1)).to_have_text("Your day, Pia")
    patient.page.get_by_role("button", name="Print the going-home sheet").click()
    assert patient.page.evaluate("() => window.__printed") == 1
    patient.clean("patient look-up and view")


def test_the_admin_pages_and_a_display_screen_work_under_the_policy(site: Site) -> None:
    admin = signed_in(site, "admin", "/admin/displays")
    admin.page.get_by_label("Where the screen is").fill("Policy lobby")
    admin.page.get_by_role("button", name="Make a new link").click()
    link = admin.page.get_by_role("status").locator("code").first.inner_text()
    admin.clean("screen links")

    screen = watch(site.anonymous())
    screen.page.goto(link)
    expect(screen.page.get_by_role("heading", level=1)).to_have_text("Today's patients")
    screen.clean("display screen")

    admin.page.goto(site.url("/admin/audit?limit=2"))
    expect(admin.page.get_by_role("heading", level=1)).to_have_text("Audit log")
    first = admin.page.locator("tbody tr").first.inner_text()
    admin.page.get_by_role("link", name="Older").click()
    expect(admin.page).to_have_url(re.compile(r"before=\d+"))
    assert admin.page.locator("tbody tr").first.inner_text() != first
    admin.clean("audit log")
    serious = [v.line() for v in run_axe(admin.page, "admin-audit") if v.impact in BLOCKING_IMPACTS]
    assert serious == []
    for path in ("/admin/users", "/board"):
        response = admin.page.goto(site.url(path))
        assert response is not None
        assert response.status == 200, path
        admin.clean(path)


def test_the_api_docs_work_under_the_policy(site: Site) -> None:
    docs = watch(site.anonymous())
    page = docs.page
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(site.server.url) else None,
    )
    page.goto(site.url("/docs"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("daycase")
    page.locator("button.authorize").click()
    page.locator("#oauth_username").fill("nurse")
    page.locator("#oauth_password").fill(PASSWORD)
    page.locator(".auth-btn-wrapper button.authorize").click()
    expect(page.get_by_role("heading", name="Authorized")).to_be_visible()
    page.locator("button.close-modal").click()
    operation = page.locator("#operations-boards-staff_board_api_v1_board_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status")
    expect(status.first).to_have_text("200")
    assert outside == []
    docs.clean("API docs")
