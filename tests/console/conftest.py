"""The console's pages are tried in a real browser: its fixtures for every test here."""

from tests.browser import chromium, watched  # noqa: F401 (fixtures)
