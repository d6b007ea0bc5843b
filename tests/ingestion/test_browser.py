"""/documents/ in a real Chromium, with a real Celery worker: drop three files, watch them go to ready."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from ingestion.models import Document
from ingestion.pipeline import chunk_params
from retrieval.embeddings import get_embedder
from retrieval.models import Chunk
from tests.browser import chromium
from tests.ingestion import files
from tests.ingestion.helpers import make_curator
from tests.ingestion.test_worker import purge_ingestion_queue
from tests.processes import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_curator_uploads_pdf_docx_html_and_sees_progress_to_ready(
    live_server, alice, engineering, media_root, tmp_path
):
    make_curator(alice)
    upload_dir = tmp_path / "upload"
    upload_dir.mkdir()
    paths = {
        "incident.pdf": files.pdf_bytes(),
        "onboarding.docx": files.docx_bytes(),
        "expenses.html": files.html_bytes(),
        "photo.pdf": files.PNG_BYTES,  # lies about its type: refused with a clear row
    }
    for name, data in paths.items():
        (upload_dir / name).write_bytes(data)
    client = Client()
    client.force_login(alice)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    purge_ingestion_queue()
    # The default embedding backend (the real model), as a curator's upload would run in production.
    env: dict[str, Any] = {"MEDIA_ROOT": str(media_root), "EMBEDDING_BACKEND": settings.EMBEDDING_BACKEND}
    with celery_worker(queues="ingestion", log_path=tmp_path / "worker.log", **env), chromium() as browser:
        context = browser.new_context()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        csp_errors: list[str] = []
        page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(f"{live_server.url}/documents/")
        page.locator("select[name=groups]").select_option("engineering")
        page.set_input_files("#file-input", [str(upload_dir / name) for name in paths])
        rows = page.locator("#uploads tbody tr")
        expect(rows).to_have_count(4)
        for name in ("incident.pdf", "onboarding.docx", "expenses.html"):
            row = page.locator(f'#uploads tr[data-file="{name}"]')
            expect(row).to_have_attribute("data-stage", "ready", timeout=180_000)
            expect(row.locator("progress")).to_have_js_property("value", 100)
            expect(row.locator("td").nth(3)).to_contain_text("chunks")
        refused = page.locator('#uploads tr[data-file="photo.pdf"]')
        expect(refused).to_have_attribute("data-stage", "rejected")
        expect(refused).to_have_class("upload-row error-row")
        expect(refused.locator("td").nth(3)).to_have_text("This file is a PNG image, not a document Docent can read.")
        # After a reload the list shows them from the server side too.
        page.reload()
        expect(page.locator("#document-list tbody tr[data-status=ready]")).to_have_count(3)
        # The document page: the curator who uploaded it may download it and change who may read it.
        page.locator("#document-list a", has_text="onboarding").first.click()
        expect(page.locator("#download")).to_be_visible()
        expect(page.locator("#access-form")).to_be_visible()
        assert csp_errors == []
        context.close()
    assert Document.objects.count() == 3
    for document in Document.objects.all():
        acl = set(Chunk.objects.filter(document=document).values_list("acl", flat=True).first() or [])
        assert acl == {f"group:{engineering.pk}", f"user:{alice.pk}"}
        versions = set(Chunk.objects.filter(document=document).values_list("embedding_model", "chunker_version"))
        assert versions == {(get_embedder().model_id, chunk_params().version)}
        assert all(Chunk.objects.filter(document=document).values_list("locator", flat=True))
