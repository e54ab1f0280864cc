"""Browser tests of the pages: Playwright driving Debian's Chromium against a real server."""
