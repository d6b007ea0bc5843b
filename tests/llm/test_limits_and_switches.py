"""Rate limits (429 + Retry-After, shared in Redis) and kill switches that degrade to the extractive answer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from assistant.llm.gateway import complete
from assistant.llm.models import KillSwitch
from assistant.llm.ratelimit import check_rate_limit, check_rate_limit_sync, rate_limited
from assistant.llm.services import configure_route, set_kill_switch
from tests.llm.conftest import chat_request
from tests.llm.helpers import anthropic_spec, openai_spec

pytestmark = pytest.mark.django_db


@rate_limited("test-sync")
def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("answered")


@rate_limited("test-async")
async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("answered")


def _request_as(user) -> HttpRequest:
    request = RequestFactory().post("/api/v1/conversations/1/messages/")
    request.user = user

    async def auser():
        return user

    request.auser = auser
    return request


def test_user_over_the_limit_gets_429_with_retry_after_and_others_do_not(settings) -> None:
    settings.LLM_RATE_LIMIT_PER_USER_PER_MINUTE = 3
    users = get_user_model().objects
    alice, bob = users.create_user(username="alice", password="x"), users.create_user(username="bob", password="x")

    statuses = [sync_view(_request_as(alice)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = sync_view(_request_as(alice))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert b"Too many requests" in refused.content
    assert sync_view(_request_as(bob)).status_code == 200  # per user


def test_async_views_are_limited_too(settings) -> None:
    settings.LLM_RATE_LIMIT_PER_USER_PER_MINUTE = 2
    alice = get_user_model().objects.create_user(username="alice", password="x")

    statuses = [async_to_sync(async_view)(_request_as(alice)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_endpoint_limit_applies_to_everyone_together(settings) -> None:
    settings.LLM_RATE_LIMIT_PER_ENDPOINT_PER_MINUTE = 5
    settings.LLM_RATE_LIMIT_PER_USER_PER_MINUTE = 100
    decisions = [check_rate_limit_sync(endpoint="busy", user_id=i) for i in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].limit == "endpoint"
    # The async check counts in the same Redis window.
    assert not async_to_sync(check_rate_limit)(endpoint="busy", user_id=99).allowed
    assert check_rate_limit_sync(endpoint="other", user_id=1).allowed


@pytest.mark.slow
def test_kill_switch_degrades_to_extractive_without_calling_the_provider(fake_llm) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm)])
    set_kill_switch(scope=KillSwitch.Scope.ALL_GENERATIVE, active=True, reason="incident 42")

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None
    assert result.done.label == "Extractive answer (no generative model configured)"
    assert result.done.fallback_used
    assert fake_llm.requests == []

    set_kill_switch(scope=KillSwitch.Scope.ALL_GENERATIVE, active=False)
    result = async_to_sync(complete)(chat_request())
    assert result.done is not None and result.done.deployment == "gpt-primary"


def test_switching_off_one_provider_or_deployment_uses_the_rest_of_the_chain(fake_llm) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm), anthropic_spec(fake_llm)])

    set_kill_switch(scope=KillSwitch.Scope.PROVIDER, target="openai_compatible", active=True)
    result = async_to_sync(complete)(chat_request())
    assert result.done is not None and result.done.deployment == "claude-backup"

    set_kill_switch(scope=KillSwitch.Scope.PROVIDER, target="openai_compatible", active=False)
    set_kill_switch(scope=KillSwitch.Scope.DEPLOYMENT, target="claude-backup", active=True)
    result = async_to_sync(complete)(chat_request())
    assert result.done is not None and result.done.deployment == "gpt-primary"
    assert [r.path for r in fake_llm.requests] == ["/v1/messages", "/v1/chat/completions"]


def test_unknown_route_is_a_clear_error() -> None:
    result = async_to_sync(complete)(chat_request(route="nonexistent"))
    assert result.error is not None and result.error.error_class == "unknown_route"
