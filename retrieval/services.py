"""Writes to the chunk table. Ingestion calls these; nothing else writes chunks.

Corpus statistics for BM25 (``TermStat``, ``CorpusStat``) are kept in step by database triggers in the same
transaction as these writes (see migration 0003), so they need no call here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb

from retrieval.models import Chunk
from retrieval.signals import chunks_replaced

# The binary COPY column list and the Postgres type of each column, in order. Binary COPY skips text parsing
# of the 384 floats per row, which is most of the cost of writing a chunk.
_COPY_COLUMNS = (
    ("document_id", "int8"),
    ("version_id", "int8"),
    ("ordinal", "int4"),
    ("text", "text"),
    ("locator", "jsonb"),
    ("acl", "varchar[]"),
    ("embedding", "vector"),
    ("embedding_model", "varchar"),
    ("chunker_version", "varchar"),
    ("token_count", "int4"),
    ("created_at", "timestamptz"),
)
_COPY_SQL = (
    f"COPY {Chunk._meta.db_table} ({', '.join(name for name, _ in _COPY_COLUMNS)}) FROM STDIN WITH (FORMAT BINARY)"
)


@dataclass(frozen=True)
class NewChunk:
    text: str
    embedding: Sequence[float]
    token_count: int
    locator: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkRow:
    """One row for :func:`copy_chunk_rows`: a chunk with its document, version and ACL resolved."""

    document_id: int
    version_id: int
    ordinal: int
    text: str
    embedding: Sequence[float] | np.ndarray
    acl: list[str]
    embedding_model: str
    chunker_version: str
    token_count: int = 0
    locator: dict[str, Any] = field(default_factory=dict)


def copy_chunk_rows(*, rows: Iterable[ChunkRow]) -> int:
    """Insert chunk rows with one binary ``COPY`` on the current connection and transaction.

    Guarantees nothing about replacing: callers that need the one-transaction replace semantics use
    :func:`replace_document_chunks`. The statistics triggers fire once for the whole COPY.
    """
    now = timezone.now()
    count = 0
    connection.ensure_connection()
    # The raw psycopg cursor raises psycopg's errors; wrapped, they are Django's (DataError, OperationalError...)
    # like every other query's, so callers can tell a refused row from a lost connection.
    with connection.cursor() as django_cursor, connection.wrap_database_errors:
        cursor = django_cursor.cursor
        # Register the vector dumper on this cursor only, so no other code on the connection changes how it
        # reads vectors.
        register_vector_info(cursor, TypeInfo.fetch(cursor.connection, "vector"))
        with cursor.copy(_COPY_SQL) as copy:
            copy.set_types([type_name for _, type_name in _COPY_COLUMNS])
            for row in rows:
                copy.write_row(
                    (
                        row.document_id,
                        row.version_id,
                        row.ordinal,
                        row.text,
                        Jsonb(row.locator),
                        row.acl,
                        np.asarray(row.embedding, dtype=np.float32),
                        row.embedding_model,
                        row.chunker_version,
                        row.token_count,
                        now,
                    )
                )
                count += 1
    return count


@dataclass(frozen=True)
class DocumentChunks:
    """A document's new chunks (one version's), for :func:`replace_chunks_of_documents`."""

    document_id: int
    version_id: int
    acl: list[str]
    chunks: Sequence[NewChunk]


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
    for the same version replaces rather than duplicates. The rows are written with one binary COPY, and the
    BM25 statistics move with them in the same transaction.
    """
    counts = replace_chunks_of_documents(
        documents=[DocumentChunks(document_id=document_id, version_id=version_id, acl=acl, chunks=chunks)],
        embedding_model=embedding_model,
        chunker_version=chunker_version,
    )
    return counts[document_id]


