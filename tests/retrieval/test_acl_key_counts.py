"""The per-ACL-key chunk counts (migration 0009) that choose search's dense path: they equal a brute-force count
after every kind of chunk write, only the reader's own keys are visible to the reader role, and search() chooses
its path by their sum, an upper bound of the permitted set, without counting the permitted rows."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from retrieval.search import (
    SearchFilters,
    SearchParams,
    acl_array_literal,
    choose_dense_path,
    enter_search_context,
    permitted_chunk_bound,
    permitted_chunk_count,
    search,
)
from retrieval.services import NewChunk, rebuild_term_stats, replace_document_chunks
from tests.retrieval.conftest import Team, sync_document_acl, write_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def kept_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, chunks FROM retrieval_aclkeycount")
        return dict(cursor.fetchall())


def brute_force_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, acl FROM retrieval_chunk")
        counts: dict[str, int] = {}
        for _, acl in cursor.fetchall():
            for key in set(acl):
                counts[key] = counts.get(key, 0) + 1
    return counts


def assert_counts_match_chunks() -> None:
    assert kept_counts() == brute_force_counts()


def test_counts_follow_inserts_deletes_access_changes_truncates_and_rebuilds(team: Team) -> None:
    group_doc = write_document(title="memo", passages=["one", "two", "three"], owner=team.alice, groups=[team.group])
    public_doc = write_document(title="menu", passages=["soup", "bread"], owner=team.bob, is_public=True)
    write_document(title="diary", passages=["alone"], owner=team.alice)
    assert_counts_match_chunks()
    assert kept_counts() == {
        f"group:{team.group.pk}": 3,
        f"user:{team.alice.pk}": 4,
        f"user:{team.bob.pk}": 2,
        "public": 2,
    }

    # Replacing a document's chunks (delete + COPY in one transaction) moves its counts.
    replace_document_chunks(
        document_id=group_doc.pk,
        version_id=group_doc.versions.get().pk,
        acl=[f"group:{team.group.pk}", f"user:{team.alice.pk}", f"user:{team.bob.pk}"],
        chunks=[NewChunk(text="four", embedding=[1.0] + [0.0] * 383, token_count=1)],
        embedding_model="hashing-384",
        chunker_version="test",
    )
    assert_counts_match_chunks()
    assert kept_counts()[f"group:{team.group.pk}"] == 1
    assert kept_counts()[f"user:{team.bob.pk}"] == 3

    # An access change: the chunks' ACL update moves the counts; a key no chunk carries any more disappears.
    group_doc.groups.clear()
    group_doc.users.add(team.charlie)
    sync_document_acl(group_doc)
    assert_counts_match_chunks()
    assert f"group:{team.group.pk}" not in kept_counts()
    assert kept_counts()[f"user:{team.charlie.pk}"] == 1

    # Updates that leave the ACL alone change nothing.
    group_doc.chunks.update(injection_flags=["test"])
    assert_counts_match_chunks()

    # A deleted document's chunks go by cascade, never through retrieval.services.
    public_doc.delete()
    assert_counts_match_chunks()
    assert "public" not in kept_counts()

    # A chunk written with a repeated key counts once for it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE retrieval_chunk SET acl = acl || acl WHERE document_id = %s", [group_doc.pk])
    assert_counts_match_chunks()

    # A rebuild reproduces what the triggers kept.
    before = kept_counts()
    rebuild_term_stats()
    assert kept_counts() == before

    with connection.cursor() as cursor:
        # Django's deferred foreign-key checks first: TRUNCATE refuses a table with pending trigger events.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE retrieval_chunk CASCADE")
    assert kept_counts() == {}
    write_document(title="after", passages=["again"], is_public=True)
    assert kept_counts() == {"public": 1}


def test_the_bound_is_at_least_the_permitted_count_for_every_key_set(team: Team) -> None:
    write_document(title="both", passages=["a", "b", "c"], owner=team.alice, groups=[team.group], is_public=True)
    write_document(title="group", passages=["d"], groups=[team.group])
    write_document(title="public", passages=["e", "f"], is_public=True)
    key_sets = [
        ["public", f"group:{team.group.pk}", f"user:{team.alice.pk}"],
        ["public", f"user:{team.charlie.pk}"],
        [f"group:{team.group.pk}"],
        ["user:0"],
    ]
    with connection.cursor() as cursor:
        for keys in key_sets:
            exact = permitted_chunk_count(cursor, keys, None, 1_000)
            bound = permitted_chunk_bound(cursor, keys)
            assert bound >= exact
            assert bound == sum(brute_force_counts().get(key, 0) for key in keys)
        # alice's 3 chunks of "both" carry three of her keys: counted three times.
        assert permitted_chunk_count(cursor, key_sets[0], None, 1_000) == 6
        assert permitted_chunk_bound(cursor, key_sets[0]) == 3 * 3 + 1 + 2


def test_the_reader_role_sees_only_the_counts_of_its_own_keys(team: Team) -> None:
    write_document(title="memo", passages=["x"], owner=team.alice, groups=[team.group])
    write_document(title="menu", passages=["y"], is_public=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
        cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(["public"])])
        cursor.execute("SELECT key FROM retrieval_aclkeycount")
        seen = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT set_config('docent.acl_keys', '', true)")
        cursor.execute("SELECT key FROM retrieval_aclkeycount")
        seen_without_keys = cursor.fetchall()
        transaction.set_rollback(True)
    assert seen == {"public"}
    assert seen_without_keys == []


def test_the_dense_path_is_chosen_by_the_key_counts(team: Team) -> None:
    # Each of bob's readable chunks carries two of his keys (public and his group): 4 chunks, bound 8.
    document = write_document(
        title="shared", passages=["alpha", "beta", "gamma", "delta"], groups=[team.group], is_public=True
    )
    keys = ["public", f"user:{team.bob.pk}", f"group:{team.group.pk}"]
    between = SearchParams.from_settings().with_changes(exact_scan_max_rows=5)
    above = between.with_changes(exact_scan_max_rows=8)
    with transaction.atomic(), connection.cursor() as cursor:
        enter_search_context(cursor, keys, between)
        # Under the reader role, as search() runs it.
        assert permitted_chunk_count(cursor, keys, None, 1_000) == 4
        assert permitted_chunk_bound(cursor, keys) == 8
        assert choose_dense_path(cursor, keys, None, between) == "hnsw"
        assert choose_dense_path(cursor, keys, None, above) == "exact"
        # A document filter narrows the set below what the keys say: counted exactly, up to the threshold.
        only = SearchFilters(document_ids=(document.pk,))
        assert choose_dense_path(cursor, keys, only, between) == "exact"
        transaction.set_rollback(True)
    assert search(user=team.bob, query="alpha", k=3, params=between).dense_path == "hnsw"
    assert search(user=team.bob, query="alpha", k=3, params=above).dense_path == "exact"
    # Revoking the group halves the bound at once.
    document.groups.clear()
    sync_document_acl(document)
    assert search(user=team.bob, query="alpha", k=3, params=between).dense_path == "exact"


def test_search_does_not_count_the_permitted_rows(team: Team) -> None:
    write_document(title="memo", passages=["quarterly revenue", "appendix"], owner=team.alice, groups=[team.group])
    with CaptureQueriesContext(connection) as queries:
        results = search(user=team.bob, query="quarterly revenue", k=2)
    assert results.dense_path == "exact"
    statements = [query["sql"] for query in queries.captured_queries]
    assert any("FROM retrieval_aclkeycount" in sql for sql in statements)
    assert not any("count(*)" in sql for sql in statements)


def _raw_connection() -> psycopg.Connection:
    """Another session on the test database, as a second writer (Django's connection is the first)."""
    params = {key: value for key, value in connection.get_connection_params().items() if key != "cursor_factory"}
    raw = psycopg.connect(**params)
    # Fail instead of hanging if the writers ever wait on each other in a circle the deadlock detector misses.
    raw.execute("SET lock_timeout = '10s'")
    return raw


def _insert_chunk(raw: psycopg.Connection, document: Any, ordinal: int, acl: list[str]) -> None:
    raw.execute(
        "INSERT INTO retrieval_chunk (document_id, version_id, ordinal, text, locator, acl, embedding, "
        "embedding_model, chunker_version, token_count, created_at) "
        "VALUES (%s, %s, %s, 'word', '{}', %s, %s::vector, 'test', 'test', 1, now())",
        [document.pk, document.versions.get().pk, ordinal, acl, "[" + ",".join(["1"] + ["0"] * 383) + "]"],
    )


def _wait_until_blocked(pid: int) -> None:
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == "Lock":
                return
        time.sleep(0.1)
    raise AssertionError("the second writer never waited for a lock")


@pytest.mark.django_db(transaction=True)
def test_an_access_change_and_an_ingestion_in_two_transactions_do_not_deadlock(team: Team) -> None:
    """An ACL update locks the corpus row before any key row, as every chunk insert and delete does (its
    statistics trigger fires first), so writers lock in one order. Without that, this interleaving deadlocks:
    the update locks a key row, an ingestion takes the corpus row and waits for that key row, and the update's
    transaction then writes chunks and waits for the corpus row."""
    group_key = f"group:{team.group.pk}"
    changed = write_document(title="changed", passages=["one"], is_public=True)
    ingested = write_document(title="ingested", passages=["two"], is_public=True)
    access_change, ingestion = _raw_connection(), _raw_connection()
    try:
        access_change.execute(
            "UPDATE retrieval_chunk SET acl = acl || %s::varchar[] WHERE document_id = %s", [[group_key], changed.pk]
        )
        errors: list[BaseException] = []

        def ingest() -> None:
            try:
                _insert_chunk(ingestion, ingested, 1, [group_key])
                ingestion.commit()
            except BaseException as error:  # reported by the assertion below
                errors.append(error)
                ingestion.rollback()

        thread = threading.Thread(target=ingest)
        thread.start()
        _wait_until_blocked(ingestion.info.backend_pid)  # on a lock the access change holds
        _insert_chunk(access_change, changed, 1, [group_key])
        access_change.commit()
        thread.join(timeout=15)
        assert not thread.is_alive()
        assert errors == []
    finally:
        access_change.close()
        ingestion.close()
    assert_counts_match_chunks()
    assert kept_counts()[group_key] == 3
