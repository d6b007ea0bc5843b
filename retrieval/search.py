"""Permission-aware hybrid search: the only code path that reads chunks for a user.

One search is a handful of SQL statements in one read transaction, each carrying the ACL predicate
``acl && <the user's keys>`` itself (nothing is filtered by permission in Python):

1. ``set_config`` of the HNSW knobs (``hnsw.ef_search``, ``hnsw.iterative_scan``, ``hnsw.max_scan_tuples``) and
   of ``max_parallel_workers_per_gather`` (0), transaction-local, so a pooled connection never leaks them to
   another request;
2. an upper bound of the chunks the user may read (the sum of the per-ACL-key chunk counts that triggers keep,
   migration 0009; with a document filter, a bounded count of the permitted rows instead), which chooses the
   dense path: an exact scan of the permitted rows when there are few (the HNSW graph would have to skip
   almost every node, and the planner does not know that), HNSW with iterative scan when there are many;
3. the dense candidates (pgvector cosine distance);
4. the lexical candidates, scored with BM25 inside Postgres from the postings table (term frequencies and
   lengths taken from each chunk's ``search_vector`` and ``lexeme_count``) and the corpus statistics
   (``TermStat``, ``CorpusStat``);
5. the fused top candidates with their document titles (joined in SQL through the chunk's foreign key) and
   their similarities to the query and to each other (for the near-duplicate filter), again under the ACL
   predicate;
6. the snippets of the hits that are shown, under the ACL predicate.

The two candidate lists are fused with reciprocal rank fusion; near-identical chunks are dropped and an
optional per-document cap keeps one long document from filling the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, cast

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction

from retrieval.access import acl_keys_for_user
from retrieval.embeddings import get_embedder

SearchMode = Literal["hybrid", "dense", "lexical"]
DensePath = Literal["exact", "hnsw", "none"]

# Fetch this many fused candidates per requested result, so dedupe and the per-document cap can still fill k.
_OVERFETCH = 3


@dataclass(frozen=True)
class SearchParams:
    """Every knob of one search. Defaults come from settings; the values used travel with the results."""

    mode: SearchMode
    dense_pool: int
    lexical_pool: int
    rrf_k: int
    dense_weight: float
    lexical_weight: float
    bm25_k1: float
    bm25_b: float
    hnsw_ef_search: int
    hnsw_iterative_scan: str
    hnsw_max_scan_tuples: int
    exact_scan_max_rows: int
    dedupe_similarity: float
    max_per_document: int

    @classmethod
    def from_settings(cls) -> SearchParams:
        return cls(
            mode=cast(SearchMode, settings.RETRIEVAL_MODE),
            dense_pool=settings.RETRIEVAL_DENSE_POOL,
            lexical_pool=settings.RETRIEVAL_LEXICAL_POOL,
            rrf_k=settings.RETRIEVAL_RRF_K,
            dense_weight=settings.RETRIEVAL_DENSE_WEIGHT,
            lexical_weight=settings.RETRIEVAL_LEXICAL_WEIGHT,
            bm25_k1=settings.RETRIEVAL_BM25_K1,
            bm25_b=settings.RETRIEVAL_BM25_B,
            hnsw_ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH,
            hnsw_iterative_scan=settings.RETRIEVAL_HNSW_ITERATIVE_SCAN,
            hnsw_max_scan_tuples=settings.RETRIEVAL_HNSW_MAX_SCAN_TUPLES,
            exact_scan_max_rows=settings.RETRIEVAL_EXACT_SCAN_MAX_ROWS,
            dedupe_similarity=settings.RETRIEVAL_DEDUPE_SIMILARITY,
            max_per_document=settings.RETRIEVAL_MAX_PER_DOCUMENT,
        )

    def with_changes(self, **changes: Any) -> SearchParams:
        return replace(self, **changes)


@dataclass(frozen=True)
class SearchFilters:
    """Optional narrowing on top of permissions: only these documents."""

    document_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: int
    document_id: int
    version_id: int
    title: str
    text: str
    snippet: str
    locator: dict[str, Any]
    score: float
    dense_rank: int | None
    lexical_rank: int | None
    # Cosine similarity of the chunk's stored embedding to the query (None in lexical-only searches): an
    # absolute relevance signal, where ``score`` is a rank fusion that only orders.
    similarity: float | None = None


class SearchResults(list[ChunkHit]):
    """The hits, best first, plus what produced them (to be recorded with an answer)."""

    def __init__(
        self,
        hits: Sequence[ChunkHit] = (),
        *,
        params: SearchParams,
        k: int,
        dense_path: DensePath = "none",
        embedding_model: str = "",
    ) -> None:
        super().__init__(hits)
        self.params = params
        self.k = k
        self.dense_path: DensePath = dense_path
        self.embedding_model = embedding_model

    def describe(self) -> dict[str, Any]:
        """The settings of this search as plain JSON-able values."""
        return {
            **asdict(self.params),
            "k": self.k,
            "dense_path": self.dense_path,
            "embedding_model": self.embedding_model,
        }


@dataclass
class _Candidate:
    chunk_id: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    score: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def search(
    *,
    user: AbstractBaseUser | AnonymousUser,
    query: str,
    k: int,
    filters: SearchFilters | None = None,
    params: SearchParams | None = None,
) -> SearchResults:
    """The ``k`` best chunks for ``query`` among those ``user`` may read, best first.

    Guarantees: every hit's chunk ACL overlaps the user's keys at the moment of the query (the predicate is in
    every SQL statement, so a revoked grant is honoured by the very next search); a user with no keys (signed
    out, inactive) gets nothing; the number of SQL statements does not depend on ``k`` or on the corpus.
    """
    params = params or SearchParams.from_settings()
    acl_keys = acl_keys_for_user(user)
    embedder = get_embedder()
    if not acl_keys or not query.strip():
        return SearchResults(params=params, k=k, embedding_model=embedder.model_id)
    query_vector = embedder.embed_query(query) if params.mode != "lexical" else None
    results = search_for_acl_keys(
        acl_keys=acl_keys, query=query, query_vector=query_vector, k=k, filters=filters, params=params
    )
    results.embedding_model = embedder.model_id
    return results


def search_for_acl_keys(
    *,
    acl_keys: Sequence[str],
    query: str,
    query_vector: np.ndarray | None,
    k: int,
    filters: SearchFilters | None = None,
    params: SearchParams | None = None,
) -> SearchResults:
    """:func:`search` for an already resolved key set and query embedding (the benchmark times the parts)."""
    params = params or SearchParams.from_settings()
    keys = list(acl_keys)
    if not keys or k <= 0:
        return SearchResults(params=params, k=k)
    candidates: dict[int, _Candidate] = {}
    dense_path: DensePath = "none"
    with transaction.atomic(), connection.cursor() as cursor:
        enter_search_context(cursor, keys, params)
        if params.mode in ("hybrid", "dense") and query_vector is not None:
            dense_path, dense_ids = _dense_candidates(cursor, keys, query_vector, filters, params)
            for rank, chunk_id in enumerate(dense_ids, start=1):
                candidates.setdefault(chunk_id, _Candidate(chunk_id)).dense_rank = rank
        if params.mode in ("hybrid", "lexical"):
            for rank, chunk_id in enumerate(lexical_candidates(cursor, keys, query, filters, params), start=1):
                candidates.setdefault(chunk_id, _Candidate(chunk_id)).lexical_rank = rank
        ranked = _fuse(candidates.values(), params)
        hits = _hydrate(cursor, keys, query, query_vector, ranked[: k * _OVERFETCH], params, k)
        # Only reached on success; on an error the rollback of this atomic block undoes the settings instead.
        cursor.execute(_LEAVE_SEARCH_CONTEXT_SQL)
    return SearchResults(hits, params=params, k=k, dense_path=dense_path)


@dataclass(frozen=True)
class ReadablePassage:
    chunk_id: int
    document_id: int
    text: str


def readable_passages(
    *, user: AbstractBaseUser | AnonymousUser, chunk_ids: Sequence[int]
) -> dict[int, ReadablePassage]:
    """The chunks among ``chunk_ids`` that ``user`` may read right now, by id.

    Citations re-check access whenever they are shown (DESIGN.md invariant 1): a passage whose document was
    deleted or re-ingested, or whose access was revoked since the answer, is simply absent. Same guarantees as
    :func:`search`: the ACL predicate is in the SQL, under the reader role and its row-level security policy.
    """
    keys = acl_keys_for_user(user)
    ids = sorted(set(chunk_ids))
    if not keys or not ids:
        return {}
    with transaction.atomic(), connection.cursor() as cursor:
        enter_search_context(cursor, keys, SearchParams.from_settings())
        cursor.execute(_READABLE_SQL, {"ids": ids, "acl": keys})
        rows = cursor.fetchall()
        cursor.execute(_LEAVE_SEARCH_CONTEXT_SQL)
    return {row[0]: ReadablePassage(chunk_id=row[0], document_id=row[1], text=row[2]) for row in rows}


# --- SQL ------------------------------------------------------------------------------------------------
# Constant statements with bound parameters only. The optional document filter is a parameter that is NULL
# when unused (Django's psycopg binds on the client, so the planner sees the constant and drops it).

# Per-key chunk counts (migration 0009): a few primary-key lookups (0.14-0.37 ms measured), where a count of the
# permitted rows reads a GIN bitmap of all of them (50 ms for a user reading 100,000 of 1M chunks, limit 20,001).
# A chunk carrying two of the keys counts twice, so this is an upper bound: the exact scan never reads more rows
# than it says.
_PERMITTED_BOUND_SQL = """
SELECT coalesce(sum(chunks), 0) FROM retrieval_aclkeycount WHERE key = ANY(%(acl)s::varchar[])
"""

_PERMITTED_COUNT_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM retrieval_chunk c
    WHERE c.acl && %(acl)s::varchar[]
      AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
    LIMIT %(limit)s
) s
"""

