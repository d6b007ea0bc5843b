"""Defense in depth: under search's reader role, Postgres itself hides chunks outside the user's ACL keys,
even from a raw SELECT with no ACL predicate at all."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from retrieval.access import acl_keys_for_user
from retrieval.search import acl_array_literal, search
from tests.retrieval.conftest import Team, write_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


@pytest.fixture
def chunks(team: Team) -> dict[str, set[int]]:
    restricted = write_document(
        title="memo", passages=["secret one", "secret two"], owner=team.alice, groups=[team.group]
    )
    private = write_document(title="diary", passages=["alice only"], owner=team.alice)
    public = write_document(title="menu", passages=["soup"], is_public=True)
    ids = {
        title: set(document.chunks.values_list("id", flat=True))
        for title, document in (("restricted", restricted), ("private", private), ("public", public))
    }
    return ids


def raw_select_as(keys: list[str] | None) -> set[int]:
    """SELECT every chunk id, without any predicate, as the search role with the given keys."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
        if keys is not None:
            cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(keys)])
        cursor.execute("SELECT id FROM retrieval_chunk")
        seen = {row[0] for row in cursor.fetchall()}
        transaction.set_rollback(True)
    return seen


def test_raw_select_under_a_users_keys_sees_only_their_chunks(team: Team, chunks) -> None:
    assert raw_select_as(acl_keys_for_user(team.alice)) == chunks["restricted"] | chunks["private"] | chunks["public"]
    assert raw_select_as(acl_keys_for_user(team.bob)) == chunks["restricted"] | chunks["public"]
    assert raw_select_as(acl_keys_for_user(team.charlie)) == chunks["public"]
    assert raw_select_as(None) == set()
    assert raw_select_as([]) == set()


def test_the_search_role_cannot_write_chunks(team: Team, chunks) -> None:
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config('role', %s, true)", [settings.RETRIEVAL_SEARCH_ROLE])
        cursor.execute("SELECT set_config('docent.acl_keys', %s, true)", [acl_array_literal(["public"])])
        cursor.execute("UPDATE retrieval_chunk SET acl = ARRAY['public']::varchar[]")


def test_search_hands_the_connection_back_in_its_own_role(team: Team, chunks) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        before = cursor.fetchone()[0]
    with transaction.atomic():  # as a caller that searches and then writes in one transaction
        assert search(user=team.charlie, query="soup", k=5)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_setting('docent.acl_keys', true)")
            assert cursor.fetchone() == (before, "")
        team.charlie.groups.add(team.group)
    assert before != settings.RETRIEVAL_SEARCH_ROLE
