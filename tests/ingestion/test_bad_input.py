"""Every kind of bad upload gets a clear message (at upload when knowable, else on the job), and nothing else
is lost: a good document ingested before stays intact with all its chunks."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ingestion.models import Document, DocumentVersion
from ingestion.services import TextItem, ingest_text_document
from tests.ingestion import files
from tests.ingestion.helpers import make_curator, run_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _hashing(settings):
    # These tests are about refusing files; the real model is exercised in test_text_ingest / test_api.
    settings.EMBEDDING_BACKEND = "hashing"


@pytest.fixture
def bystander(alice):
    """A good document that must survive every bad upload untouched."""
    document = ingest_text_document(TextItem(title="Handbook", text="Lunch is served at noon.\n\nParking is free."))
    return document, document.chunks.count()


@pytest.fixture
def client(alice):
    make_curator(alice)
    api = APIClient()
    api.force_authenticate(alice)
    return api


def upload(client, name: str, data: bytes):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


def assert_intact(bystander, *, documents: int) -> None:
    document, chunks = bystander
    assert Document.objects.count() == documents
    document.refresh_from_db()
    assert document.chunks.count() == chunks > 0
    assert run_job(document.pk).status == "ready"


def test_oversized_upload_is_refused_with_413(client, bystander, settings):
    settings.MAX_UPLOAD_MB = 1
    response = upload(client, "big.txt", b"word " * 300_000)
    assert response.status_code == 413
    assert response.json()["detail"] == "The file is larger than the 1 MB upload limit."
    assert_intact(bystander, documents=1)


def test_empty_upload_is_refused(client, bystander):
    response = upload(client, "empty.txt", b"   \n")
    assert response.status_code in (400, 415)
    assert "empty" in str(response.json()).lower()
    assert_intact(bystander, documents=1)


def test_image_is_refused_whatever_its_name_says(client, bystander):
    response = upload(client, "quarterly-report.pdf", files.PNG_BYTES)
    assert response.status_code == 415
    assert response.json()["detail"] == "This file is a PNG image, not a document Docent can read."
    assert_intact(bystander, documents=1)


def test_a_pdf_named_txt_is_read_as_a_pdf(client, bystander):
    response = upload(client, "notes.txt", files.pdf_bytes())
    assert response.status_code == 202
    job = run_job(response.json()["id"])
    assert job.status == "ready"
    assert job.version.detected_type == "application/pdf"
    assert_intact(bystander, documents=2)


def test_binary_garbage_is_refused(client, bystander):
    response = upload(client, "data.txt", os.urandom(4096))
    assert response.status_code == 415
    assert response.json()["detail"] == "This file is binary data, not a document Docent can read."
    assert_intact(bystander, documents=1)


def test_other_zip_archives_are_refused(client, bystander):
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    response = upload(client, "report.docx", out.getvalue())
    assert response.status_code == 415
    assert "ZIP archive" in response.json()["detail"]
    assert_intact(bystander, documents=1)


def test_non_utf8_text_is_refused_at_upload(client, bystander):
    response = upload(client, "menu.txt", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("latin-1"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The text is not valid UTF-8 (first bad byte at position 3).")
    assert_intact(bystander, documents=1)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("secret.pdf", files.encrypted_pdf_bytes(), "The PDF is password-protected; upload a copy without a password."),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage" * 10, "The PDF is damaged"),
        ("bomb.docx", files.zip_bomb_docx_bytes(), "it looks like a zip bomb and is refused"),
        ("laughs.docx", files.xml_bomb_docx_bytes(), "contains XML entity declarations (word/document.xml)"),
        ("deep.html", files.nested_html_bytes(), "nested more than 256 levels deep"),
    ],
    ids=["encrypted-pdf", "corrupt-pdf", "zip-bomb", "xml-bomb", "nested-html"],
)
def test_unreadable_files_fail_their_job_with_a_clear_error(client, bystander, name, data, message):
    response = upload(client, name, data)
    assert response.status_code == 202  # only the parser can tell
    document_id = response.json()["id"]
    job = run_job(document_id)
    assert job.status == "failed"
    assert message in job.error
    assert job.attempts == 1  # permanent: no retry
    status = client.get(f"/api/v1/documents/{document_id}/").json()
    assert status["status"] == "failed" and message in status["error"] and status["chunk_count"] == 0
    # The failed version's file is kept (a curator may want it) and its document has no chunks.
    assert DocumentVersion.objects.filter(document_id=document_id).count() == 1
    assert_intact(bystander, documents=2)
