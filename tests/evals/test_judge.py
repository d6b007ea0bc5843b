"""The optional LLM-as-judge: used only when the gateway's guard route has a generative deployment, called
through the gateway (the loopback model server stands in for the provider)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.evals import judge
from assistant.llm.models import LLMCall
from assistant.llm.redis_client import KEY_PREFIX, sync_redis
from assistant.llm.services import configure_route
from tests.chat.conftest import restore_migration_seeds
from tests.fakes.llm_server import Behaviour, FakeLLMServer
from tests.llm.helpers import openai_spec


@pytest.fixture
def fake(settings) -> Iterator[FakeLLMServer]:
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    settings.LLM_RETRY_BASE_SECONDS = 0.01
    client = sync_redis()
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    with FakeLLMServer() as server:
        yield server


def test_no_judge_without_a_generative_guard_deployment(db: None) -> None:
    restore_migration_seeds()
    assert not judge.available()


def test_judge_grades_through_the_guard_route(db: None, fake: FakeLLMServer) -> None:
    restore_migration_seeds()
    configure_route(name="guard", chain=[openai_spec(fake, name="guard-mini")])
    assert judge.available()
    fake.set_default(Behaviour(answer="SCORE: 0.75"))
    score = judge.grade(question="How many vacation days?", answer="25 days [1].", facts=["25 vacation days"])
    assert score == 0.75
    call = LLMCall.objects.get()
    assert (call.route, call.deployment, call.outcome) == ("guard", "guard-mini", "ok")
    prompt = fake.requests[-1].body["messages"][-1]["content"]
    assert "25 vacation days" in prompt and "25 days [1]." in prompt


def test_out_of_format_or_failed_judging_gives_no_score(db: None, fake: FakeLLMServer) -> None:
    restore_migration_seeds()
    configure_route(name="guard", chain=[openai_spec(fake, name="guard-mini")])
    fake.set_default(Behaviour(answer="I think it is pretty good"))
    assert judge.grade(question="q", answer="a", facts=[]) is None
    fake.set_default(Behaviour(status=401))
    assert judge.grade(question="q", answer="a", facts=[]) is None


@pytest.mark.parametrize(("text", "score"), [("SCORE: 1", 1.0), ("SCORE: 0.4\n", 0.4), ("score 0.4", None)])
def test_parse_score(text: str, score: float | None) -> None:
    assert judge.parse_score(text) == score
