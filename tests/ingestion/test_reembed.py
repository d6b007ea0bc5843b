from __future__ import annotations

import pytest
from django.core.management import call_command

from ingestion.services import TextItem, ingest_text_documents
from retrieval.models import Chunk

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_reembed_rebuilds_only_stale_chunks_and_resumes(settings):
    settings.EMBEDDING_BACKEND = "hashing"
    docs = ingest_text_documents(
        [TextItem(title=f"Doc {i}", text=f"Topic {i}: the quarterly planning notes.") for i in range(3)]
    )
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"hashing-384"}
    fresh = Chunk.objects.filter(document=docs[2]).get()

    # Now the real model is configured: every document is stale; do one, then resume with the rest.
    settings.EMBEDDING_BACKEND = "torch"
    call_command("reembed", "--limit", "1", verbosity=0)
    models = dict(Chunk.objects.values_list("document_id", "embedding_model"))
    assert models == {docs[0].pk: "all-MiniLM-L6-v2", docs[1].pk: "hashing-384", docs[2].pk: "hashing-384"}
    call_command("reembed", verbosity=0)
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2"}
    assert Chunk.objects.count() == 3
    assert list(Chunk.objects.get(document=docs[2]).embedding) != list(fresh.embedding)

    # Nothing stale: nothing rewritten (same primary keys).
    before = sorted(Chunk.objects.values_list("pk", flat=True))
    call_command("reembed", verbosity=0)
    assert sorted(Chunk.objects.values_list("pk", flat=True)) == before

    # A different chunker version makes chunks stale again.
    settings.CHUNK_MAX_TOKENS = 100
    call_command("reembed", verbosity=0)
    assert set(Chunk.objects.values_list("chunker_version", flat=True)) == {"tokens-1:100/32"}
