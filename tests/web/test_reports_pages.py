"""The quality reports in Chromium, as a centre manager reads them: a quarter's overview with
charts, the cases behind a number, a CSV download, a printed page; and who may not."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from tests.support.clock import CENTRE_TZ
from tests.support.report_days import DAYS, RANGE, server_with_history
from tests.web.served import Site, run_axe, screenshot

PHONE: ViewportSize = {"width": 390, "height": 844}
QUARTER = urlencode({"from": DAYS[0].replace(day=1).isoformat(), "to": RANGE["to"]})


@pytest.fixture(scope="module")
def reports_site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with server_with_history(tmp_path_factory.mktemp("reports_web")) as server:
        served = Site(server=server, tz=CENTRE_TZ, browser=browser)
        try:
            yield served
        finally:
            served.close_pages()


def test_a_manager_reads_the_quarter_drills_down_downloads_and_prints(reports_site: Site) -> None:
    site = reports_site
    page = site.page_as("admin", path=f"/reports?{QUARTER}")
    expect(page.get_by_role("heading", name="Quality reports")).to_be_visible()
    expect(page.get_by_text("16 cases booked")).to_be_visible()
    # The CMS run charts: each an image with a name, its numbers in a table beside it.
    charts = page.locator("figure.chart svg[role=img]")
    assert charts.count() >= 4
    assert page.locator("figure.chart table").count() >= 4
    row = page.get_by_role("row").filter(has_text="ASC-4")
    expect(row).to_contain_text("2 of 16")
    expect(row).to_contain_text("Too few cases")
    violations = [
        v for v in run_axe(page, "reports overview") if v.impact in ("serious", "critical")
    ]
    assert violations == [], [v.line() for v in violations]
    screenshot(page, "reports overview")

    row.get_by_role("link").click()
    expect(
        page.get_by_role("heading", name="ASC-4 All-cause hospital transfer or admission")
    ).to_be_visible()
    expect(page.locator(".headline")).to_contain_text("2 of 16")
    cases = page.locator("ul.case-ids a")
    expect(cases).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][:5] == ["asc4_transfer", "CMS ASC quality reporting", rows[1][2], "2", "16"]

    cases.first.click()  # the case behind the number
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/cases/" in page.url

    page.goto(site.url(f"/reports/turnover?{QUARTER}"))
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("figure.chart").first).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_filters_narrow_the_cases_and_a_bad_one_is_named(reports_site: Site) -> None:
    page = reports_site.page_as("admin", path=f"/reports?{QUARTER}")
    page.get_by_label("Room").select_option(label="Procedure room 1")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("8 cases booked")).to_be_visible()
    page.goto(reports_site.url("/reports?from=2026-02-01&to=2026-01-01"))
    expect(page.get_by_role("alert")).to_contain_text("from: the first day is after the last day")
    page.goto(reports_site.url("/reports/asc99"))
    expect(page.get_by_role("heading", name="No such report")).to_be_visible()


def test_a_clinical_lead_reads_on_a_phone_and_a_nurse_may_not(reports_site: Site) -> None:
    page = reports_site.page_as("proceduralist", viewport=PHONE, path=f"/reports?{QUARTER}")
    expect(page.get_by_role("heading", name="Quality reports")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    nurse = reports_site.page_as("nurse", path="/reports")
    expect(nurse.get_by_role("heading", name="Not available for this sign-in")).to_be_visible()
    nurse.goto(reports_site.url("/board"))
    expect(nurse.get_by_role("link", name="Today's board")).to_be_visible()
    expect(nurse.get_by_role("link", name="Reports")).to_have_count(0)
    page.goto(reports_site.url("/board"))
    expect(page.get_by_role("link", name="Reports")).to_be_visible()


def test_a_manager_tries_a_bay_fewer_and_reads_the_curve(reports_site: Site) -> None:
    page = reports_site.page_as("admin", path="/board")
    page.get_by_role("link", name="Simulation").click()
    expect(page.get_by_role("heading", name="Capacity simulation")).to_be_visible()
    expect(page.get_by_text("Fitted on 16 cases")).to_be_visible()
    expect(
        page.get_by_role("columnheader", name="Today: 4 rooms, 6 bays, 4 cases a room")
    ).to_be_visible()
    page.get_by_label("Recovery bays").fill("2")
    page.get_by_label("Days per run").fill("10")
    page.get_by_role("button", name="Simulate").click()
    expect(
        page.get_by_role("columnheader", name="What if: 4 rooms, 2 bays, 4 cases a room")
    ).to_be_visible()
    waiting = page.get_by_role("row").filter(has_text="patients waiting for a bay")
    expect(waiting).to_be_visible()
    chart = page.locator("figure.chart svg[role=img]")
    expect(chart).to_have_count(1)
    expect(page.locator("figure.chart table")).to_contain_text("1 bay (0.25 a room)")
    violations = [v for v in run_axe(page, "simulation") if v.impact in ("serious", "critical")]
    assert violations == [], [v.line() for v in violations]
    screenshot(page, "simulation")
    page.goto(reports_site.url("/simulation?bays=0&reps=many"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Recovery bays: a whole number from 1 to 200")
    expect(alert).to_contain_text("Runs: a whole number from 5 to 100")
    page.goto(reports_site.url("/simulation?bays=%C2%B2&reps=100&days=250"))
    expect(page.get_by_role("alert")).to_contain_text("Recovery bays: a whole number")
    page.goto(reports_site.url("/simulation?reps=100&days=250"))
    expect(page.get_by_role("alert")).to_contain_text("more than this page simulates at once")
    nurse = reports_site.page_as("nurse", path="/simulation")
    expect(nurse.get_by_role("heading", name="Not available for this sign-in")).to_be_visible()