# A materialized CTE cannot use the HNSW index: the distance is computed for every permitted row. It is
# computed inside the CTE, so that only (id, distance) is materialized: the embeddings of 10,000 permitted rows
# (15 MB) would spill past work_mem to a temporary file.
_DENSE_EXACT_SQL = """
WITH permitted AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(vector)s::vector AS distance FROM retrieval_chunk c
    WHERE c.acl && %(acl)s::varchar[]
      AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
)
SELECT id FROM permitted ORDER BY distance, id LIMIT %(pool)s
"""

# relaxed_order may return rows slightly out of order: re-sort the materialized result.
_DENSE_HNSW_SQL = """
WITH nearest AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(vector)s::vector AS distance FROM retrieval_chunk c
    WHERE c.acl && %(acl)s::varchar[]
      AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
    ORDER BY c.embedding <=> %(vector)s::vector LIMIT %(pool)s
)
SELECT id FROM nearest ORDER BY distance, id
"""

# Transaction-local (is_local = true): a pooled connection never carries them into another request. The role
# switch puts the row-level security policy of migration 0004 under every statement that follows. No parallel
# workers: a search's statements take milliseconds, and starting workers for a permitted count's bitmap scan
# (now only under a document filter) doubled its time at a million chunks (74 -> 35 ms for a user reading 10%,
# docs/performance.md); concurrent searches use the cores anyway.
_ENTER_SEARCH_CONTEXT_SQL = (
    "SELECT set_config('docent.acl_keys', %(acl_literal)s, true), "
    "set_config('max_parallel_workers_per_gather', '0', true), "
    "set_config('hnsw.ef_search', %(ef_search)s, true), "
    "set_config('hnsw.iterative_scan', %(iterative_scan)s, true), "
    "set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s, true), "
    "set_config('role', %(role)s, true)"
)
# Back to the session's own role: search() may run inside a caller's transaction that goes on to write.
_LEAVE_SEARCH_CONTEXT_SQL = "SELECT set_config('role', 'none', true), set_config('docent.acl_keys', '', true)"

