"""BM25 from the postings table (migration 0007): the lexical top-k is the exact BM25 top-k (checked against a
brute-force BM25 in Python) under ACL filters and under the reader role, and the postings follow every write:
inserts, cascading deletes, ACL changes, rebuilds."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection, transaction

from ingestion.models import Document
from retrieval.search import SearchFilters, SearchParams, acl_array_literal, lexical_candidates
from retrieval.services import rebuild_term_stats
from tests.retrieval.conftest import Team, sync_document_acl, write_document
from tests.retrieval.test_lexical_stats import python_bm25

pytestmark = pytest.mark.django_db

VOCABULARY = [f"w{index}x" for index in range(60)]


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def zipf_passages(rng: random.Random, count: int) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
    return [" ".join(rng.choices(VOCABULARY, weights=weights, k=rng.randint(3, 30))) for _ in range(count)]


def queries(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
    return [" ".join(rng.choices(VOCABULARY, weights=weights, k=rng.randint(1, 4))) for _ in range(count)]


def corpus(
    team: Team,
    seed: int,
    *,
    passages: Callable[[random.Random, int], list[str]] = zipf_passages,
    sizes: tuple[int, int, int] = (80, 40, 20),
) -> dict[str, Document]:
    """A public document, one for the team's group and one of alice's, of ``sizes`` passages each."""
    rng = random.Random(seed)
    public, group, own = sizes
    return {
        "public": write_document(title="public", passages=passages(rng, public), is_public=True),
        "group": write_document(title="group", passages=passages(rng, group), groups=[team.group]),
        "alice": write_document(title="alice", passages=passages(rng, own), owner=team.alice),
    }


def key_sets(team: Team) -> list[list[str]]:
    return [
        ["public", f"group:{team.group.pk}", f"user:{team.alice.pk}"],
        ["public"],
        [f"group:{team.group.pk}"],
        [f"user:{team.alice.pk}"],
        ["user:0"],
    ]


def readable(keys: list[str]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM retrieval_chunk WHERE acl && %s::varchar[]", [keys])
        return {row[0] for row in cursor.fetchall()}


def sql_top(
    query: str,
    keys: list[str],
    pool: int,
    *,
    as_reader: bool,
    documents: list[int] | None = None,
    sort_min_postings: int | None = None,
) -> list[tuple[int, float]]:
    """The SQL function's ranking, as the session role or as search's reader role (row-level security);
    ``sort_min_postings`` forces one of migration 0011's two plans (None: its default, as search() calls it)."""
    params = SearchParams.from_settings()
    arguments = [query, keys, documents, params.bm25_k1, params.bm25_b, pool]
    threshold = ""
    if sort_min_postings is not None:
        threshold = ", %s"
        arguments.append(sort_min_postings)
    with transaction.atomic(), connection.cursor() as cursor:
        if as_reader:
            cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
            cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(keys)])
        cursor.execute(
            "SELECT chunk_id, bm25 FROM retrieval_bm25_top(%s, %s::varchar[], %s::bigint[], %s, %s, %s"
            + threshold
            + ")",  # no ORDER BY of our own: the function's order (score, then chunk id) is under test too
            arguments,
        )
        rows = [(row[0], row[1]) for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return rows


def assert_exact(query: str, keys: list[str], pool: int) -> None:
    """The SQL top-``pool`` has brute-force BM25's scores, rank by rank, over the chunks ``keys`` may read
    (chunks of equal score may come in either order)."""
    params = SearchParams.from_settings()
    expected = python_bm25({}, query, params.bm25_k1, params.bm25_b)
    allowed = readable(keys)
    ranked = sorted((score for chunk_id, score in expected.items() if chunk_id in allowed), reverse=True)[:pool]
    for as_reader in (False, True):
        got = sql_top(query, keys, pool, as_reader=as_reader)
        assert len(got) == len(ranked), (query, keys)
        for (chunk_id, score), want in zip(got, ranked, strict=True):
            assert chunk_id in allowed
            assert math.isclose(score, expected[chunk_id], rel_tol=1e-9), (query, chunk_id)
            assert math.isclose(score, want, rel_tol=1e-9), (query, keys)


def assert_postings_match_chunks() -> None:
    """The postings are exactly the chunks' lexemes, term frequencies, lengths and ACLs."""
    with connection.cursor() as cursor:
        expected_sql = (
            "SELECT u.lexeme, c.id, coalesce(array_length(u.positions, 1), 1), c.lexeme_count, "
            "(CASE WHEN cardinality(c.acl) <= 64 THEN c.acl ELSE '{*}' END)::text "
            "FROM retrieval_chunk c, unnest(c.search_vector) u WHERE octet_length(u.lexeme) <= 256"
        )
        cursor.execute(expected_sql)
        expected = sorted(cursor.fetchall())
        cursor.execute("SELECT lexeme, chunk_id, tf, length, acl::text FROM retrieval_posting")
        assert sorted(cursor.fetchall()) == expected
    assert expected, "an empty corpus would prove nothing"


def test_top_k_from_postings_is_exact_bm25_under_every_acl_and_the_reader_role(team: Team) -> None:
    corpus(team, seed=1)
    assert_postings_match_chunks()
    for query in queries(seed=2, count=25):
        for keys in key_sets(team):
            for pool in (3, 10):
                assert_exact(query, keys, pool)


def test_postings_follow_inserts_deletes_access_changes_and_rebuilds(team: Team) -> None:
    documents = corpus(team, seed=3)
    write_document(title="more", passages=["w0x w0x w0x w1x", "w1x w1x w2x", "w0x w3x w3x w3x"], is_public=True)
    assert_postings_match_chunks()
    # A lexeme too long for a btree entry next to its ACL gets no postings instead of failing the write.
    write_document(title="blob", passages=["w1x " + "q" * 300 + " w2x"], is_public=True)
    assert_postings_match_chunks()

    # A deleted document's chunks leave the postings (the cascade never passes through retrieval.services).
    documents["public"].delete()
    assert_postings_match_chunks()

    # An access change moves the postings' ACL copies in the same transaction: the next search honours it.
    moved = documents["group"]
    moved.groups.clear()
    moved.is_public = True
    moved.save()
    sync_document_acl(moved)
    assert_postings_match_chunks()
    assert not readable([f"group:{team.group.pk}"]) & set(moved.chunks.values_list("pk", flat=True))
    for query in queries(seed=4, count=15):
        for keys in key_sets(team):
            assert_exact(query, keys, 5)

    # Updates that leave the ACL alone write no postings; a rebuild reproduces what the triggers kept.
    moved.chunks.update(injection_flags=["test"])
    assert_postings_match_chunks()
    rebuild_term_stats()
    assert_postings_match_chunks()


def test_the_reader_role_sees_only_the_postings_of_its_keys(team: Team) -> None:
    documents = corpus(team, seed=5)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
        cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(["public"])])
        cursor.execute("SELECT DISTINCT chunk_id FROM retrieval_posting")
        seen = {row[0] for row in cursor.fetchall()}
        transaction.set_rollback(True)
    assert seen == set(documents["public"].chunks.values_list("pk", flat=True))


