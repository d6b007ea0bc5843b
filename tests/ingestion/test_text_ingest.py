from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from ingestion.models import IngestionJob
from ingestion.services import TextItem, ingest_text_document, ingest_text_documents
from retrieval.access import acl_keys_for_user
from retrieval.embeddings import get_embedder
from retrieval.models import Chunk


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_text_documents_are_ready_with_real_embeddings_and_locators(alice, engineering):
    long_text = (
        "# Deploys\n\n"
        + " ".join(["Deploys go out on Tuesdays after review."] * 60)
        + "\n\n## Rollback\n\nRun make rollback."
    )
    docs = ingest_text_documents(
        [
            TextItem(title="Runbook", text=long_text, external_id="runbook-1", filename="runbook.md"),
            TextItem(title="Hello", text="Hello world, this is short.", external_id="hello-1"),
        ],
        owner=alice,
        is_public=False,
        group_ids=[engineering.pk],
    )
    assert [d.source for d in docs] == ["runbook-1", "hello-1"]
    runbook = list(Chunk.objects.filter(document=docs[0]).order_by("ordinal"))
    assert len(runbook) > 1
    # The default backend: the int8 ONNX export of all-MiniLM-L6-v2, recorded under its own model id.
    assert all(c.embedding_model == get_embedder().model_id == "all-MiniLM-L6-v2:onnx-int8" for c in runbook)
    assert all(c.chunker_version == "tokens-1:200/32" for c in runbook)
    assert all(c.token_count <= 200 for c in runbook)
    assert runbook[-1].locator == {"section": "Deploys > Rollback"}
    assert sorted(runbook[0].acl) == sorted([f"group:{engineering.pk}", f"user:{alice.pk}"])
    assert set(runbook[0].acl) & set(acl_keys_for_user(alice))
    for doc in docs:
        doc.refresh_from_db()
        assert doc.current_version is not None
        job = IngestionJob.objects.get(version=doc.current_version)
        assert job.status == "ready" and job.progress == 100 and job.chunk_count == doc.chunks.count()
        assert default_storage.exists(doc.current_version.blob_key)
    # A real embedding: the runbook's chunks are closer to a deploy question than the greeting is.
    query = get_embedder().embed_query("when do deploys happen?")
    best = max(float(query @ c.embedding) for c in runbook)
    hello = Chunk.objects.get(document=docs[1])
    assert best > float(query @ hello.embedding)


@pytest.mark.django_db
def test_single_text_document_is_public_by_default(settings, charlie):
    settings.EMBEDDING_BACKEND = "hashing"
    doc = ingest_text_document(TextItem(title="Policy", text="Everyone may read the travel policy."))
    chunk = Chunk.objects.get(document=doc)
    assert chunk.acl == ["public"]
    assert set(chunk.acl) & set(acl_keys_for_user(charlie))
