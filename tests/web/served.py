"""Helpers for the browser tests: a served site, signed-in pages, forms, axe and screenshots.

The server is a real `daycase serve` process (tests/support/server.py) on the suite's
clock, which starts minutes before the centre's midnight: a test names the day it means
(the case's own day) rather than "today", and back-charted mornings may lie on the day
before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    StorageState,
    ViewportSize,
    expect,
)

from daycase.engine.load import builtin_pathway
from daycase.pathways.schema import FieldSpec
from tests.support.server import PASSWORD, Server

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags, Chromium keeps trying
# to reach the internet, which is closed on the test machines.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PATHWAY = builtin_pathway("kyphoplasty")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_REPORTS = ARTIFACTS / "axe"
AXE_SCRIPT = Path(__file__).with_name("vendor") / "axe.min.js"
TABLET: ViewportSize = {"width": 1024, "height": 768}
DESKTOP: ViewportSize = {"width": 1920, "height": 1080}
VIEWPORTS = {"1024x768": TABLET, "1920x1080": DESKTOP}
BLOCKING_IMPACTS = {"serious", "critical"}
ACTION_TIMEOUT_MS = 10_000  # Playwright's 30 s default makes a failing run crawl
# Violations below serious, gathered for the terminal summary (conftest.py).
REPORTED: list[str] = []


@dataclass
class Site:
    """One served centre: its server, its timezone and the browser that visits it."""

    server: Server
    tz: ZoneInfo
    browser: Browser
    _contexts: list[BrowserContext] = field(default_factory=list)
    _states: dict[str, StorageState] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def now(self) -> datetime:
        """The server's clock (the suite's), in the centre's timezone."""
        return self.server.now().astimezone(self.tz)

    def today(self) -> date:
        return self.now().date()

    def day_of(self, case_id: str) -> date:
        """The day a case belongs to (its scheduled start at the centre): the board to read."""
        with self.server.client(self.server.token("nurse")) as nurse:
            r = nurse.get(f"/api/v1/cases/{case_id}")
        r.raise_for_status()
        return datetime.fromisoformat(r.json()["scheduled_start"]).astimezone(self.tz).date()

    def local_input(self, at: datetime) -> str:
        """A datetime-local input's value for an instant, in the centre's timezone."""
        return at.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M")

    # ------------------------------------------------------------ browser pages

    def _context(self, viewport: ViewportSize, state: StorageState | None = None) -> BrowserContext:
        context = self.browser.new_context(viewport=viewport, storage_state=state)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        self._contexts.append(context)
        return context

    def anonymous(self, *, viewport: ViewportSize = TABLET) -> Page:
        return self._context(viewport).new_page()

    def page_as(self, name: str, *, viewport: ViewportSize = TABLET, path: str = "/") -> Page:
        """A new browser context signed in as one of the standard users, at `path`.

        The first page for a user signs in through the form; later ones reuse its cookies.
        """
        state = self._states.get(name)
        if state is None:
            page = self.anonymous(viewport=viewport)
            sign_in(page, self, name)
            self._states[name] = page.context.storage_state()
            if path != "/":
                page.goto(self.url(path))
            return page
        page = self._context(viewport, state).new_page()
        page.goto(self.url(path))
        return page

    def close_pages(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    # ------------------------------------------------------------ API shortcuts

    def open_case(
        self,
        *,
        mrn: str,
        given_name: str,
        family_name: str,
        birth_date: str,
        levels: list[str],
        scheduled_start: datetime | None = None,
    ) -> tuple[str, str]:
        """Open a case through the API as the front desk: (case id, family code)."""
        start = scheduled_start or self.now()
        with self.server.client(self.server.token("front_desk")) as desk:
            r = desk.post(
                "/api/v1/cases",
                json={
                    "patient": {
                        "mrn": mrn,
                        "given_name": given_name,
                        "family_name": family_name,
                        "birth_date": birth_date,
                        "sex": "female",
                    },
                    "levels": levels,
                    "scheduled_start": start.isoformat(),
                },
            )
        assert r.status_code == 201, r.text
        body = r.json()
        return str(body["id"]), str(body["family_code"])

    def record_api(
        self,
        name: str,
        case_id: str,
        step: str,
        *,
        at: datetime,
        data: dict[str, Any] | None = None,
        override_reason: str | None = None,
    ) -> str:
        """Record a step through the API as a standard user; the new event's id."""
        body: dict[str, Any] = {"step": step, "at": at.isoformat(), "data": data or {}}
        if override_reason is not None:
            body["override_reason"] = override_reason
        with self.server.client(self.server.token(name)) as client:
            r = client.post(f"/api/v1/cases/{case_id}/events", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["event_id"])

    def check_in_api(self, case_id: str, *, at: datetime, **extra: Any) -> str:
        """Check a patient in through the API as the front desk (fasted, consent signed)."""
        data = {
            "identity_confirmed": True,
            "consent_signed": True,
            "last_solids_at": (at - timedelta(hours=10)).isoformat(),
            "last_clear_fluids_at": (at - timedelta(hours=4)).isoformat(),
            **extra,
        }
        return self.record_api("front_desk", case_id, "check_in", at=at, data=data)


def sign_in(page: Page, site: Site, name: str, password: str = PASSWORD) -> None:
    """Sign in through the form; the page ends wherever the sign-in leads."""
    page.goto(site.url("/login"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


# ------------------------------------------------------------------ forms on the case page

FieldValue = bool | int | float | str | datetime | list[str]


def open_step_form(page: Page, step: str) -> Locator:
    """Open a step's recording form (a <details> on its card) and give the form."""
    card = page.locator(f"#step-{step}")
    if not card.locator("details").evaluate("d => d.open"):
        card.locator("summary").click()
    return card.locator("form")


def _spec(step: str, name: str) -> FieldSpec:
    """The pathway's definition of a field; `rows.0.column` names a column of a list."""
    head, _, rest = name.partition(".")
    spec = PATHWAY.step(step).fields[head]
    if rest:
        assert spec.fields is not None, name
        spec = spec.fields[rest.split(".", 1)[1]]
    return spec


def fill_fields(form: Locator, site: Site, step: str, fields: Mapping[str, FieldValue]) -> None:
    """Fill a step's generated inputs (named `f.<field>`) as the pathway defines them.

    The widget is expected from the field's type, so a form generated with the wrong
    widget fails here: a checkbox for a must-be-true flag, yes/no radios for another
    flag, a select for an enum, checkboxes for levels, datetime-local for a time.
    """
    for name, value in fields.items():
        spec = _spec(step, name)
        control = form.locator(f'[name="f.{name}"]')
        if spec.type == "bool" and spec.must_be is not None:
            assert isinstance(value, bool), (name, value)
            control.set_checked(value)
        elif spec.type == "bool":
            control.and_(form.locator(f'[value="{"yes" if value else "no"}"]')).check()
        elif spec.type == "levels":
            assert isinstance(value, list), (name, value)
            for item in value:
                control.and_(form.locator(f'[value="{item}"]')).check()
        elif spec.type == "enum":
            control.select_option(str(value))
        elif isinstance(value, datetime):
            control.fill(site.local_input(value))
        else:
            control.fill(str(value))


def submit(
    page: Page,
    site: Site,
    step: str,
    *,
    at: datetime,
    fields: Mapping[str, FieldValue] | None = None,
    level: str | None = None,
) -> None:
    """Fill a step's generated form on the case page, its clinical time too, and send it."""
    form = open_step_form(page, step)
    if level is not None:
        form.locator('[name="level"]').select_option(level)
    fill_fields(form, site, step, fields or {})
    form.locator('[name="at"]').fill(site.local_input(at))
    form.get_by_role("button", name="Record", exact=True).click()


def record(
    page: Page,
    site: Site,
    step: str,
    *,
    at: datetime,
    fields: Mapping[str, FieldValue] | None = None,
    level: str | None = None,
) -> None:
    """Record a step through its form, and wait for the page to say it is recorded.

    The last confirmation is taken off first: the same step recorded twice in a row says
    the same words, and the wait must see this recording's answer, not the one before.
    """
    page.evaluate("() => document.getElementById('saved-notice')?.remove()")
    submit(page, site, step, at=at, fields=fields, level=level)
    # wait_for watches the page as it changes, where expect() polls at growing intervals.
    saved = f"{PATHWAY.step(step).title} recorded"
    page.locator("#saved-notice", has_text=re.compile(f"^{re.escape(saved)}$")).wait_for()


def refused(page: Page, site: Site, step: str, *, at: datetime) -> Locator:
    """Send a step's form expecting a refusal; the message shown on the step."""
    submit(page, site, step, at=at)
    message = page.locator(f"#step-{step} [role=alert]")
    message.wait_for()
    return message


# ------------------------------------------------------------------ artefacts

SLUG = re.compile(r"[^a-z0-9]+")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{SLUG.sub('-', name.lower()).strip('-')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class AxeViolation:
    rule: str
    impact: str
    help: str
    targets: list[str]

    def line(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets[:3])}"


def run_axe(page: Page, name: str) -> list[AxeViolation]:
    """Run axe-core on the page as it is now; every violation, also saved as JSON."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated by the test, not added as a <script>: the page's Content-Security-Policy
        # (rightly) refuses an inline script, and the test must not weaken it.
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    raw = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                rule: v.id, impact: v.impact || "minor", help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    AXE_REPORTS.mkdir(parents=True, exist_ok=True)
    slug = SLUG.sub("-", name.lower()).strip("-")
    (AXE_REPORTS / f"{slug}.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return [AxeViolation(**v) for v in raw]


def open_amend_form(item: Locator) -> Locator:
    """Open a history entry's "Amend or void" form; again if the case was re-drawn just as
    it was clicked. A test clicks within milliseconds of its own last entry, while that
    entry's answer or the live refresh it set off may still be on its way; the live
    refresh never replaces an open form, but the answer to one's own Record does."""
    details = item.locator("details").first
    for _ in range(3):
        if details.get_attribute("open") is None:
            item.get_by_text("Amend or void").click()
        try:
            expect(details.locator("form").first).to_be_visible(timeout=2_000)
            break
        except AssertionError:
            continue
    expect(details.locator("form").first).to_be_visible()
    return item
