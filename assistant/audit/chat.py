"""Audit events of the chat turn: the question, and the answer with what was shown and what produced it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accounts.models import User
from assistant.audit.context import RequestContext
from assistant.audit.models import Action, AuditEvent
from assistant.audit.services import record_event
from assistant.guards.injection import scan
from assistant.llm.types import Passage
from retrieval.access import acl_keys_for_user
from retrieval.models import Chunk


def record_question(
    *, user: User, conversation_id: int, message_id: int, question: str, regenerate: bool, request: RequestContext
) -> AuditEvent:
    return record_event(
        action=Action.QUESTION,
        actor=user,
        target_type="conversation",
        target_id=conversation_id,
        # Questions that read like an attack are answered like any other (the defenses hold either way), but
        # the auditor can find them.
        details={"message_id": message_id, "regenerate": regenerate, "injection_flags": scan(question)},
        content={"question": question},
        request=request,
    )


def record_answer(
    *,
    user: User,
    conversation_id: int,
    message_id: int,
    question: str,
    answer: str,
    status: str,
    passages: Sequence[Passage],
    version_of: dict[int, int],
    flags: dict[int, list[str]],
    prompt_version_id: int | None,
    model_id: str,
    route: str,
    blocked: str,
    removed_links: Sequence[str],
    request: RequestContext,
) -> AuditEvent:
    """The answer event. Each passage shown is stored with the ACL its chunk had at this moment and the user's
    keys, so the access replay can say whether the user was entitled to it then, whatever changed since."""
    chunk_ids = [p.chunk_id for p in passages]
    acl_of = dict(Chunk.objects.filter(pk__in=chunk_ids).values_list("id", "acl")) if chunk_ids else {}
    shown: list[dict[str, Any]] = [
        {
            "number": p.number,
            "chunk_id": p.chunk_id,
            "document_id": p.document_id,
            "version_id": version_of.get(p.chunk_id),
            "title": p.title,
            "acl": list(acl_of.get(p.chunk_id, [])),
            "flags": flags.get(p.chunk_id, []),
        }
        for p in passages
    ]
    details: dict[str, Any] = {
        "message_id": message_id,
        "status": status,
        "route": route,
        "user_acl_keys": acl_keys_for_user(user),
        "passages": shown,
    }
    if blocked:
        details["blocked"] = blocked
    if removed_links:
        details["removed_links"] = list(removed_links)
    event = record_event(
        action=Action.ANSWER_BLOCKED if blocked else Action.ANSWER,
        actor=user,
        target_type="conversation",
        target_id=conversation_id,
        details=details,
        content={"question": question, "answer": answer},
        chunk_ids=chunk_ids,
        document_ids=[p.document_id for p in passages],
        prompt_version_id=prompt_version_id,
        model_id=model_id,
        request=request,
    )
    return event