# BM25 (Robertson/Sparck Jones idf with the +1 that keeps it positive, as Lucene and bm25s do) in the SQL
# function of migration 0011 (0007's scoring; the query terms' postings sorted and summed by chunk id instead of
# hashed when many pass the ACL), from the postings table (one row per lexeme and chunk: term frequency, chunk
# length, a copy of the ACL) that triggers keep in step with the chunks; document frequencies from TermStat.
# A chunk is a candidate when it holds any query lexeme (OR semantics) and the ACL predicate admits it. The
# postings are read by an index-only range scan on the lexeme, a leakproof btree condition, so it works under
# the reader role's row-level security (the GIN index on search_vector cannot be used there).
_LEXICAL_SQL = """
SELECT chunk_id FROM retrieval_bm25_top(
    %(query)s, %(acl)s::varchar[], %(document_ids)s::bigint[], %(k1)s::float8, %(b)s::float8, %(pool)s
)
ORDER BY bm25 DESC, chunk_id
"""

_READABLE_SQL = """
SELECT c.id, c.document_id, c.text FROM retrieval_chunk c
WHERE c.id = ANY(%(ids)s::bigint[]) AND c.acl && %(acl)s::varchar[]
"""

# The document title comes from the document table through the chunk's foreign key, in SQL, so that
# retrieval never imports ingestion. The ACL predicate is repeated: these are the rows that are shown. The
# similarities are computed here (inner product: embeddings are unit vectors) rather than in Python: sending 30
# embeddings as text and parsing them back cost more than the rest of the hydration. ``near`` lists the other
# candidates at least ``dedupe`` similar to this one, for the near-duplicate filter.
_HYDRATE_SQL = """
WITH shown AS MATERIALIZED (
    SELECT c.id, c.document_id, c.version_id, c.text, c.locator, c.embedding FROM retrieval_chunk c
    WHERE c.id = ANY(%(ids)s::bigint[]) AND c.acl && %(acl)s::varchar[]
)
SELECT s.id, s.document_id, s.version_id, d.title, s.text, s.locator,
       -(s.embedding <#> %(vector)s::vector),
       ARRAY(SELECT o.id FROM shown o WHERE o.id <> s.id AND -(o.embedding <#> s.embedding) >= %(dedupe)s)
FROM shown s JOIN ingestion_document d ON d.id = s.document_id
"""

