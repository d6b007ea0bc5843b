"""Fixtures for retrieval tests: the three standing users and documents whose chunks are written through
``retrieval.services`` exactly as ingestion writes them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group

from accounts.models import User
from ingestion.models import Document, DocumentVersion
from retrieval.access import acl_for_document
from retrieval.embeddings import get_embedder
from retrieval.services import NewChunk, replace_document_chunks, set_document_acl


@dataclass
class Team:
    alice: User
    bob: User
    charlie: User
    group: Group


@pytest.fixture
def team(db: None) -> Team:
    group = Group.objects.create(name="research")
    alice = User.objects.create_user("alice", password="pw-alice-123")
    bob = User.objects.create_user("bob", password="pw-bob-123")
    charlie = User.objects.create_user("charlie", password="pw-charlie-123")
    alice.groups.add(group)
    bob.groups.add(group)
    return Team(alice=alice, bob=bob, charlie=charlie, group=group)


MakeDocument = Callable[..., Document]


def write_document(
    *,
    title: str,
    passages: Sequence[str],
    owner: User | None = None,
    is_public: bool = False,
    groups: Sequence[Group] = (),
    users: Sequence[User] = (),
) -> Document:
    """A document with one version and its chunks embedded by the configured embedder."""
    document = Document.objects.create(title=title, owner=owner, is_public=is_public, source="test")
    document.groups.set(groups)
    document.users.set(users)
    body = "\n\n".join(passages).encode()
    version = DocumentVersion.objects.create(
        document=document,
        blob_key=f"test/{title}",
        original_name=f"{title}.txt",
        sha256=hashlib.sha256(body).hexdigest(),
        size_bytes=len(body),
    )
    document.current_version = version
    document.save(update_fields=["current_version"])
    embedder = get_embedder()
    vectors = embedder.embed_passages(list(passages))
    replace_document_chunks(
        document_id=document.pk,
        version_id=version.pk,
        acl=document_acl(document),
        chunks=[
            NewChunk(text=text, embedding=vector, token_count=len(text.split()), locator={"paragraph": index + 1})
            for index, (text, vector) in enumerate(zip(passages, vectors, strict=True))
        ],
        embedding_model=embedder.model_id,
        chunker_version="test",
    )
    return document


def document_acl(document: Document) -> list[str]:
    return acl_for_document(
        is_public=document.is_public,
        group_ids=document.groups.values_list("id", flat=True),
        user_ids=document.users.values_list("id", flat=True),
        owner_id=document.owner_id,
    )


def sync_document_acl(document: Document) -> None:
    """What an access change does: the document's rows and its chunks' ACL in one step."""
    set_document_acl(document_id=document.pk, acl=document_acl(document))


@pytest.fixture
def make_document(db: None) -> MakeDocument:
    return write_document
