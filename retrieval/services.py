"""Writes to the chunk table. Ingestion calls these; nothing else writes chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from retrieval.models import Chunk


@dataclass(frozen=True)
class NewChunk:
    text: str
    embedding: Sequence[float]
    token_count: int
    locator: dict[str, Any] = field(default_factory=dict)


@transaction.atomic
def replace_document_chunks(
    *,
    document_id: int,
    version_id: int,
    acl: list[str],
    chunks: Sequence[NewChunk],
    embedding_model: str,
    chunker_version: str,
) -> int:
    """Make ``chunks`` the document's only chunks, in one transaction.

    Readers see either the old version's chunks or the new ones, never none and never both; re-running it
    for the same version replaces rather than duplicates.
    """
    Chunk.objects.filter(document_id=document_id).delete()
    rows = [
        Chunk(
            document_id=document_id,
            version_id=version_id,
            ordinal=ordinal,
            text=chunk.text,
            locator=chunk.locator,
            acl=acl,
            embedding=list(chunk.embedding),
            embedding_model=embedding_model,
            chunker_version=chunker_version,
            token_count=chunk.token_count,
        )
        for ordinal, chunk in enumerate(chunks)
    ]
    Chunk.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def set_document_acl(*, document_id: int, acl: list[str]) -> int:
    """Update the ACL of every chunk of a document (no re-embedding). Call inside the access change's
    transaction so that the document and its chunks never disagree."""
    return Chunk.objects.filter(document_id=document_id).update(acl=acl)