# Snippets for the hits that are shown only (at most k rows): ts_headline is the costliest part of hydration
# (about 0.5 ms a chunk at 1M, docs/performance.md), and the fused list holds 3k candidates. Same ACL predicate.
_SNIPPETS_SQL = """
SELECT c.id,
       ts_headline('english', c.text,
                   (SELECT replace(strip(to_tsvector('english', %(query)s))::text, ' ', ' | ')::tsquery),
                   'MaxWords=40, MinWords=15, MaxFragments=2, FragmentDelimiter=" … ", StartSel="", StopSel=""')
FROM retrieval_chunk c
WHERE c.id = ANY(%(ids)s::bigint[]) AND c.acl && %(acl)s::varchar[]
"""


def acl_array_literal(acl_keys: Sequence[str]) -> str:
    """The keys as a Postgres array literal, every element quoted (for the ``docent.acl_keys`` setting)."""
    quoted = ('"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in acl_keys)
    return "{" + ",".join(quoted) + "}"


def enter_search_context(cursor: Any, acl_keys: list[str], params: SearchParams) -> None:
    """Set the HNSW knobs, the user's keys and the reader role for the rest of the current transaction."""
    cursor.execute(
        _ENTER_SEARCH_CONTEXT_SQL,
        {
            "acl_literal": acl_array_literal(acl_keys),
            # ef_search below the pool size would cap the results at ef_search.
            "ef_search": str(max(params.hnsw_ef_search, params.dense_pool)),
            "iterative_scan": params.hnsw_iterative_scan,
            "max_scan_tuples": str(params.hnsw_max_scan_tuples),
            "role": settings.RETRIEVAL_SEARCH_ROLE or "none",
        },
    )


def _document_ids(filters: SearchFilters | None) -> list[int] | None:
    if filters is None or filters.document_ids is None:
        return None
    return list(filters.document_ids)


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{value:.8g}" for value in np.asarray(vector, dtype=np.float32)) + "]"


def permitted_chunk_count(cursor: Any, acl_keys: list[str], filters: SearchFilters | None, limit: int) -> int:
    """How many chunks the keys may read, counting no further than ``limit``. Reads an index entry per permitted
    row: the benchmark's reference, and the path choice under a document filter only."""
    cursor.execute(_PERMITTED_COUNT_SQL, {"acl": acl_keys, "document_ids": _document_ids(filters), "limit": limit})
    return int(cursor.fetchone()[0])


def permitted_chunk_bound(cursor: Any, acl_keys: list[str]) -> int:
    """An upper bound of how many chunks the keys may read: the sum of their per-key chunk counts."""
    cursor.execute(_PERMITTED_BOUND_SQL, {"acl": acl_keys})
    return int(cursor.fetchone()[0])


def choose_dense_path(
    cursor: Any, acl_keys: list[str], filters: SearchFilters | None, params: SearchParams
) -> DensePath:
    """Exact scan when at most ``exact_scan_max_rows`` chunks may be read, HNSW otherwise. One statement.

    Without a document filter the per-key bound decides (cheap for every user, however much they read); a
    document filter narrows the set below what the keys say, so it is counted, up to the threshold."""
    if _document_ids(filters) is None:
        permitted = permitted_chunk_bound(cursor, acl_keys)
    else:
        permitted = permitted_chunk_count(cursor, acl_keys, filters, params.exact_scan_max_rows + 1)
    return "exact" if permitted <= params.exact_scan_max_rows else "hnsw"


def dense_candidates(
    cursor: Any,
    acl_keys: list[str],
    query_vector: np.ndarray,
    filters: SearchFilters | None,
    params: SearchParams,
    path: DensePath,
) -> list[int]:
    """Chunk ids nearest to the query vector among the permitted ones, by the given path."""
    cursor.execute(*dense_statement(acl_keys, query_vector, filters, params, path))
    return [row[0] for row in cursor.fetchall()]


