"""The circuit breaker: opens after repeated failures, refuses calls while open, lets exactly one half-open
probe through after the cooldown, and keeps its state in Redis so that separate processes agree."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from asgiref.sync import async_to_sync

from assistant.llm import breaker
from assistant.llm.gateway import complete
from assistant.llm.models import LLMCall
from assistant.llm.services import configure_route
from tests.fakes.llm_server import Behaviour
from tests.llm.conftest import chat_request
from tests.llm.helpers import anthropic_spec, openai_spec
from tests.processes import REPO_ROOT, process_env

OPENAI = "/v1/chat/completions"
COOLDOWN = 1.5


@pytest.fixture
def breaker_settings(settings):
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 2
    settings.LLM_BREAKER_COOLDOWN_SECONDS = COOLDOWN
    return settings


def _call_in_another_process(request_id: str, *, cooldown: float) -> dict[str, str | None]:
    env = process_env(
        LLM_MAX_RETRIES="0",
        LLM_BREAKER_FAILURE_THRESHOLD="2",
        LLM_BREAKER_COOLDOWN_SECONDS=str(cooldown),
        LLM_CONFIG_CACHE_SECONDS="0",
    )
    completed = subprocess.run(
        [sys.executable, "-m", "tests.llm.gateway_call", request_id],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


# Transactional: the other process must see this test's rows. The flush that ends it empties the seeded
# rows; tests that need them afterwards restore them (tests/chat/conftest.py), and post_migrate re-creates
# the role groups.
@pytest.mark.django_db(transaction=True)
def test_breaker_opens_here_is_respected_there_and_a_probe_there_closes_it(fake_llm, breaker_settings) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm), anthropic_spec(fake_llm)])
    fake_llm.script(Behaviour(status=500), Behaviour(status=500), api="openai")

    # This process: two outages open the primary's breaker (each call still answered by the backup).
    for _ in range(2):
        result = async_to_sync(complete)(chat_request())
        assert result.done is not None and result.done.deployment == "claude-backup"
    assert breaker.current_state("gpt-primary").state == "open"
    calls_to_primary = sum(r.path == OPENAI for r in fake_llm.requests)

    # Another process: the breaker is open there too, so the primary is not even called. (Starting a
    # process takes longer than the test's short cooldown, so this one is configured with a long one.)
    outcome = _call_in_another_process("child-while-open", cooldown=600)
    assert outcome == {"deployment": "claude-backup", "error": None}
    assert sum(r.path == OPENAI for r in fake_llm.requests) == calls_to_primary
    skipped = LLMCall.objects.get(request_id="child-while-open", deployment="gpt-primary")
    assert (skipped.outcome, skipped.error_class) == ("skipped", "breaker_open")

    # After the cooldown the other process's call is the half-open probe; the primary has recovered.
    time.sleep(COOLDOWN + 0.2)
    outcome = _call_in_another_process("child-probe", cooldown=COOLDOWN)
    assert outcome == {"deployment": "gpt-primary", "error": None}
    assert breaker.current_state("gpt-primary").state == "closed"

    # And this process sees it closed: the primary answers again.
    result = async_to_sync(complete)(chat_request())
    assert result.done is not None and result.done.deployment == "gpt-primary"


@pytest.mark.django_db
def test_only_one_probe_is_let_through_and_a_failed_probe_reopens(fake_llm, breaker_settings) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm), anthropic_spec(fake_llm)])
    fake_llm.script(Behaviour(status=502), Behaviour(status=502), api="openai")
    for _ in range(2):
        async_to_sync(complete)(chat_request())
    assert breaker.current_state("gpt-primary").state == "open"
    time.sleep(COOLDOWN + 0.2)

    async def two_admissions() -> list[breaker.Admission]:
        return [await breaker.admit("gpt-primary", probe_timeout=30) for _ in range(2)]

    assert async_to_sync(two_admissions)() == [breaker.Admission.PROBE, breaker.Admission.REFUSED]

    async def probe_fails() -> str:
        return await breaker.record("gpt-primary", success=False)

    assert async_to_sync(probe_fails)() == "open"
    assert breaker.current_state("gpt-primary").state == "open"


@pytest.mark.django_db
def test_refused_requests_do_not_count_against_the_deployment(fake_llm, breaker_settings) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm), anthropic_spec(fake_llm)])
    fake_llm.script(*[Behaviour(status=400, error_code="context_length_exceeded")] * 3, api="openai")

    for _ in range(3):
        async_to_sync(complete)(chat_request())

    assert breaker.current_state("gpt-primary").state == "closed"
