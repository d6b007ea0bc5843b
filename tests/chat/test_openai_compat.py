"""The OpenAI-compatible endpoint, driven by the official ``openai`` client against Docent under uvicorn."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import requests

from accounts.services import create_api_token
from assistant.models import Conversation, Message
from tests.chat.conftest import RESTRICTED_SECRET, make_corpus, make_team
from tests.processes import WebServer

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(asgi_server: WebServer):
    team = make_team()
    corpus = make_corpus(team)
    tokens = {name: create_api_token(user=getattr(team, name), name="test").raw for name in ("alice", "bob", "charlie")}
    return asgi_server, team, corpus, tokens


def client_for(server: WebServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0, timeout=120)


def test_non_streaming_completion_answers_with_citations(setup) -> None:
    server, team, corpus, tokens = setup
    completion = client_for(server, tokens["bob"]).chat.completions.create(
        model="docent", messages=[{"role": "user", "content": "How long does a database failover take?"}]
    )
    content = completion.choices[0].message.content or ""
    assert completion.choices[0].finish_reason == "stop"
    assert "four minutes" in content
    assert "\n\nSources:\n[" in content and "Database failover runbook" in content
    citations = (completion.model_extra or {})["citations"]
    assert any(c["document_id"] == corpus.restricted.pk and c["cited"] for c in citations)
    # Stored as a conversation of the token's user.
    conversation = Conversation.objects.get(owner=team.bob, channel="openai")
    assert conversation.messages.filter(role=Message.Role.ASSISTANT).count() == 1


def test_streaming_completion_arrives_in_chunks(setup) -> None:
    server, _, _, tokens = setup
    stream = client_for(server, tokens["alice"]).chat.completions.create(
        model="docent",
        messages=[{"role": "user", "content": "Within how many days must expense reports be submitted?"}],
        stream=True,
    )
    pieces: list[str] = []
    finish = None
    citations = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
            citations = (chunk.model_extra or {}).get("citations")
    text = "".join(pieces)
    assert len(pieces) > 3
    assert "thirty days" in text and "Sources:" in text
    assert finish == "stop"
    assert citations and all({"number", "chunk_id", "document_id", "title"} <= set(c) for c in citations)


def test_outsider_token_never_gets_the_restricted_passage(setup) -> None:
    server, _, corpus, tokens = setup
    client = client_for(server, tokens["charlie"])
    question: Any = [{"role": "user", "content": "What is the emergency access code for the failover console?"}]
    completion = client.chat.completions.create(model="docent", messages=question)
    assert RESTRICTED_SECRET not in (completion.choices[0].message.content or "")
    assert all(c["document_id"] != corpus.restricted.pk for c in (completion.model_extra or {})["citations"])
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="docent", messages=question, stream=True)
        if chunk.choices
    )
    assert RESTRICTED_SECRET not in streamed and "failover runbook" not in streamed.lower()


def test_models_list_and_authentication(setup) -> None:
    server, _, _, tokens = setup
    assert [m.id for m in client_for(server, tokens["alice"]).models.list()] == ["docent"]
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "dct_not_a_real_token").chat.completions.create(
            model="docent", messages=[{"role": "user", "content": "hello"}]
        )
    with pytest.raises(openai.BadRequestError):
        client_for(server, tokens["alice"]).chat.completions.create(
            model="docent", messages=[{"role": "system", "content": "no question here"}]
        )
    # Without a token (and without a session) nothing is answered.
    response = requests.post(f"{server.url}/v1/chat/completions", json={"messages": []}, timeout=10)
    assert response.status_code == 401
