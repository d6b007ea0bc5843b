"""Property: for random users, groups, documents and ACLs (public, group, user, mixtures, later revoked),
no search ever returns a chunk whose document the user cannot read, and every change of access takes effect
on the very next search.

The hashing embedder stands in for the model here (the subject is ACLs over many random worlds); the same
search path runs with the real model in test_search_permissions.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from ingestion.models import Document
from retrieval.search import SearchParams, search
from tests.retrieval.conftest import sync_document_acl, write_document

WORDS = ["budget", "roadmap", "salary", "incident", "holiday", "merger"]


@dataclass(frozen=True)
class DocSpec:
    owner: int | None
    is_public: bool
    groups: frozenset[int]
    users: frozenset[int]
    words: tuple[str, ...]


doc_specs = st.builds(
    DocSpec,
    owner=st.one_of(st.none(), st.integers(0, 3)),
    is_public=st.booleans(),
    groups=st.frozensets(st.integers(0, 2), max_size=3),
    users=st.frozensets(st.integers(0, 3), max_size=2),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(tuple),
)
# Revocations (and one grant) applied after a first round of searches.
changes = st.lists(
    st.one_of(
        st.tuples(st.just("leave_group"), st.integers(0, 3), st.integers(0, 2)),
        st.tuples(st.just("make_private"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("drop_groups"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("drop_users"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("join_group"), st.integers(0, 3), st.integers(0, 2)),
    ),
    max_size=4,
)


def readable(document: Document, user: User) -> bool:
    """The oracle, written from the rules rather than from retrieval.access."""
    if not user.is_active:
        return False
    if document.is_public or document.owner_id == user.pk:
        return True
    if document.users.filter(pk=user.pk).exists():
        return True
    return document.groups.filter(pk__in=user.groups.all()).exists()


def check_every_user(users: list[User], documents: list[Document], query: str) -> None:
    lexical = SearchParams.from_settings().with_changes(mode="lexical", dedupe_similarity=1.01)
    for user in users:
        allowed = {document.pk for document in documents if readable(document, user)}
        hybrid = search(user=user, query=query, k=50)
        assert {hit.document_id for hit in hybrid} <= allowed
        # Lexically, every readable document holding a query word is found: the filter is exact, not lossy.
        found = {hit.document_id for hit in search(user=user, query=query, k=50, params=lexical)}
        assert found <= allowed
        expected = {document.pk for document in documents if document.pk in allowed and query in document.title}
        assert found == expected


@pytest.mark.django_db
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    memberships=st.lists(st.frozensets(st.integers(0, 2), max_size=3), min_size=4, max_size=4),
    specs=st.lists(doc_specs, min_size=1, max_size=6),
    query=st.sampled_from(WORDS),
    revocations=changes,
)
def test_no_search_returns_an_unreadable_chunk(memberships, specs, query, revocations) -> None:
    with override_settings(EMBEDDING_BACKEND="hashing"), transaction.atomic():
        groups = [Group.objects.create(name=f"g{index}") for index in range(3)]
        users = [User.objects.create_user(f"u{index}") for index in range(4)]
        for user, member_of in zip(users, memberships, strict=True):
            user.groups.set([groups[index] for index in member_of])
        documents = [
            write_document(
                # The title lists the document's words, so the oracle knows which documents a query matches.
                title=" ".join(spec.words),
                passages=[f"note {position} about {word} number {index}" for index, word in enumerate(spec.words)],
                owner=None if spec.owner is None else users[spec.owner],
                is_public=spec.is_public,
                groups=[groups[index] for index in spec.groups],
                users=[users[index] for index in spec.users],
            )
            for position, spec in enumerate(specs)
        ]
        check_every_user(users, documents, query)

        for action, first, second in revocations:
            if action == "leave_group":
                users[first].groups.remove(groups[second])
            elif action == "join_group":
                users[first].groups.add(groups[second])
            elif first < len(documents):
                document = documents[first]
                if action == "make_private":
                    document.is_public = False
                    document.save(update_fields=["is_public"])
                elif action == "drop_groups":
                    document.groups.clear()
                else:
                    document.users.clear()
                sync_document_acl(document)
            # Takes effect on the very next search.
            check_every_user(users, documents, query)
        transaction.set_rollback(True)
