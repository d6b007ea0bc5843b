from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from ingestion.models import Document, DocumentVersion, IngestionJob
from retrieval.embeddings import get_embedder
from retrieval.models import Chunk
from tests.ingestion import files
from tests.ingestion.helpers import make_curator, run_job

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def curator_alice(alice):
    make_curator(alice)
    return alice


def upload(client, name, data, **fields):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


@pytest.mark.slow
def test_pdf_docx_html_uploads_become_ready_with_acl_locators_and_versions(curator_alice, engineering, bob, charlie):
    alice = curator_alice
    client = api_for(alice)
    ids = {}
    for name, data in [("incident.pdf", files.pdf_bytes()), ("onboarding.docx", files.docx_bytes()),
                       ("expenses.html", files.html_bytes())]:  # fmt: skip
        response = upload(client, name, data, groups=["engineering"])
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "queued"
        ids[name] = response.json()["id"]
        assert run_job(ids[name]).status == "ready"
    expected_acl = sorted([f"group:{engineering.pk}", f"user:{alice.pk}"])
    for document_id in ids.values():
        status = client.get(f"/api/v1/documents/{document_id}/").json()
        assert status["status"] == "ready" and status["progress"] == 100 and status["chunk_count"] > 0
        for chunk in Chunk.objects.filter(document_id=document_id):
            assert sorted(chunk.acl) == expected_acl
            assert chunk.embedding_model == get_embedder().model_id
            assert chunk.chunker_version == "tokens-1:200/32"
    pdf_locators = [c.locator for c in Chunk.objects.filter(document_id=ids["incident.pdf"]).order_by("ordinal")]
    assert pdf_locators == [{"section": "1 Overview", "page": 1}, {"section": "2 Escalation", "page": 2}]
    docx_locators = {c.locator["section"] for c in Chunk.objects.filter(document_id=ids["onboarding.docx"])}
    assert docx_locators == {"Onboarding", "Onboarding > Accounts"}
    html_chunks = Chunk.objects.filter(document_id=ids["expenses.html"]).order_by("ordinal")
    assert [c.locator for c in html_chunks] == [{"section": "Expense policy"}, {"section": "Expense policy > Travel"}]
    assert "alert(1)" not in " ".join(c.text for c in html_chunks)  # scripts are dropped
    version = DocumentVersion.objects.get(document_id=ids["onboarding.docx"])
    assert version.parser_version == "docx-1"
    assert version.detected_type.endswith("wordprocessingml.document")
    # bob (same group) sees the status; charlie (outsider) gets the same 404 as for a missing document.
    assert api_for(bob).get(f"/api/v1/documents/{ids['incident.pdf']}/").status_code == 200
    assert api_for(charlie).get(f"/api/v1/documents/{ids['incident.pdf']}/").status_code == 404


def test_employees_without_the_curator_role_cannot_upload(bob):
    response = upload(api_for(bob), "a.txt", b"hello there")
    assert response.status_code == 403
    assert Document.objects.count() == 0


def test_anonymous_requests_are_refused(db):
    assert APIClient().post("/api/v1/documents/", {}).status_code in (401, 403)
    assert APIClient().get("/api/v1/documents/1/").status_code in (401, 403)


def test_unknown_group_is_a_400_and_nothing_is_stored(curator_alice, media_root):
    response = upload(api_for(curator_alice), "a.txt", b"hello there", groups=["nope"])
    assert response.status_code == 400
    assert "Unknown group(s): nope." in str(response.json())
    assert Document.objects.count() == 0
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))


def test_access_change_updates_chunk_acls_without_reembedding(curator_alice, engineering, bob, charlie, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    client = api_for(curator_alice)
    document_id = upload(client, "runbook.md", b"# Runbook\n\nRestart the queue.", groups=["engineering"]).json()["id"]
    run_job(document_id)
    before = {c.pk: list(c.embedding) for c in Chunk.objects.filter(document_id=document_id)}
    assert (
        api_for(charlie).put(f"/api/v1/documents/{document_id}/access/", {"public": True}, format="json").status_code
        == 404
    )
    # bob can see it but is neither owner nor curator.
    assert (
        api_for(bob).put(f"/api/v1/documents/{document_id}/access/", {"public": True}, format="json").status_code == 403
    )
    response = client.put(
        f"/api/v1/documents/{document_id}/access/", {"public": False, "users": ["charlie"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"id": document_id, "public": False, "groups": [], "users": ["charlie"]}
    chunks = Chunk.objects.filter(document_id=document_id)
    assert {tuple(sorted(c.acl)) for c in chunks} == {tuple(sorted([f"user:{charlie.pk}", f"user:{curator_alice.pk}"]))}
    assert {c.pk: list(c.embedding) for c in chunks} == before
    assert api_for(charlie).get(f"/api/v1/documents/{document_id}/").status_code == 200
    assert api_for(bob).get(f"/api/v1/documents/{document_id}/").status_code == 404


def test_delete_purges_chunks_versions_and_blobs(curator_alice, bob, settings, django_capture_on_commit_callbacks):
    settings.EMBEDDING_BACKEND = "hashing"
    client = api_for(curator_alice)
    document_id = upload(client, "a.md", b"# A\n\nSome text.", public="true").json()["id"]
    run_job(document_id)
    key = DocumentVersion.objects.get(document_id=document_id).blob_key
    assert default_storage.exists(key)
    assert api_for(bob).delete(f"/api/v1/documents/{document_id}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/documents/{document_id}/").status_code == 204
    assert not default_storage.exists(key)
    assert not Document.objects.filter(pk=document_id).exists()
    assert not Chunk.objects.filter(document_id=document_id).exists()
    assert not IngestionJob.objects.filter(version__document_id=document_id).exists()


def test_status_reads_a_fixed_number_of_queries(curator_alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    client = api_for(curator_alice)
    document_id = upload(client, "a.md", b"# A\n\nSome text.", public="true").json()["id"]
    run_job(document_id)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/documents/{document_id}/").status_code == 200
    assert len(queries) <= 8