@transaction.atomic
def replace_chunks_of_documents(
    *, documents: Sequence[DocumentChunks], embedding_model: str, chunker_version: str
) -> dict[int, int]:
    """``replace_document_chunks`` for several documents at once (each named once): one DELETE and one COPY.

    The statistics and postings triggers run once per statement, and their cost per statement is high (they
    upsert every lexeme's document frequency): writing ten documents of ten chunks as ten COPYs cost about
    twice as much per chunk as one COPY of the hundred. Returns the chunk count per document.
    """
    document_ids = [document.document_id for document in documents]
    if len(set(document_ids)) != len(document_ids):
        raise ValueError("Each document may appear once in replace_chunks_of_documents.")
    Chunk.objects.filter(document_id__in=document_ids).delete()
    copy_chunk_rows(
        rows=(
            ChunkRow(
                document_id=document.document_id,
                version_id=document.version_id,
                ordinal=ordinal,
                text=chunk.text,
                embedding=chunk.embedding,
                acl=document.acl,
                embedding_model=embedding_model,
                chunker_version=chunker_version,
                token_count=chunk.token_count,
                locator=chunk.locator,
            )
            for document in documents
            for ordinal, chunk in enumerate(document.chunks)
        )
    )
    for document in documents:
        chunks_replaced.send(
            sender=Chunk,
            document_id=document.document_id,
            version_id=document.version_id,
            texts=[chunk.text for chunk in document.chunks],
        )
    return {document.document_id: len(document.chunks) for document in documents}


def set_injection_flags(*, document_id: int, flags: dict[int, list[str]]) -> int:
    """Record why each of a document's chunks was flagged by the injection screen (empty list: not flagged).
    Chunks not named keep their flags."""
    updated = 0
    for chunk_id, reasons in flags.items():
        updated += Chunk.objects.filter(pk=chunk_id, document_id=document_id).update(injection_flags=reasons)
    return updated


def set_document_acl(*, document_id: int, acl: list[str]) -> int:
    """Update the ACL of every chunk of a document (no re-embedding). Call inside the access change's
    transaction so that the document and its chunks never disagree; the next search sees the new ACL."""
    return Chunk.objects.filter(document_id=document_id).update(acl=acl)


@transaction.atomic
def rebuild_term_stats() -> None:
    """Recompute the BM25 corpus statistics and postings, and the per-ACL-key chunk counts, from the chunk table,
    e.g. after restoring chunks from a dump taken without triggers. Takes the same lock as every chunk writer
    first, so it never races one."""
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE retrieval_chunk IN SHARE MODE")
        cursor.execute("DELETE FROM retrieval_termstat")
        cursor.execute("DELETE FROM retrieval_corpusstat")
        cursor.execute(
            "INSERT INTO retrieval_corpusstat (id, chunk_count, total_length) "
            "SELECT 1, count(*), coalesce(sum(lexeme_count), 0) FROM retrieval_chunk"
        )
        cursor.execute(
            "INSERT INTO retrieval_termstat (lexeme, df) SELECT u.lexeme, count(*) "
            "FROM retrieval_chunk, unnest(retrieval_chunk.search_vector) AS u GROUP BY u.lexeme"
        )
        cursor.execute("DELETE FROM retrieval_posting")
        cursor.execute(
            "INSERT INTO retrieval_posting (lexeme, chunk_id, tf, length, acl) "
            "SELECT u.lexeme, c.id, coalesce(array_length(u.positions, 1), 1), c.lexeme_count, "
            "retrieval_posting_acl(c.acl) "
            "FROM retrieval_chunk c, unnest(c.search_vector) AS u WHERE octet_length(u.lexeme) <= 256"
        )
        # The per-ACL-key chunk counts that choose search's dense path (migration 0009).
        cursor.execute("DELETE FROM retrieval_aclkeycount")
        cursor.execute(
            "INSERT INTO retrieval_aclkeycount (key, chunks) SELECT k.key, count(*) "
            "FROM retrieval_chunk c, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k GROUP BY k.key"
        )
