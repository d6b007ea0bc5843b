"""The operators' dashboard: admins and auditors only, every chart drawn from real rows; and, in a real
Chromium against Docent under uvicorn, the page as people see it (its screenshot replaces docs/img/dashboard.png
when DOCENT_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from playwright.sync_api import expect

from assistant.llm.models import LLMCall
from assistant.llm.redis_client import KEY_PREFIX, sync_redis
from assistant.observability import svg
from tests.browser import chromium
from tests.chat.conftest import PASSWORD, make_team, restore_migration_seeds
from tests.fakes.llm_server import FakeLLMServer
from tests.observability.dashboard_data import make_dashboard_data
from tests.processes import REPO_ROOT, WebServer

# The documented screenshot is rewritten only on request, so that a test run leaves the checkout as it was.
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "img" / "dashboard.png"
CHARTS = [
    "answers",
    "latency",
    "ttft",
    "errors",
    "spend-model_id",
    "tokens-model_id",
    "spend-route",
    "spend-group",
    "feedback",
    "empty-retrieval",
    "ingestion",
    "evals",
]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLMServer, settings) -> FakeLLMServer:
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    settings.LLM_RETRY_BASE_SECONDS = 0.01
    client = sync_redis()
    for key in client.scan_iter(f"{KEY_PREFIX}*"):  # no breaker, budget or rate-limit state from earlier tests
        client.delete(key)
    fake_server.reset()
    return fake_server


def test_only_admins_and_auditors_see_the_dashboard(db: None) -> None:
    restore_migration_seeds()
    team = make_team()
    assert Client().get("/dashboard/").status_code == 302  # to sign-in
    outsider = Client()
    outsider.force_login(team.charlie)
    assert outsider.get("/dashboard/").status_code == 403
    team.charlie.groups.add(Group.objects.get_or_create(name="auditor")[0])
    assert outsider.get("/dashboard/").status_code == 200


@pytest.mark.slow
def test_every_chart_is_drawn_from_real_rows(db: None, fake: FakeLLMServer) -> None:
    data = make_dashboard_data(fake)
    client = Client()
    client.force_login(data.auditor)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    for key in CHARTS:
        start = page.index(f'id="chart-{key}"')
        figure = page[start : page.index("</figure>", start)]
        assert "No data yet" not in figure, key
    assert LLMCall.objects.exclude(error_class="").exists()
    # Budget lines are drawn on the spend charts; the eval chart has one series per prompt version.
    spend = page[page.index('id="chart-spend-model_id"') :]
    assert 'class="ref"' in spend[: spend.index("</figure>")]
    evals = page[page.index('id="chart-evals"') :]
    assert "chat v1 (smoke)" in evals and "chat v2 (smoke)" in evals


def test_svg_text_is_escaped() -> None:
    markup = svg.bar_chart(title="<script>", x_labels=["a"], series=[svg.Series("<b>x</b>", [1.0])])
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "<b>" not in markup


@pytest.mark.browser
@pytest.mark.slow
def test_auditor_opens_the_dashboard_in_a_real_browser(
    asgi_server: WebServer, fake: FakeLLMServer, tmp_path: Path
) -> None:
    screenshot = DOCS_SCREENSHOT if os.environ.get("DOCENT_UPDATE_SCREENSHOTS") == "1" else tmp_path / "dashboard.png"
    make_dashboard_data(fake)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 2000})
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(f"{asgi_server.url}/accounts/login/")
        page.locator("#id_login").fill("audrey")
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{asgi_server.url}/")
        page.goto(f"{asgi_server.url}/dashboard/")
        for key in CHARTS:
            chart = page.locator(f"#chart-{key} svg")
            expect(chart).to_be_visible()
            expect(chart).not_to_contain_text("No data yet")
        expect(page.locator("#chart-answers rect.bar").first).to_be_visible()
        expect(page.locator("#chart-spend-model_id line.ref").first).to_be_attached()
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.read_bytes().startswith(b"\x89PNG")
        assert not violations, violations
        context.close()
