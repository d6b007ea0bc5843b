"""search() runs a fixed number of SQL statements, whatever k and however many documents match."""

from __future__ import annotations

import pytest

from retrieval.search import SearchParams, search
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
    # (role, keys, HNSW knobs), the permitted count, the dense query, the lexical query, the hydration of the
    # shown rows, and leaving the search context.
    with django_assert_num_queries(9):
        few = search(user=team.bob, query="quarterly revenue", k=1)
    with django_assert_num_queries(9):
        many = search(user=team.bob, query="quarterly revenue", k=20)
    assert len(few) == 1
    assert len(many) == 20
    # The HNSW path costs the same statements.
    hnsw = SearchParams.from_settings().with_changes(exact_scan_max_rows=0)
    with django_assert_num_queries(9):
        via_hnsw = search(user=team.bob, query="quarterly revenue", k=20, params=hnsw)
    assert via_hnsw.dense_path == "hnsw"
    assert many.dense_path == "exact"
    assert {hit.chunk_id for hit in via_hnsw} == {hit.chunk_id for hit in many}
