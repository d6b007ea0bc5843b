"""The document page: readers download the original; the owner and curators change access and delete;
listing a document (curators see all) never implies reading it."""

from __future__ import annotations

import pytest
from django.test import Client

from ingestion.models import Document
from ingestion.services import Access, upload_document
from retrieval.models import Chunk
from tests.ingestion.helpers import make_curator, run_job

pytestmark = pytest.mark.django_db

RUNBOOK = b"# Failover runbook\n\nPromote the standby replica with the failover script. Code ORCA-4411.\n"


@pytest.fixture(autouse=True)
def _hashing(settings):
    # About pages and permissions, not embeddings (the real model runs in test_api / test_worker).
    settings.EMBEDDING_BACKEND = "hashing"


@pytest.fixture
def runbook(alice, engineering) -> Document:
    job = upload_document(data=RUNBOOK, filename="failover.md", owner=alice, access=Access(group_ids=(engineering.pk,)))
    document = job.version.document
    assert run_job(document.pk).status == "ready"
    return document


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_reader_sees_the_page_and_downloads_the_original_as_an_attachment(bob, runbook):
    client = client_for(bob)
    page = client.get(f"/documents/{runbook.pk}/")
    assert page.status_code == 200
    assert b'id="download"' in page.content and b"access-form" not in page.content  # bob reads, cannot manage
    download = client.get(f"/documents/{runbook.pk}/download")
    assert download.status_code == 200
    assert download.content == RUNBOOK
    assert download["Content-Disposition"].startswith("attachment;")


def test_an_outsider_gets_404_for_the_page_and_the_file(charlie, runbook):
    client = client_for(charlie)
    assert client.get(f"/documents/{runbook.pk}/").status_code == 404
    assert client.get(f"/documents/{runbook.pk}/download").status_code == 404


def test_a_curator_manages_a_document_but_cannot_download_what_is_not_shared_with_them(charlie, runbook):
    make_curator(charlie)
    client = client_for(charlie)
    page = client.get(f"/documents/{runbook.pk}/")
    assert page.status_code == 200
    assert b"access-form" in page.content and b'id="no-read"' in page.content and b'id="download"' not in page.content
    assert client.get(f"/documents/{runbook.pk}/download").status_code == 404


def test_the_owner_makes_it_public_and_the_chunks_follow_at_once(alice, charlie, runbook):
    response = client_for(alice).post(f"/documents/{runbook.pk}/", {"action": "access", "public": "on", "groups": []})
    assert response.status_code == 302
    acls = list(Chunk.objects.filter(document=runbook).values_list("acl", flat=True))
    assert acls and all("public" in acl for acl in acls)
    assert client_for(charlie).get(f"/documents/{runbook.pk}/download").content == RUNBOOK


def test_a_reader_who_may_not_manage_cannot_change_access_or_delete(bob, runbook):
    client = client_for(bob)
    assert client.post(f"/documents/{runbook.pk}/", {"action": "access", "public": "on"}).status_code == 403
    assert client.post(f"/documents/{runbook.pk}/", {"action": "delete", "confirm": "yes"}).status_code == 403
    runbook.refresh_from_db()
    assert not runbook.is_public


def test_delete_needs_the_confirmation_and_then_removes_document_and_chunks(alice, runbook):
    client = client_for(alice)
    unconfirmed = client.post(f"/documents/{runbook.pk}/", {"action": "delete"}, follow=True)
    assert b"Tick the confirmation box" in unconfirmed.content
    assert Document.objects.filter(pk=runbook.pk).exists()
    response = client.post(f"/documents/{runbook.pk}/", {"action": "delete", "confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/documents/"
    assert not Document.objects.filter(pk=runbook.pk).exists()
    assert not Chunk.objects.filter(document_id=runbook.pk).exists()