def test_document_filter_keeps_the_scores_exact(team: Team) -> None:
    documents = corpus(team, seed=6)
    params = SearchParams.from_settings().with_changes(lexical_pool=5)
    only = documents["group"]
    keys = key_sets(team)[0]
    own = set(only.chunks.values_list("pk", flat=True))
    for query in queries(seed=7, count=10):
        expected = python_bm25({}, query, params.bm25_k1, params.bm25_b)
        ranked = sorted((chunk_id for chunk_id in expected if chunk_id in own), key=lambda c: -expected[c])
        with connection.cursor() as cursor:
            got = lexical_candidates(cursor, keys, query, SearchFilters(document_ids=(only.pk,)), params)
        assert [expected[c] for c in got] == pytest.approx([expected[c] for c in ranked[:5]], rel=1e-9)
        assert set(got) <= own


def test_a_chunk_shared_with_hundreds_of_users_is_written_and_found_only_by_them(team: Team) -> None:
    """Its ACL is too long to copy into a posting's index entry: the postings carry the marker ``{*}`` and
    defer to the chunk's own ACL, in the scoring query and in the row security policy alike."""
    corpus(team, seed=8)
    shared = write_document(title="wide", passages=["w0x w1x w59x w59x", "w2x w59x"])
    wide_acl = [f"user:{user_id}" for user_id in range(100_000, 100_500)] + [f"user:{team.alice.pk}"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE retrieval_chunk SET acl = %s::varchar[] WHERE document_id = %s", [wide_acl, shared.pk])
    assert_postings_match_chunks()
    own = set(shared.chunks.values_list("pk", flat=True))
    for keys in ([f"user:{team.alice.pk}"], ["user:100250"], *key_sets(team)):
        assert_exact("w59x w0x", keys, 10)
    found = {chunk_id for chunk_id, _ in sql_top("w59x", ["user:100250"], 10, as_reader=True)}
    assert found == own
    assert not {chunk_id for chunk_id, _ in sql_top("w59x", ["user:0", "public"], 10, as_reader=True)} & own
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
        cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(["user:100250"])])
        cursor.execute("SELECT DISTINCT chunk_id FROM retrieval_posting")
        assert {row[0] for row in cursor.fetchall()} == own
        transaction.set_rollback(True)
