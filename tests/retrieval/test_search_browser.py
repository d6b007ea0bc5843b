"""The /search/ page in a real Chromium: members find the restricted passage, an outsider never sees it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import ConsoleMessage, Page, expect
from playwright.sync_api._generated import SetCookieParam

from tests.browser import chromium
from tests.retrieval.conftest import Team, write_document

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "KESTREL-5521"


def session_cookie(user, live_server) -> SetCookieParam:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "url": live_server.url}


def console_csp_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def collect(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", collect)
    return errors


def test_search_page_shows_members_the_restricted_passage_and_outsiders_only_public_ones(
    live_server, team: Team
) -> None:
    write_document(
        title="Failover runbook",
        passages=[f"To fail over the primary database, run the failover script with code {SECRET}."],
        groups=[team.group],
        owner=team.alice,
    )
    write_document(
        title="Travel policy",
        passages=["Book database conference travel through the travel portal two weeks ahead."],
        is_public=True,
    )
    # Signed in before the browser starts: ORM calls made while Playwright's event loop runs get a connection of
    # their own that nothing closes, and the leftover session kept the test database from being dropped.
    cookies = {user.pk: session_cookie(user, live_server) for user in (team.bob, team.charlie)}
    with chromium() as browser:
        for user, sees_restricted in ((team.bob, True), (team.charlie, False)):
            context = browser.new_context()
            context.add_cookies([cookies[user.pk]])
            page = context.new_page()
            csp_errors = console_csp_errors(page)
            page.goto(f"{live_server.url}/search/")
            page.fill("#id_q", "database failover script")
            page.click("#search-form button[type=submit]")
            titles = page.locator("#search-results .result-title")
            expect(titles.first).to_be_visible()
            shown = titles.all_inner_texts()
            assert ("Failover runbook" in shown) is sees_restricted, (user.username, shown)
            assert "Travel policy" in shown
            if not sees_restricted:
                assert SECRET not in page.content()
            assert "q=database" in page.url, "the URL keeps the query (bookmarkable)"
            assert csp_errors == []
            context.close()
