"""Both plans of the BM25 top-k (migration 0011: postings sorted and summed in chunk-id order, or the hash
aggregate of 0007) return the exact top-k: the same chunks in the same order (equal scores by chunk id) with the
same scores as a brute-force BM25 in Python, for every reader and pool size, with a document filter, as the
session role and under the reader role's row-level security."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from ingestion.models import Document
from retrieval.models import Chunk
from retrieval.search import SearchParams
from tests.retrieval.conftest import Team
from tests.retrieval.test_bm25_postings import corpus as postings_corpus
from tests.retrieval.test_bm25_postings import key_sets, readable
from tests.retrieval.test_bm25_postings import sql_top as postings_sql_top
from tests.retrieval.test_lexical_stats import python_bm25

pytestmark = pytest.mark.django_db

# A few words in most chunks and a long tail, so that chunks share terms and scores tie.
COMMON = [f"c{index}x" for index in range(4)]
RARE = [f"r{index}x" for index in range(120)]
# The function's last argument: 0 always sorts, a huge value always hashes.
PLANS = {"sort": 0, "hash": 2**31 - 1}


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def passages(rng: random.Random, count: int) -> list[str]:
    texts = []
    for _ in range(count):
        words = [word for word in COMMON if rng.random() < 0.6] * rng.randint(1, 3)
        words += rng.choices(RARE, weights=[1 / (rank + 1) for rank in range(len(RARE))], k=rng.randint(1, 25))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts


def random_queries(rng: random.Random, count: int) -> list[str]:
    vocabulary = COMMON + RARE
    # Up to 10 words: more than the sorted plan's 8 branches falls back to the hash aggregate.
    return [" ".join(rng.sample(vocabulary[: rng.choice((12, 40, 124))], rng.randint(1, 10))) for _ in range(count)]


def corpus(team: Team, seed: int) -> dict[str, Document]:
    return postings_corpus(team, seed, passages=passages, sizes=(160, 80, 40))


def sql_top(
    query: str, keys: list[str], pool: int, *, plan: str, as_reader: bool, documents: list[int] | None = None
) -> list[tuple[int, float]]:
    return postings_sql_top(query, keys, pool, as_reader=as_reader, documents=documents, sort_min_postings=PLANS[plan])


def brute_force_top(query: str, allowed: set[int], pool: int) -> list[tuple[int, float]]:
    params = SearchParams.from_settings()
    scores = python_bm25({}, query, params.bm25_k1, params.bm25_b)
    # Equal scores by chunk id; rounded first, so that the same terms summed in another order still tie.
    ranked = sorted((chunk_id for chunk_id in scores if chunk_id in allowed), key=lambda c: (-round(scores[c], 9), c))
    return [(chunk_id, scores[chunk_id]) for chunk_id in ranked[:pool]]


def assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]], context: object) -> None:
    assert [chunk_id for chunk_id, _ in got] == [chunk_id for chunk_id, _ in want], context
    assert [score for _, score in got] == pytest.approx([score for _, score in want], rel=1e-9), context


def test_both_plans_return_the_exact_top_k_for_every_reader_and_pool(team: Team) -> None:
    corpus(team, seed=11)
    rng = random.Random(12)
    for query in random_queries(rng, 30):
        for keys in key_sets(team):
            allowed = readable(keys)
            for pool in (1, 3, 10, 40):
                want = brute_force_top(query, allowed, pool)
                for plan in PLANS:
                    for as_reader in (False, True):
                        got = sql_top(query, keys, pool, plan=plan, as_reader=as_reader)
                        assert_same(got, want, (query, keys, pool, plan, as_reader))


def test_both_plans_keep_the_document_filter(team: Team) -> None:
    documents = corpus(team, seed=13)
    rng = random.Random(14)
    keys = key_sets(team)[0]
    only = [documents["group"].pk, documents["alice"].pk]
    allowed = readable(keys) & set(Chunk.objects.filter(document_id__in=only).values_list("pk", flat=True))
    for query in random_queries(rng, 15):
        want = brute_force_top(query, allowed, 10)
        for plan in PLANS:
            for as_reader in (False, True):
                got = sql_top(query, keys, 10, plan=plan, as_reader=as_reader, documents=only)
                assert_same(got, want, (query, plan, as_reader))


def test_the_default_threshold_ranks_as_both_plans(team: Team) -> None:
    """Called as search() calls it (without the threshold), a small corpus takes the hash aggregate."""
    corpus(team, seed=15)
    keys = key_sets(team)[0]
    params = SearchParams.from_settings()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chunk_id, bm25 FROM retrieval_bm25_top(%s, %s::varchar[], NULL, %s, %s, 20)",
            ["c0x c1x r3x", keys, params.bm25_k1, params.bm25_b],
        )
        default = cursor.fetchall()
    # Same chunks in the same order; scores equal up to the order the plans add a chunk's parts in (last bits).
    assert_same(default, sql_top("c0x c1x r3x", keys, 20, plan="sort", as_reader=False), "default vs sort")
    assert len(default) == 20
