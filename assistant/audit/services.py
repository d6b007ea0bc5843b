"""Writes to the audit log: append one hash-chained event; verify the chain; purge by retention.

Appends are serialized with a transaction-scoped advisory lock: the writer takes the lock, reads the newest
row's hash, inserts its row and keeps the lock until its transaction commits, so concurrent writers (web
replicas, workers) form one chain with ids in commit order. An event written inside a transaction that rolls
back disappears with it (the action it records did not happen either); the chain links by hash, so the id gap
it leaves is harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from assistant.audit import context as audit_context
from assistant.audit.models import Action, AuditEvent
from assistant.guards.redaction import redact, redact_secrets, redact_value

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the chain head (any constant no other lock in Docent uses).
_CHAIN_LOCK = 0x0D0C_E417_A0D1
_HASHED_FIELDS = (
    "created_at", "actor_id", "actor_name", "action", "target_type", "target_id", "ip", "user_agent",
    "request_id", "details", "chunk_ids", "document_ids", "prompt_version_id", "model_id",
)  # fmt: skip


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and the row's content in canonical JSON."""
    content = {name: _canonical(getattr(event, name)) for name in _HASHED_FIELDS}
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{event.prev_hash}\n{payload}".encode()).hexdigest()


def audit_content(text: str) -> dict[str, Any]:
    """Conversation text as ``AUDIT_CONTENT`` allows: ``full`` (secrets removed), ``redacted`` (PII and
    secrets removed, the default) or ``metadata`` (length and a digest only)."""
    mode = settings.AUDIT_CONTENT
    if mode == "metadata":
        return {"chars": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return {"text": redact_secrets(text) if mode == "full" else redact(text)}


def _actor(actor: AbstractBaseUser | AnonymousUser | None) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, ""
    return actor.pk, str(actor.get_username())


def record_event(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    actor_name: str = "",
    target_type: str = "",
    target_id: object = "",
    details: Mapping[str, Any] | None = None,
    content: Mapping[str, str] | None = None,
    chunk_ids: Iterable[int] = (),
    document_ids: Iterable[int] = (),
    prompt_version_id: int | None = None,
    model_id: str = "",
    request: audit_context.RequestContext | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction (or its own).

    ``details`` are redacted (PII and secrets) before they are stored; ``content`` (question and answer text)
    is stored as ``AUDIT_CONTENT`` says. ``request`` defaults to the current request's context.
    """
    where = request or audit_context.current()
    actor_id, name = _actor(actor)
    stored = dict(redact_value(dict(details or {})))
    for key, text in (content or {}).items():
        stored[key] = audit_content(text)
    # Round-trip through JSON so the hash is computed over exactly what jsonb gives back.
    stored = json.loads(json.dumps(stored, default=str))
    # No savepoint inside the caller's transaction (two statements fewer per event): a failure here fails the
    # caller's transaction as a whole, which is what the caller gets anyway (nothing catches it).
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        head = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            actor_id=actor_id,
            actor_name=(name or redact(actor_name))[:150],
            action=action,
            target_type=target_type[:40],
            target_id=str(target_id)[:64],
            ip=where.ip,
            user_agent=redact(where.user_agent)[:300],
            request_id=where.request_id[:64],
            details=stored,
            chunk_ids=[int(i) for i in chunk_ids],
            document_ids=sorted({int(i) for i in document_ids}),
            prompt_version_id=prompt_version_id,
            model_id=model_id[:200],
            prev_hash=head or GENESIS,
        )
        event.hash = compute_hash(event)
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_hash: str
    broken_id: int | None = None
    reason: str = ""


def verify_chain() -> Verification:
    """Walk the whole log in id order; the first row whose hash or link does not match is named."""
    anchors = {GENESIS}
    for details in AuditEvent.objects.filter(action=Action.AUDIT_PURGE).values_list("details", flat=True):
        if isinstance(details, dict) and details.get("last_purged_hash"):
            anchors.add(str(details["last_purged_hash"]))
    previous: str | None = None
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if previous is None and event.prev_hash not in anchors:
            return Verification(False, checked, "", event.pk, "its link points at no known start of the chain")
        if previous is not None and event.prev_hash != previous:
            return Verification(False, checked, "", event.pk, "its link does not match the row before it")
        if compute_hash(event) != event.hash:
            return Verification(False, checked, "", event.pk, "its content does not match its hash")
        previous = event.hash
        checked += 1
    return Verification(True, checked, previous or GENESIS)


def purge_audit_log(*, before: datetime, actor_name: str = "retention") -> int:
    """Delete the events older than ``before`` through the database's purge function (the only path the
    trigger allows), then record the purge, anchoring the chain's new start. Returns how many were deleted."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
            cursor.execute("SELECT deleted, last_id, last_hash FROM audit_purge_before(%s)", [before])
            deleted, last_id, last_hash = cursor.fetchone()
        record_event(
            action=Action.AUDIT_PURGE,
            actor_name=actor_name,
            target_type="audit_log",
            details={
                "before": before.isoformat(),
                "deleted": deleted,
                "last_purged_id": last_id,
                "last_purged_hash": last_hash,
            },
        )
    return int(deleted)
