"""Reads for chat, each checking that the user may see what is returned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, Q, QuerySet

from assistant.models import Citation, Conversation, Message
from retrieval.search import readable_passages


def conversations_for_user(user: AbstractBaseUser | AnonymousUser, *, query: str = "") -> QuerySet[Conversation]:
    """The user's own conversations, most recent first; ``query`` matches titles and message text."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    conversations = Conversation.objects.filter(owner_id=user.pk)
    if query.strip():
        matching = Message.objects.filter(content__icontains=query.strip()).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=query.strip()) | Q(pk__in=matching))
    return conversations.order_by("-updated_at", "-pk")


def get_conversation_for_user(user: AbstractBaseUser | AnonymousUser, conversation_id: int) -> Conversation | None:
    """The conversation if ``user`` owns it, else ``None`` (callers answer 404: no hint that it exists)."""
    if not user.is_authenticated:
        return None
    return Conversation.objects.filter(pk=conversation_id, owner_id=user.pk).first()


def get_message_for_user(user: AbstractBaseUser | AnonymousUser, message_id: int) -> Message | None:
    """An assistant or user message in one of the user's own conversations."""
    if not user.is_authenticated:
        return None
    return Message.objects.select_related("conversation").filter(pk=message_id, conversation__owner_id=user.pk).first()


def messages_of(conversation: Conversation) -> list[Message]:
    """The messages of a conversation with their citations and feedback, in a fixed number of queries."""
    return list(
        conversation.messages.order_by("created_at", "pk").prefetch_related(
            Prefetch("citations", queryset=Citation.objects.order_by("number")), "feedback"
        )
    )


def visible_chunk_ids(user: AbstractBaseUser | AnonymousUser, chunk_ids: Iterable[int]) -> set[int]:
    """Which of these chunks the user may read right now (citations re-check access whenever shown)."""
    return set(readable_passages(user=user, chunk_ids=list(chunk_ids)))


@dataclass(frozen=True)
class CitedPassage:
    """A citation as the user may see it now: the passage text only when they may still read it."""

    citation_id: int
    number: int
    chunk_id: int
    document_id: int
    title: str
    locator: dict[str, Any]
    cited: bool
    available: bool
    text: str


def get_cited_passage(user: AbstractBaseUser | AnonymousUser, citation_id: int) -> CitedPassage | None:
    """One citation of the user's own conversation, with the live passage if they may still read it.

    ``None`` when the citation is not in one of the user's conversations. When access was revoked (or the
    chunk no longer exists), ``available`` is False and neither title nor text is returned.
    """
    if not user.is_authenticated:
        return None
    citation = Citation.objects.filter(pk=citation_id, message__conversation__owner_id=user.pk).first()
    if citation is None:
        return None
    chunk = readable_passages(user=user, chunk_ids=[citation.chunk_id]).get(citation.chunk_id)
    return CitedPassage(
        citation_id=citation.pk,
        number=citation.number,
        chunk_id=citation.chunk_id,
        document_id=citation.document_id,
        title=citation.title if chunk is not None else "",
        locator=citation.locator if chunk is not None else {},
        cited=citation.cited,
        available=chunk is not None,
        text=chunk.text if chunk is not None else "",
    )
