"""The access replay: for one answer, which passages were shown and whether the user was entitled to each, at
the time (from the ACLs recorded in the answer's event) and now (from the live chunk and the user's keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import User
from assistant.audit.models import Action, AuditEvent
from retrieval.access import acl_keys_for_user
from retrieval.models import Chunk

REPLAYABLE = (Action.ANSWER, Action.ANSWER_BLOCKED)


@dataclass(frozen=True)
class ReplayedPassage:
    number: int
    chunk_id: int
    document_id: int
    title: str
    acl_then: list[str]
    entitled_then: bool
    exists_now: bool
    entitled_now: bool | None  # None: the chunk or the user no longer exists
    flags: list[str]


def replay_answer(event: AuditEvent) -> list[ReplayedPassage]:
    """Each passage of an answer event with its entitlement then and now. Raises ValueError for other events."""
    if event.action not in REPLAYABLE:
        raise ValueError("Only answers can be replayed.")
    details: dict[str, Any] = event.details if isinstance(event.details, dict) else {}
    keys_then = set(details.get("user_acl_keys") or [])
    passages = details.get("passages") or []
    chunk_ids = [int(p["chunk_id"]) for p in passages]
    live = dict(Chunk.objects.filter(pk__in=chunk_ids).values_list("id", "acl"))
    user = User.objects.filter(pk=event.actor_id).first() if event.actor_id else None
    keys_now = set(acl_keys_for_user(user)) if user is not None else None
    replayed = []
    for passage in passages:
        acl_then = list(passage.get("acl") or [])
        chunk_id = int(passage["chunk_id"])
        acl_now = live.get(chunk_id)
        entitled_now = None if acl_now is None or keys_now is None else bool(set(acl_now) & keys_now)
        replayed.append(
            ReplayedPassage(
                number=int(passage.get("number") or 0),
                chunk_id=chunk_id,
                document_id=int(passage.get("document_id") or 0),
                title=str(passage.get("title") or ""),
                acl_then=acl_then,
                entitled_then=bool(set(acl_then) & keys_then),
                exists_now=acl_now is not None,
                entitled_now=entitled_now,
                flags=list(passage.get("flags") or []),
            )
        )
    return replayed
