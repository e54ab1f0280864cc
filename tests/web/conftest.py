"""Fixtures for the browser tests: one Chromium and one served site for the whole session.

Starting a server costs seconds, so every module shares one; each test opens the cases it
needs and asserts on those (the PHI search covers every case of the day, whoever made it).

The tests skip, with the reason, when Debian's Chromium is not installed (`.ci/run`
installs it); they never download a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.clock import CENTRE_TZ
from tests.support.databases import database
from tests.support.server import run_server
from tests.web.served import CHROMIUM, CHROMIUM_ARGS, REPORTED, Site

HERE = Path(__file__).parent
NO_CHROMIUM = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=NO_CHROMIUM)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTED:
        terminalreporter.section("axe-core findings below serious (reported, not failing)")
        for line in sorted(set(REPORTED)):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real `daycase serve` on SQLite with one user per role."""
    tmp = tmp_path_factory.mktemp("web")
    with database("sqlite", tmp) as url, run_server(url, tmp) as server:
        served = Site(server=server, tz=CENTRE_TZ, browser=browser)
        try:
            yield served
        finally:
            served.close_pages()


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's browser contexts are closed when it ends (the site outlives it)."""
    yield
    if "site" in request.fixturenames:
        site: Site = request.getfixturevalue("site")
        site.close_pages()