def dense_statement(
    acl_keys: list[str],
    query_vector: np.ndarray,
    filters: SearchFilters | None,
    params: SearchParams,
    path: DensePath,
) -> tuple[str, dict[str, Any]]:
    """The SQL and arguments :func:`dense_candidates` runs (the benchmark EXPLAINs them: under a selective filter
    the planner may run the HNSW statement as a scan of the permitted rows plus a sort instead of on the index)."""
    args = {
        "acl": acl_keys,
        "document_ids": _document_ids(filters),
        "vector": _vector_literal(query_vector),
        "pool": params.dense_pool,
    }
    return (_DENSE_EXACT_SQL if path == "exact" else _DENSE_HNSW_SQL), args


def _dense_candidates(
    cursor: Any,
    acl_keys: list[str],
    query_vector: np.ndarray,
    filters: SearchFilters | None,
    params: SearchParams,
) -> tuple[DensePath, list[int]]:
    path = choose_dense_path(cursor, acl_keys, filters, params)
    return path, dense_candidates(cursor, acl_keys, query_vector, filters, params, path)


def lexical_candidates(
    cursor: Any, acl_keys: list[str], query: str, filters: SearchFilters | None, params: SearchParams
) -> list[int]:
    """Chunk ids by BM25 score among the permitted ones."""
    cursor.execute(
        _LEXICAL_SQL,
        {
            "query": query,
            "k1": params.bm25_k1,
            "b": params.bm25_b,
            "acl": acl_keys,
            "document_ids": _document_ids(filters),
            "pool": params.lexical_pool,
        },
    )
    return [row[0] for row in cursor.fetchall()]


def _fuse(candidates: Any, params: SearchParams) -> list[_Candidate]:
    """Reciprocal rank fusion: each signal adds weight / (rrf_k + rank)."""
    fused: list[_Candidate] = []
    for candidate in candidates:
        score = 0.0
        if candidate.dense_rank is not None:
            score += params.dense_weight / (params.rrf_k + candidate.dense_rank)
        if candidate.lexical_rank is not None:
            score += params.lexical_weight / (params.rrf_k + candidate.lexical_rank)
        candidate.score = score
        fused.append(candidate)
    fused.sort(key=lambda c: (-c.score, c.chunk_id))
    return fused


def _hydrate(
    cursor: Any,
    acl_keys: list[str],
    query: str,
    query_vector: np.ndarray | None,
    ranked: list[_Candidate],
    params: SearchParams,
    k: int,
) -> list[ChunkHit]:
    if not ranked:
        return []
    cursor.execute(
        _HYDRATE_SQL,
        {
            "ids": [c.chunk_id for c in ranked],
            "acl": acl_keys,
            "vector": None if query_vector is None else _vector_literal(query_vector),
            "dedupe": params.dedupe_similarity,
        },
    )
    rows = {row[0]: row for row in cursor.fetchall()}
    kept: list[tuple[_Candidate, tuple[Any, ...]]] = []
    kept_ids: set[int] = set()
    kept_texts: set[str] = set()
    per_document: dict[int, int] = {}
    for candidate in ranked:
        row = rows.get(candidate.chunk_id)
        if row is None:  # deleted or revoked between the statements of this transaction
            continue
        chunk_id, document_id, _version_id, _title, text, _locator, _similarity, near = row
        if params.max_per_document and per_document.get(document_id, 0) >= params.max_per_document:
            continue
        normalized = " ".join(text.split()).lower()
        if normalized in kept_texts or kept_ids.intersection(near):
            continue
        kept_texts.add(normalized)
        kept_ids.add(chunk_id)
        per_document[document_id] = per_document.get(document_id, 0) + 1
        kept.append((candidate, row))
        if len(kept) == k:
            break
    if not kept:
        return []
    cursor.execute(_SNIPPETS_SQL, {"query": query, "ids": [c.chunk_id for c, _ in kept], "acl": acl_keys})
    snippets = dict(cursor.fetchall())
    return [
        ChunkHit(
            chunk_id=chunk_id,
            document_id=document_id,
            version_id=version_id,
            title=title,
            text=text,
            snippet=snippets[chunk_id],
            locator=locator if isinstance(locator, dict) else json.loads(locator or "{}"),
            score=candidate.score,
            dense_rank=candidate.dense_rank,
            lexical_rank=candidate.lexical_rank,
            similarity=similarity,
        )
        for candidate, (chunk_id, document_id, version_id, title, text, locator, similarity, _near) in kept
        # Revoked or deleted between the two statements: no longer shown.
        if chunk_id in snippets
    ]
