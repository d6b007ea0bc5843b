"""A real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for browser tests.

Use the ``browser`` fixture (import it into a test module or conftest: ``from tests.browser import browser``)
and open a fresh ``browser.new_context()`` per signed-in user. Never ``playwright install``: Debian's
Chromium is the browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections
from playwright.sync_api import Browser, sync_playwright

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch headless Chromium; closed on exit."""
    # Playwright's sync API runs an event loop in this thread; Django would then refuse ORM calls made by
    # the test itself (they are still synchronous, so this is safe).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched
        # Database connections opened while Playwright runs belong to its context, not to the one pytest-django
        # closes at the end; left open, they stop it from dropping the test database.
        connections.close_all()
