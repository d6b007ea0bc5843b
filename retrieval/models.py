"""Chunks: the passages search reads, each carrying its embedding, full-text vector and ACL."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Func
from pgvector.django import HnswIndex, VectorField

# ACL keys: "public", "group:<group id>", "user:<user id>". A user may read a chunk when the chunk's ACL
# overlaps the user's keys (retrieval.access.acl_keys_for_user).
PUBLIC_ACL_KEY = "public"


class Chunk(models.Model):
    """A passage of one document version. Rows are only written by ``retrieval.services``."""

    document = models.ForeignKey("ingestion.Document", on_delete=models.CASCADE, related_name="chunks")
    version = models.ForeignKey("ingestion.DocumentVersion", on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField(help_text="Position of the chunk within its version.")
    text = models.TextField()
    locator = models.JSONField(default=dict, blank=True, help_text='Where it is: {"page": 4, "section": "2.1 ..."}.')
    acl = ArrayField(models.CharField(max_length=80), help_text="Who may read it; kept in step with the document.")
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=200)
    chunker_version = models.CharField(max_length=100)
    token_count = models.PositiveIntegerField(default=0)
    # Why the injection screen (assistant.guards.injection) flagged this passage at ingestion; empty when it did
    # not. A database default, because chunks are written with a COPY that does not name this column.
    injection_flags = ArrayField(models.CharField(max_length=40), db_default=[], blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    # BM25's document length: the number of indexed tokens (stop words removed), from the same text search
    # configuration as ``search_vector``. retrieval_lexeme_count() is an IMMUTABLE SQL function (migration 0003).
    lexeme_count = models.GeneratedField(
        expression=Func(F("text"), function="retrieval_lexeme_count", output_field=models.IntegerField()),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["version", "ordinal"], name="unique_chunk_position"),
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            GinIndex(fields=["acl"], name="chunk_acl_gin"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.pk} of version {self.version_id}"


class TermStat(models.Model):
    """Corpus-wide document frequency of one lexeme: how many chunks contain it (BM25's idf).

    Kept in step with the chunk table by statement-level triggers (migration 0003) in the same transaction as
    the chunk writes, so that every path that adds or removes chunks (``retrieval.services``, or a cascade from
    a deleted document) updates it.
    """

    lexeme = models.TextField(primary_key=True)
    df = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.df}"


class CorpusStat(models.Model):
    """The one row of corpus totals BM25 needs: chunk count and total length (for the average length)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    chunk_count = models.BigIntegerField(default=0)
    total_length = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="corpus_stat_single_row")]

    def __str__(self) -> str:
        return f"{self.chunk_count} chunks, {self.total_length} tokens"


# The BM25 postings (one row per lexeme and chunk: term frequency, length, a copy of the ACL) live in the table
# ``retrieval_posting`` of migration 0007, written by triggers on the chunk table (and rebuilt in bulk by
# ``retrieval.services.rebuild_term_stats``) and read only by the SQL function ``retrieval_bm25_top``; it has no
# model because no Python code reads or writes it row by row.
#
# Likewise ``retrieval_aclkeycount`` (migration 0009): per ACL key, how many chunks carry it, kept by triggers on
# the chunk table and read only by ``retrieval.search`` to choose the dense path.
