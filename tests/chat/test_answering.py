"""The grounded chat turn through the JSON API: cited answers from permitted passages only, "nothing found"
instead of guessing, and a record of what produced every answer."""

from __future__ import annotations

import pytest
from django.test import Client

from assistant.models import Citation, Message, PromptLabel
from assistant.services import is_relevant
from tests.chat.conftest import RESTRICTED_SECRET, Corpus, Team

pytestmark = pytest.mark.slow


def ask(client: Client, question: str) -> tuple[int, dict]:
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/", {"content": question}, content_type="application/json"
    )
    return response.status_code, response.json()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_member_gets_an_extractive_answer_cited_from_the_restricted_runbook(team: Team, corpus: Corpus) -> None:
    status, body = ask(signed_in(team.bob), "How long does a database failover take?")
    assert status == 201, body
    assert body["status"] == "complete"
    assert body["label"] == "Extractive answer (no generative model configured)"
    assert "four minutes" in body["content"]
    cited = [c for c in body["citations"] if c["cited"]]
    assert cited and all(c["document_id"] in {corpus.restricted.pk, corpus.public.pk} for c in cited)
    assert any(c["document_id"] == corpus.restricted.pk for c in cited)
    # Every marker in the answer maps to a passage that was shown.
    shown = {c["number"] for c in body["citations"]}
    assert set(body["cited"]) <= shown
    assert body["invalid_citations"] == []


def test_outsider_never_gets_the_restricted_passage(team: Team, corpus: Corpus) -> None:
    status, body = ask(signed_in(team.charlie), "What is the emergency access code for the failover console?")
    assert status == 201
    assert RESTRICTED_SECRET not in str(body)
    assert all(c["document_id"] != corpus.restricted.pk for c in body["citations"])
    stored = Citation.objects.filter(message_id=body["id"])
    assert not stored.filter(document_id=corpus.restricted.pk).exists()


def test_unrelated_question_says_nothing_found_instead_of_guessing(team: Team, corpus: Corpus) -> None:
    status, body = ask(signed_in(team.alice), "Who won the football world cup in 1954?")
    assert status == 201
    assert body["status"] == "nothing_found"
    assert "could not find" in body["content"]
    assert body["citations"] == []
    assert body["model_id"] == ""  # no model was asked


def test_outsider_asking_about_a_document_he_cannot_read_gets_nothing_found_not_an_off_topic_passage(
    team: Team, corpus: Corpus
) -> None:
    # charlie may read only the public expenses policy: the closest passage he may read is off-topic.
    status, body = ask(signed_in(team.charlie), "How long does a database failover take?")
    assert status == 201
    assert body["status"] == "nothing_found", body["content"]
    assert body["citations"] == []
    # bob, who may read the runbook, gets it for the same question.
    status, body = ask(signed_in(team.bob), "How long does a database failover take?")
    assert body["status"] == "complete" and "four minutes" in body["content"]


def test_relevance_gate_admits_a_weaker_passage_only_with_a_keyword_match() -> None:
    from retrieval.search import ChunkHit

    def hit(lexical_rank: int | None) -> ChunkHit:
        return ChunkHit(1, 1, 1, "t", "text", "", {}, 0.0, dense_rank=1, lexical_rank=lexical_rank)

    assert is_relevant(hit(None), 0.40) and is_relevant(hit(3), 0.40)
    assert is_relevant(hit(1), 0.25), "close enough together with a shared keyword"
    assert not is_relevant(hit(None), 0.25), "as close, but no shared keyword"
    assert not is_relevant(hit(1), 0.10), "a keyword alone is not enough"


def test_answer_records_prompt_version_route_model_and_retrieval_settings(team: Team, corpus: Corpus) -> None:
    status, body = ask(signed_in(team.alice), "Within how many days must expense reports be submitted?")
    assert status == 201
    message = Message.objects.get(pk=body["id"])
    production = PromptLabel.objects.get(name="chat", label="production").version
    assert message.prompt_version_id == production.pk
    assert message.route == "chat"
    assert message.model_id
    settings_used = message.retrieval_settings
    assert settings_used["k"] >= 1 and "min_relevance" in settings_used and "embedding_model" in settings_used
    # The gate's inputs are recorded: one similarity per retrieved passage.
    assert len(settings_used["relevance"]) == len(settings_used["retrieved_chunk_ids"]) >= 1
    # The stored citations are exactly the chunks that were shown, numbered as in the answer.
    stored = list(message.citations.order_by("number").values_list("number", "chunk_id"))
    assert stored == [(c["number"], c["chunk_id"]) for c in body["citations"]]
    assert "thirty days" in body["content"]
    assert message.reply_to is not None and message.reply_to.content.startswith("Within how many days")
