"""Audit events are recorded on the main paths, with who, from where and what was shown; the auditor's admin
filters, searches, exports (audited) and replays access; AUDIT_CONTENT decides how much text is kept."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from assistant.audit.models import Action, AuditEvent
from assistant.audit.services import verify_chain
from assistant.llm.models import Route
from assistant.models import Message, PromptVersion
from assistant.prompts import move_label
from ingestion.services import Access, set_document_access
from retrieval.models import Chunk
from tests.audit.conftest import make_auditor
from tests.chat.conftest import Corpus, Team
from tests.ingestion.helpers import make_curator

pytestmark = pytest.mark.slow

UA = {"User-Agent": "AuditTest/1.0", "X-Request-ID": "req-audit-1"}


def _ask(user: Any, question: str) -> dict[str, Any]:
    client = Client(headers=UA)
    client.force_login(user)
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()["id"]
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages/", {"content": question}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_chat_turn_records_question_and_answer_with_what_was_shown(team: Team, corpus: Corpus) -> None:
    body = _ask(team.bob, "How long does a database failover take?")
    question = AuditEvent.objects.get(action=Action.QUESTION, actor_id=team.bob.pk)
    answer = AuditEvent.objects.get(action=Action.ANSWER, actor_id=team.bob.pk)
    message = Message.objects.get(pk=body["id"])
    assert (answer.ip, answer.user_agent, answer.request_id) == ("127.0.0.1", "AuditTest/1.0", "req-audit-1")
    assert question.request_id == answer.request_id == message.request_id == "req-audit-1"
    assert answer.chunk_ids == [c["chunk_id"] for c in body["citations"]]
    assert corpus.restricted.pk in answer.document_ids
    assert answer.prompt_version_id == message.prompt_version_id and answer.model_id == message.model_id
    assert answer.details["message_id"] == message.pk
    assert "four minutes" in answer.details["answer"]["text"]
    assert answer.details["question"]["text"] == "How long does a database failover take?"
    assert all(p["acl"] for p in answer.details["passages"]) and "public" in answer.details["user_acl_keys"]
    assert verify_chain().ok


def test_citation_opened_and_admin_views_of_conversations_are_audited(team: Team, corpus: Corpus) -> None:
    body = _ask(team.bob, "How long does a database failover take?")
    client = Client()
    client.force_login(team.bob)
    citation = Message.objects.get(pk=body["id"]).citations.first()
    assert citation is not None
    assert client.get(f"/api/v1/citations/{citation.pk}/").status_code == 200
    opened = AuditEvent.objects.get(action=Action.CITATION_OPENED)
    assert (opened.actor_id, opened.target_id, opened.chunk_ids) == (team.bob.pk, str(citation.pk), [citation.chunk_id])
    auditor = make_auditor()
    admin = Client()
    admin.force_login(auditor)
    conversation_id = Message.objects.get(pk=body["id"]).conversation_id
    assert admin.get(f"/admin/assistant/conversation/{conversation_id}/change/").status_code == 200
    viewed = AuditEvent.objects.get(action=Action.ADMIN_VIEW)
    assert (viewed.actor_name, viewed.target_type, viewed.target_id) == ("audrey", "conversation", str(conversation_id))


def test_sign_ins_uploads_access_changes_deletions_and_label_moves_are_audited(team: Team) -> None:
    assert Client().login(username="alice", password="wrong-password") is False
    failed = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert failed.actor_name == "alice" and failed.actor_id is None
    client = Client()
    assert client.login(username="alice", password="correct-horse-battery")
    assert AuditEvent.objects.filter(action=Action.LOGIN, actor_id=team.alice.pk).exists()

    make_curator(team.alice)
    upload = io.BytesIO(b"Parking is in the underground garage on level minus two.")
    upload.name = "parking.txt"
    response = client.post("/api/v1/documents/", {"file": upload, "title": "Parking", "groups": ["engineering"]})
    assert response.status_code == 202, response.content
    document_id = response.json()["id"]
    uploaded = AuditEvent.objects.get(action=Action.DOCUMENT_UPLOADED)
    assert (uploaded.actor_id, uploaded.document_ids) == (team.alice.pk, [document_id])

    response = client.put(
        f"/api/v1/documents/{document_id}/access/", {"public": True, "groups": []}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    changed = AuditEvent.objects.get(action=Action.DOCUMENT_ACCESS_CHANGED)
    assert changed.actor_id == team.alice.pk and "public" in changed.details["acl"]

    assert client.delete(f"/api/v1/documents/{document_id}/").status_code == 204
    deleted = AuditEvent.objects.get(action=Action.DOCUMENT_DELETED)
    assert (deleted.actor_id, deleted.details["title"]) == (team.alice.pk, "Parking")

    version = PromptVersion.objects.get(name="chat", version=1)
    move_label(version=version, label="canary-test", moved_by=team.alice, note="try it")
    moved = AuditEvent.objects.get(action=Action.PROMPT_LABEL_MOVED)
    assert (moved.target_id, moved.prompt_version_id, moved.details["note"]) == (
        "chat@canary-test",
        version.pk,
        "try it",
    )
    assert verify_chain().ok


def test_route_changes_in_the_admin_are_audited(team: Team) -> None:
    admin_user = team.alice
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    route = Route.objects.get(name="chat")
    form = {
        "name": "chat",
        "description": "changed by the test",
        "enabled": "on",
        "on_budget_exhausted": "block",
        "deployments-TOTAL_FORMS": "0",
        "deployments-INITIAL_FORMS": "0",
        "deployments-MIN_NUM_FORMS": "0",
        "deployments-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/llm/route/{route.pk}/change/", form)
    assert response.status_code == 302, response.content[:3000]
    change = AuditEvent.objects.get(action=Action.ADMIN_CHANGE)
    assert (change.actor_id, change.target_type, change.target_id) == (admin_user.pk, "llm.route", str(route.pk))
    assert change.details["operation"] == "changed"


def test_auditor_filters_searches_exports_and_replays_access(team: Team, corpus: Corpus) -> None:
    _ask(team.bob, "How long does a database failover take?")
    answer = AuditEvent.objects.get(action=Action.ANSWER, actor_id=team.bob.pk)
    auditor = make_auditor()
    client = Client()
    client.force_login(auditor)
    listing = client.get("/admin/audit/auditevent/", {"action__exact": Action.ANSWER, "actor": "bob"})
    assert listing.status_code == 200 and f">{answer.pk}<" in listing.content.decode()
    by_document = client.get("/admin/audit/auditevent/", {"document": str(corpus.restricted.pk)})
    assert f">{answer.pk}<" in by_document.content.decode()
    search = client.get("/admin/audit/auditevent/", {"q": f"chunk:{answer.chunk_ids[0]}"})
    assert f">{answer.pk}<" in search.content.decode()
    # Auditors only read.
    assert client.post(f"/admin/audit/auditevent/{answer.pk}/change/", {}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403

    export = client.post(
        "/admin/audit/auditevent/", {"action": "export_csv", "_selected_action": [answer.pk], "index": 0}
    )
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [row["id"] for row in rows] == [str(answer.pk)] and rows[0]["hash"] == answer.hash
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORT)
    assert exported.actor_id == auditor.pk and exported.details["rows"] == 1

    # Replay: bob was entitled to the runbook then; after bob leaves engineering he is not, and the replay says so.
    team.bob.groups.remove(team.engineering)
    replay = client.get(f"/admin/audit/auditevent/{answer.pk}/replay/")
    assert replay.status_code == 200
    page = replay.content.decode()
    restricted_chunk = Chunk.objects.filter(document=corpus.restricted).values_list("id", flat=True).first()
    row = page[page.index(f"<td>{restricted_chunk}</td>") :].split("</tr>")[0]
    assert '<td class="then">yes</td>' in row and '<td class="now">no</td>' in row
    assert AuditEvent.objects.filter(action=Action.AUDIT_REPLAY, actor_id=auditor.pk).exists()
    assert verify_chain().ok


def test_employees_cannot_read_the_audit_log(team: Team) -> None:
    team.charlie.is_staff = True
    team.charlie.save()
    charlie = Client()
    charlie.force_login(team.charlie)
    assert charlie.get("/admin/audit/auditevent/").status_code in (302, 403)
    curator = Client()
    make_curator(team.alice)
    team.alice.is_staff = True
    team.alice.save()
    curator.force_login(team.alice)
    assert curator.get("/admin/audit/auditevent/").status_code == 403


@pytest.mark.parametrize("mode", ["full", "redacted", "metadata"])
def test_audit_content_modes(mode: str, team: Team, corpus: Corpus, settings: Any) -> None:
    settings.AUDIT_CONTENT = mode
    question = "How long does a database failover take? Reply to bob.jones@example.com"
    _ask(team.bob, question)
    stored = AuditEvent.objects.get(action=Action.QUESTION).details["question"]
    if mode == "full":
        assert stored == {"text": question}
    elif mode == "redacted":
        assert stored == {"text": "How long does a database failover take? Reply to <EMAIL_ADDRESS>"}
    else:
        assert set(stored) == {"chars", "sha256"} and stored["chars"] == len(question)


def test_access_changes_keep_the_audit_record_of_what_was_shown(team: Team, corpus: Corpus) -> None:
    _ask(team.bob, "How long does a database failover take?")
    set_document_access(document=corpus.restricted, access=Access(group_ids=(Group.objects.create(name="x").pk,)))
    answer = AuditEvent.objects.get(action=Action.ANSWER)
    assert corpus.restricted.pk in answer.document_ids, "history is not rewritten by later access changes"


def test_the_streaming_asgi_path_records_the_request_context(team: Team, corpus: Corpus) -> None:
    from typing import cast

    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def run() -> None:
        client = AsyncClient()
        await client.aforce_login(team.bob)
        created = await client.post("/api/v1/conversations/", {}, content_type="application/json")
        response = await client.post(
            f"/api/v1/conversations/{created.json()['id']}/messages/",
            {"content": "How long does a database failover take?"},
            content_type="application/json",
            headers={"Accept": "text/event-stream", "User-Agent": "StreamTest/2.0", "X-Request-ID": "req-stream-9"},
        )
        assert b"event: done" in b"".join([chunk async for chunk in cast(Any, response).streaming_content])

    async_to_sync(run)()
    answer = AuditEvent.objects.get(action=Action.ANSWER)
    assert (answer.user_agent, answer.request_id) == ("StreamTest/2.0", "req-stream-9")
