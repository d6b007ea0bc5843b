"""search() runs a fixed number of SQL statements, whatever k and however many documents match."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from retrieval.search import ChunkHit, SearchParams, enter_search_context, search
from tests.retrieval.conftest import Team, write_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def test_search_query_count_does_not_grow_with_k_or_matches(team: Team, django_assert_num_queries) -> None:
    for number in range(12):
        write_document(
            title=f"Report {number}",
            passages=[f"quarterly revenue report number {number} for the sales team", f"appendix {number}"],
            owner=team.alice,
            groups=[team.group],
        )
    # 1 for the user's groups; a savepoint pair (the test runs in a transaction); entering the search context
    # (role, keys, HNSW knobs), the permitted bound (per-ACL-key counts), the dense query, the lexical query, the
    # hydration of the fused candidates, the snippets of the shown hits, and leaving the search context.
    with django_assert_num_queries(10):
        few = search(user=team.bob, query="quarterly revenue", k=1)
    with django_assert_num_queries(10):
        many = search(user=team.bob, query="quarterly revenue", k=20)
    assert len(few) == 1
    assert len(many) == 20
    # The HNSW path costs the same statements.
    hnsw = SearchParams.from_settings().with_changes(exact_scan_max_rows=0)
    with django_assert_num_queries(10):
        via_hnsw = search(user=team.bob, query="quarterly revenue", k=20, params=hnsw)
    assert via_hnsw.dense_path == "hnsw"
    assert many.dense_path == "exact"
    # Both paths find the same passages that match the query and rank them first. The appendices share no word
    # with the query and come from the dense side only, where their similarities tie at about 0: which of them fill
    # the last places, and whether the approximate graph search reaches them all (the index also holds other
    # tests' rolled-back rows), may differ between the paths (a CI run once got 3 fewer from HNSW).

    def matching(results: list[ChunkHit]) -> list[int]:
        return [hit.chunk_id for hit in results if hit.lexical_rank is not None]

    for results in (many, via_hnsw):
        assert all(hit.lexical_rank is not None for hit in results[: len(matching(results))])
    assert set(matching(via_hnsw)) == set(matching(many))
    assert len(matching(many)) >= 10


@pytest.mark.django_db(transaction=True)
def test_search_context_sets_its_knobs_for_the_transaction_only() -> None:
    params = SearchParams.from_settings().with_changes(hnsw_ef_search=321, hnsw_max_scan_tuples=4321)
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        session_workers = cursor.fetchone()[0]
        assert session_workers != "0"
        with transaction.atomic():
            enter_search_context(cursor, ["public"], params)
            cursor.execute(
                "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.max_scan_tuples'), "
                "current_setting('max_parallel_workers_per_gather'), current_user"
            )
            assert cursor.fetchone() == ("321", "4321", "0", "docent_search")
        cursor.execute("SELECT current_setting('max_parallel_workers_per_gather'), current_user")
        workers, role = cursor.fetchone()
    assert workers == session_workers
    assert role != "docent_search"
