"""The chat page in a real Chromium against Docent under uvicorn: sign in, ask, watch the answer stream in,
open a citation, give feedback, rename and delete a conversation, and never see a passage one may not read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import chromium
from tests.chat.conftest import PASSWORD, RESTRICTED_SECRET, make_corpus, make_team
from tests.fakes.llm_server import Behaviour, FakeLLMServer
from tests.processes import REPO_ROOT, WebServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = REPO_ROOT / "docs" / "img" / "chat.png"


def sign_in(page: Page, server: WebServer, username: str) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.locator("#id_login").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{server.url}/")
    expect(page.locator("#question")).to_be_visible()


def watch_csp(page: Page) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    return violations


def ask(page: Page, question: str) -> None:
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")


def test_ask_cite_feedback_rename_delete_and_outsider_sees_nothing_restricted(asgi_server: WebServer) -> None:
    team = make_team()
    make_corpus(team)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        page = context.new_page()
        violations = watch_csp(page)
        sign_in(page, asgi_server, "bob")

        ask(page, "How long does a database failover take?")
        answer = page.locator(".message.assistant").last
        expect(answer.locator(".thumb.up")).to_be_visible(timeout=90_000)
        expect(answer.locator(".message-body")).to_contain_text("four minutes")
        expect(answer.locator(".message-label")).to_have_text("Extractive answer (no generative model configured)")
        # The extractive answer is ready at once, so its words may arrive merged (assistant.streaming.coalesced);
        # a paced generative answer is shown growing token by token (the next test).
        assert int(page.locator("#messages").get_attribute("data-last-answer-tokens") or 0) >= 1
        expect(page.locator("#conversation-list .conversation-open").first).to_have_text(
            re.compile("How long does a database failover take")
        )

        # Open citation [1]: the passage, its title, the supporting sentence highlighted.
        answer.locator(".citation-ref").first.click()
        dialog = page.locator("#passage-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#passage-title")).to_contain_text("Database failover runbook")
        expect(dialog.locator("#passage-text mark").filter(has_text="four minutes")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOT))
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # Feedback: thumbs down with a comment.
        answer.locator(".thumb.down").click()
        expect(answer.locator(".feedback-form")).to_be_visible()
        answer.locator(".feedback-form textarea").fill("Please name the failover script.")
        answer.get_by_role("button", name="Send feedback").click()
        expect(page.locator("#chat-status")).to_have_text("Thank you for your feedback.")
        expect(answer.locator(".thumb.down")).to_have_attribute("aria-pressed", "true")

        # Rename, then delete the conversation.
        item = page.locator("#conversation-list .conversation-item").first
        item.get_by_role("button", name=re.compile("^Rename")).click()
        title_input = page.get_by_label("New title")
        title_input.fill("Failover timing")
        title_input.press("Enter")
        expect(page.locator("#conversation-list .conversation-open").first).to_have_text("Failover timing")
        expect(page.locator("#conversation-title")).to_have_text("Failover timing")
        page.once("dialog", lambda d: d.accept())
        page.locator("#conversation-list .conversation-item").first.get_by_role(
            "button", name=re.compile("^Delete")
        ).click()
        expect(page.locator("#conversation-list .conversation-item")).to_have_count(0)
        expect(page.locator("#conversation-empty")).to_be_visible()
        assert violations == []
        context.close()

        # charlie asks for the restricted runbook's secret: nothing of it appears anywhere on his page.
        context = browser.new_context(viewport={"width": 390, "height": 780})  # a phone-sized screen
        page = context.new_page()
        sign_in(page, asgi_server, "charlie")
        ask(page, "What is the emergency access code for the failover console?")
        answer = page.locator(".message.assistant").last
        expect(answer.locator(".message-actions")).to_be_visible(timeout=90_000)
        for citation in answer.locator(".citation-ref").all():
            citation.click()
            expect(page.locator("#passage-title")).not_to_contain_text("failover runbook")
            page.keyboard.press("Escape")
        html = page.content()
        assert RESTRICTED_SECRET not in html and "Database failover runbook" not in html
        page.locator("#open-sidebar").click()
        expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
        assert RESTRICTED_SECRET not in page.content()
        context.close()


def test_generative_answer_streams_token_by_token_and_stop_keeps_the_partial_answer(
    asgi_server: WebServer,
) -> None:
    from assistant.llm.services import configure_route
    from assistant.models import Message
    from tests.llm.helpers import openai_spec

    team = make_team()
    make_corpus(team)
    with FakeLLMServer() as fake, chromium() as browser:
        configure_route(name="chat", chain=[openai_spec(fake)])
        words = " ".join(f"word{i}" for i in range(60))
        fake.script(Behaviour(answer="Expense reports are due within thirty days [1]. See also [9].", token_delay=0.05))
        fake.script(Behaviour(answer=f"Managers approve expense reports within one week [1]. {words}", token_delay=0.2))
        page = browser.new_context(viewport={"width": 1280, "height": 820}).new_page()
        sign_in(page, asgi_server, "alice")
        page.evaluate(
            """() => { window.__renders = new Set();
              new MutationObserver(() => {
                const body = document.querySelector('.message.assistant.streaming .message-body');
                if (body && body.textContent !== 'Searching your documents…') window.__renders.add(body.textContent);
              }).observe(document.getElementById('messages'),
                         {subtree: true, childList: true, characterData: true}); }"""
        )
        ask(page, "Within how many days must expense reports be submitted?")
        answer = page.locator(".message.assistant").last
        expect(answer.locator(".thumb.up")).to_be_visible(timeout=60_000)
        expect(answer.locator(".message-body")).to_have_text("Expense reports are due within thirty days 1. See also .")
        assert page.evaluate("window.__renders.size") >= 3, "the answer was shown growing, token by token"
        assert answer.locator(".message-label").is_hidden()

        # A slow answer: stop it part-way; the partial answer stays, marked as stopped.
        ask(page, "Who approves expense reports?")
        answer = page.locator(".message.assistant").last
        expect(answer.locator(".message-body")).to_contain_text("word3", timeout=60_000)
        page.locator("#stop").click()
        expect(answer.locator(".message-body")).to_contain_text("(Stopped.)")
        expect(page.locator("#send")).to_be_enabled()
        stored = None
        for _ in range(50):
            stored = Message.objects.filter(status=Message.Status.STOPPED).first()
            if stored:
                break
            page.wait_for_timeout(200)
        assert stored is not None and "word3" in stored.content and "word59" not in stored.content
