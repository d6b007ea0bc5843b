"""BM25 inside Postgres: the corpus statistics follow every write path, and the SQL scores match BM25."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from ingestion.models import Document
from retrieval.models import Chunk, CorpusStat, TermStat
from retrieval.search import SearchParams, lexical_candidates
from retrieval.services import rebuild_term_stats
from tests.retrieval.conftest import Team, write_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def snapshot() -> tuple[dict[str, int], tuple[int, int]]:
    terms = dict(TermStat.objects.values_list("lexeme", "df"))
    corpus = CorpusStat.objects.first()
    return terms, ((corpus.chunk_count, corpus.total_length) if corpus else (0, 0))


def test_statistics_follow_writes_replacements_and_cascading_deletes(team: Team) -> None:
    first = write_document(title="a", passages=["Cats chase mice.", "Dogs chase cats and cats run."], is_public=True)
    second = write_document(title="b", passages=["Mice eat cheese."], owner=team.alice)
    terms, corpus = snapshot()
    assert terms["cat"] == 2
    assert terms["mice"] == 2
    assert terms["chees"] == 1
    assert corpus == (3, 3 + 5 + 3)

    # Replacing a document's chunks moves the statistics with them, in the same transaction.
    from retrieval.services import NewChunk, replace_document_chunks

    replace_document_chunks(
        document_id=second.pk,
        version_id=second.versions.get().pk,
        acl=["user:1"],
        chunks=[NewChunk(text="Birds eat seeds.", embedding=[1.0] + [0.0] * 383, token_count=3)],
        embedding_model="hashing-384",
        chunker_version="test",
    )
    terms, corpus = snapshot()
    assert "chees" not in terms
    assert terms["mice"] == 1
    assert terms["bird"] == 1

    # Deleting the document cascades to its chunks without passing through retrieval.services.
    Document.objects.filter(pk=first.pk).delete()
    terms, corpus = snapshot()
    assert "cat" not in terms
    assert corpus == (1, 3)

    incremental = snapshot()
    rebuild_term_stats()
    assert snapshot() == incremental


def test_chunk_text_cannot_be_edited_in_place(team: Team) -> None:
    from django.db import DatabaseError, transaction

    write_document(title="a", passages=["Original words."], is_public=True)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Chunk.objects.update(text="Edited words.")


def python_bm25(texts: dict[int, str], query: str, k1: float, b: float) -> dict[int, float]:
    """Textbook BM25 over Postgres' own lexemes (so only the scoring is compared)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, u.lexeme, array_length(u.positions, 1) FROM retrieval_chunk c, unnest(c.search_vector) u"
        )
        tf: dict[int, dict[str, int]] = {}
        for chunk_id, lexeme, count in cursor.fetchall():
            tf.setdefault(chunk_id, {})[lexeme] = count
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [query])
        query_terms = cursor.fetchone()[0]
    n = len(tf)
    lengths = {chunk_id: sum(terms.values()) for chunk_id, terms in tf.items()}
    avgdl = sum(lengths.values()) / n
    scores: dict[int, float] = {}
    for chunk_id, terms in tf.items():
        score = 0.0
        for term in query_terms:
            if term in terms:
                df = sum(1 for other in tf.values() if term in other)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                f = terms[term]
                score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * lengths[chunk_id] / avgdl))
        if score:
            scores[chunk_id] = score
    return scores


def test_sql_bm25_ranks_exactly_like_textbook_bm25(team: Team) -> None:
    passages = [
        "Insulin resistance in muscle cells drives type 2 diabetes.",
        "Diabetes diabetes diabetes: a long review of glucose metabolism in the liver and the kidney.",
        "Muscle growth needs protein.",
        "The kidney filters blood; glucose appears in urine when blood glucose is high.",
        "Nothing relevant here at all.",
    ]
    write_document(title="corpus", passages=passages, is_public=True)
    params = SearchParams.from_settings()
    query = "glucose in the kidney and diabetes"
    expected = python_bm25({}, query, params.bm25_k1, params.bm25_b)
    with connection.cursor() as cursor:
        got = lexical_candidates(cursor, ["public"], query, None, params)
    assert got == sorted(expected, key=lambda chunk_id: (-expected[chunk_id], chunk_id))
    assert len(got) == 3


def test_a_small_pool_returns_the_exact_bm25_top_k_and_keeps_the_acl(team: Team) -> None:
    # Many chunks hold only the common word; few hold the rare ones: with a small pool the top-k must still be
    # the exact BM25 one, every chunk scored with all terms, and only among the chunks the keys may read.
    common = [f"Quarterly report number {i} with routine figures and the usual report summary." for i in range(40)]
    rare = [f"The zebra report {i}: zebra sightings near the river." for i in range(6)]
    rarest = ["A quokka and a zebra appear in this report.", "One quokka photo."]
    public = write_document(title="public", passages=[*common, *rare[:3], rarest[0]], is_public=True)
    write_document(title="restricted", passages=[*rare[3:], rarest[1]], groups=[team.group])
    params = SearchParams.from_settings().with_changes(lexical_pool=4)
    query = "quokka zebra report"
    expected = python_bm25({}, query, params.bm25_k1, params.bm25_b)
    ranked = sorted(expected, key=lambda chunk_id: (-expected[chunk_id], chunk_id))

    with connection.cursor() as cursor:  # the session role: no row-level security, only the query's predicate
        everything = lexical_candidates(cursor, ["public", f"group:{team.group.pk}"], query, None, params)
        public_only = lexical_candidates(cursor, ["public"], query, None, params)
    assert everything == ranked[:4]
    public_ids = set(Chunk.objects.filter(document=public).values_list("pk", flat=True))
    assert public_only == [chunk_id for chunk_id in ranked if chunk_id in public_ids][:4]
    assert len(ranked) == 48, "every chunk holds the common word"
