"""The chat REST API: conversations (owner only), SSE answers, feedback, and citations that re-check access."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from assistant.models import Conversation, Feedback, Message
from ingestion.services import Access, set_document_access
from tests.chat.conftest import RESTRICTED_SECRET, Corpus, Team

pytestmark = pytest.mark.slow


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_conversation(client: Client, title: str = "") -> int:
    response = client.post("/api/v1/conversations/", {"title": title}, content_type="application/json")
    assert response.status_code == 201
    return response.json()["id"]


def ask_json(client: Client, conversation_id: int, question: str) -> dict:
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages/", {"content": question}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def parse_sse(body: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def post_sse(user, conversation_id: int, question: str) -> tuple[int, str, bytes]:
    """POST through the ASGI handler and read the streamed body as it comes (AsyncClient)."""

    async def run() -> tuple[int, str, bytes]:
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/messages/",
            {"content": question},
            content_type="application/json",
            headers={"Accept": "text/event-stream"},
        )
        chunks = [chunk async for chunk in cast(Any, response).streaming_content]
        return response.status_code, response["Content-Type"], b"".join(chunks)

    return async_to_sync(run)()


def test_sse_stream_sends_citations_then_tokens_then_done(team: Team, corpus: Corpus) -> None:
    conversation_id = new_conversation(signed_in(team.alice))
    status, content_type, body = post_sse(team.alice, conversation_id, "How long does a database failover take?")
    assert status == 200
    assert content_type.startswith("text/event-stream")
    events = parse_sse(body)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "citation" and kinds[-1] == "done"
    # The extractive answer is ready at once, so its words may go out merged (see test_streaming.py).
    assert kinds.count("token") >= 1
    assert kinds.index("token") > max(i for i, k in enumerate(kinds) if k == "citation")
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert "four minutes" in done["content"]
    assert streamed.strip() == done["content"]
    shown = {data["number"] for kind, data in events if kind == "citation"}
    assert set(done["cited"]) <= shown and done["cited"]
    assert Message.objects.filter(pk=done["id"], conversation_id=conversation_id).exists()


def test_sse_stream_for_outsider_carries_no_restricted_passage(team: Team, corpus: Corpus) -> None:
    conversation_id = new_conversation(signed_in(team.charlie))
    status, _, raw = post_sse(team.charlie, conversation_id, "emergency access code failover console")
    assert status == 200
    body = raw.decode()
    assert RESTRICTED_SECRET not in body
    assert f'"document_id":{corpus.restricted.pk}' not in body


def test_conversation_of_another_user_is_404_on_every_path(team: Team, corpus: Corpus) -> None:
    alice = signed_in(team.alice)
    conversation_id = new_conversation(alice, "Failover questions")
    answer = ask_json(alice, conversation_id, "How long does a database failover take?")
    citation_id = Message.objects.get(pk=answer["id"]).citations.order_by("number")[0].pk
    for outsider in (team.bob, team.charlie):  # bob shares alice's group, but not her conversations
        other = signed_in(outsider)
        assert other.get(f"/api/v1/conversations/{conversation_id}/").status_code == 404
        assert (
            other.patch(
                f"/api/v1/conversations/{conversation_id}/", {"title": "x"}, content_type="application/json"
            ).status_code
            == 404
        )
        assert other.delete(f"/api/v1/conversations/{conversation_id}/").status_code == 404
        posted = other.post(
            f"/api/v1/conversations/{conversation_id}/messages/", {"content": "hi"}, content_type="application/json"
        )
        assert posted.status_code == 404
        assert (
            other.post(
                f"/api/v1/messages/{answer['id']}/feedback/", {"rating": 1}, content_type="application/json"
            ).status_code
            == 404
        )
        assert other.get(f"/api/v1/citations/{citation_id}/").status_code == 404
        listed = other.get("/api/v1/conversations/").json()
        assert conversation_id not in [c["id"] for c in listed]
    assert Conversation.objects.get(pk=conversation_id).title == "Failover questions"
    assert not Feedback.objects.exists()


def test_anonymous_requests_are_refused(team: Team) -> None:
    client = Client()
    assert client.get("/api/v1/conversations/").status_code in (401, 403)
    assert (
        client.post("/api/v1/conversations/1/messages/", {"content": "x"}, content_type="application/json").status_code
        == 401
    )


def test_session_post_without_csrf_token_is_refused(team: Team) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.alice)
    conversation = Conversation.objects.create(owner=team.alice)
    response = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not conversation.messages.exists()


def test_list_search_rename_and_delete_own_conversations(team: Team, corpus: Corpus) -> None:
    client = signed_in(team.alice)
    first = new_conversation(client)
    ask_json(client, first, "Within how many days must expense reports be submitted?")
    second = new_conversation(client, "Failover")
    with CaptureQueriesContext(connection) as queries:
        listed = client.get("/api/v1/conversations/").json()
    assert [c["id"] for c in listed] == [second, first]
    assert len(queries) <= 4, "listing conversations is a fixed number of queries"
    # The first question became the title; search matches titles and message text.
    assert listed[1]["title"].startswith("Within how many days")
    assert [c["id"] for c in client.get("/api/v1/conversations/?q=receipt").json()] == [first]
    assert [c["id"] for c in client.get("/api/v1/conversations/?q=failover").json()] == [second]
    renamed = client.patch(f"/api/v1/conversations/{first}/", {"title": "Expenses"}, content_type="application/json")
    assert renamed.json()["title"] == "Expenses"
    assert client.delete(f"/api/v1/conversations/{first}/").status_code == 204
    assert not Conversation.objects.filter(pk=first).exists()
    assert not Message.objects.filter(conversation_id=first).exists()


def test_reading_a_conversation_is_a_fixed_number_of_queries(team: Team, corpus: Corpus) -> None:
    client = signed_in(team.alice)
    conversation_id = new_conversation(client)
    ask_json(client, conversation_id, "How long does a database failover take?")
    with CaptureQueriesContext(connection) as one:
        client.get(f"/api/v1/conversations/{conversation_id}/")
    ask_json(client, conversation_id, "Who approves expense reports?")
    ask_json(client, conversation_id, "When is the incident report due?")
    with CaptureQueriesContext(connection) as three:
        body = client.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert len(body["messages"]) == 6
    assert len(three) == len(one)


def test_feedback_is_recorded_once_per_user_and_answer(team: Team, corpus: Corpus) -> None:
    client = signed_in(team.bob)
    conversation_id = new_conversation(client)
    answer = ask_json(client, conversation_id, "How long does a database failover take?")
    url = f"/api/v1/messages/{answer['id']}/feedback/"
    assert client.post(url, {"rating": 1}, content_type="application/json").status_code == 200
    response = client.post(url, {"rating": -1, "comment": "Missing the script name"}, content_type="application/json")
    assert response.json() == {"rating": -1, "comment": "Missing the script name"}
    feedback = Feedback.objects.get(message_id=answer["id"])
    assert (feedback.user_id, feedback.rating, feedback.comment) == (team.bob.pk, -1, "Missing the script name")
    assert client.post(url, {"rating": 5}, content_type="application/json").status_code == 400
    question_id = answer["question_id"]
    assert (
        client.post(
            f"/api/v1/messages/{question_id}/feedback/", {"rating": 1}, content_type="application/json"
        ).status_code
        == 404
    )
    detail = client.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert detail["messages"][1]["feedback"] == {"rating": -1, "comment": "Missing the script name"}


def test_citation_shows_passage_with_highlights_and_hides_it_after_access_is_revoked(
    team: Team, corpus: Corpus
) -> None:
    client = signed_in(team.bob)
    conversation_id = new_conversation(client)
    answer = ask_json(client, conversation_id, "How long does a database failover take?")
    restricted = next(c for c in answer["citations"] if c["document_id"] == corpus.restricted.pk and c["cited"])
    citation = Message.objects.get(pk=answer["id"]).citations.get(number=restricted["number"])
    opened = client.get(f"/api/v1/citations/{citation.pk}/").json()
    assert opened["available"] and opened["title"] == "Database failover runbook"
    assert opened["document_url"] == f"/documents/{corpus.restricted.pk}/"
    assert client.get(opened["document_url"]).status_code == 200, "the link opens the document page"
    highlighted = " ".join(s["text"] for s in opened["segments"] if s["highlight"])
    assert "four minutes" in highlighted
    assert "".join(s["text"] for s in opened["segments"]).strip()

    # Alice takes the runbook away from her group: bob's old answer must no longer show the passage.
    set_document_access(document=corpus.restricted, access=Access(is_public=False, group_ids=(), user_ids=()))
    revoked = client.get(f"/api/v1/citations/{citation.pk}/").json()
    assert revoked["available"] is False
    assert revoked["segments"] == [] and revoked["title"] == "" and revoked["document_url"] is None
    detail = client.get(f"/api/v1/conversations/{conversation_id}/").json()
    listed = next(c for c in detail["messages"][1]["citations"] if c["number"] == restricted["number"])
    assert listed["available"] is False and listed["title"] == ""
    assert RESTRICTED_SECRET not in json.dumps(detail)


def test_regenerate_replaces_the_last_answer(team: Team, corpus: Corpus) -> None:
    client = signed_in(team.alice)
    conversation_id = new_conversation(client)
    first = ask_json(client, conversation_id, "Who approves expense reports?")
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages/", {"regenerate": True}, content_type="application/json"
    )
    again = response.json()
    assert response.status_code == 201 and again["id"] != first["id"]
    assert again["question_id"] == first["question_id"]
    assert not Message.objects.filter(pk=first["id"]).exists()
    assert Message.objects.filter(conversation_id=conversation_id).count() == 2


def test_empty_and_oversized_questions_are_rejected(team: Team) -> None:
    client = signed_in(team.alice)
    conversation_id = new_conversation(client)
    url = f"/api/v1/conversations/{conversation_id}/messages/"
    assert client.post(url, {"content": "  "}, content_type="application/json").status_code == 400
    assert client.post(url, {"content": "x" * 5000}, content_type="application/json").status_code == 400
    assert client.post(url, {"regenerate": True}, content_type="application/json").status_code == 400
    assert not Message.objects.exists()


def test_asking_too_often_is_refused_with_retry_after(team: Team, settings) -> None:
    settings.LLM_RATE_LIMIT_PER_USER_PER_MINUTE = 2
    client = signed_in(team.charlie)
    conversation_id = new_conversation(client)
    url = f"/api/v1/conversations/{conversation_id}/messages/"
    statuses = [
        client.post(url, {"content": "Who won the 1954 world cup?"}, content_type="application/json") for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert int(statuses[2]["Retry-After"]) >= 1
    assert "Please wait" in statuses[2].json()["detail"]
    assert Message.objects.filter(conversation_id=conversation_id, role="user").count() == 2


def test_openapi_schema_documents_the_async_answer_endpoints_and_live_answers_match_it(
    team: Team, corpus: Corpus
) -> None:
    import jsonschema

    client = signed_in(team.bob)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    post = schema["paths"]["/api/v1/conversations/{conversation_id}/messages/"]["post"]
    assert set(post["responses"]["201"]["content"]) == {"application/json", "text/event-stream"}
    assert "/v1/chat/completions" in schema["paths"] and "/v1/models" in schema["paths"]

    answer = ask_json(client, new_conversation(client), "How long does a database failover take?")
    validator = {"$ref": "#/components/schemas/Answer", "components": schema["components"]}
    jsonschema.validate(answer, validator)
    with pytest.raises(jsonschema.ValidationError):  # the schema has teeth
        jsonschema.validate({**answer, "citations": [{"number": "one"}]}, validator)
