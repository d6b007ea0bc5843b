"""Receivers of the lower layers' signals: they turn sign-ins, document changes, admin changes and chunk writes
into audit events (and injection flags), since those layers may not import the audit app."""

from __future__ import annotations

import logging
from typing import Any, cast

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save

from assistant.audit.models import Action
from assistant.audit.services import record_event
from assistant.guards.injection import neutralize, scan
from ingestion.models import Document
from ingestion.signals import document_access_changed, document_deleted, document_uploaded
from retrieval.models import Chunk
from retrieval.services import set_injection_flags
from retrieval.signals import chunks_replaced

logger = logging.getLogger("docent.audit")
_ADMIN_ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    backend = getattr(user, "backend", "") or ""
    record_event(action=Action.LOGIN, actor=user, target_type="user", target_id=user.pk, details={"via": backend})


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event(action=Action.LOGOUT, actor=user, target_type="user", target_id=user.pk)


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django already masks password-like keys in ``credentials``; only the name tried is kept.
    name = str(credentials.get("username") or credentials.get("login") or credentials.get("email") or "")
    record_event(action=Action.LOGIN_FAILED, actor_name=name, target_type="user", details={"username": name})


def _uploaded(sender: Any, document: Document, actor: Any, version_id: int, **kwargs: Any) -> None:
    record_event(
        action=Action.DOCUMENT_UPLOADED,
        actor=actor,
        target_type="document",
        target_id=document.pk,
        details={"title": document.title, "version_id": version_id, "public": document.is_public},
        document_ids=[document.pk],
    )


def _access_changed(sender: Any, document: Document, actor: Any, acl: list[str], **kwargs: Any) -> None:
    record_event(
        action=Action.DOCUMENT_ACCESS_CHANGED,
        actor=actor,
        target_type="document",
        target_id=document.pk,
        details={"acl": acl},
        document_ids=[document.pk],
    )


def _deleted(sender: Any, document_id: int, title: str, actor: Any, files: int, **kwargs: Any) -> None:
    record_event(
        action=Action.DOCUMENT_DELETED,
        actor=actor,
        target_type="document",
        target_id=document_id,
        details={"title": title, "files": files},
        document_ids=[document_id],
    )


def _admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every change made in the Django admin (routes, deployments, budgets, kill switches, prompts, users,
    groups...) is written to LogEntry by the admin; mirror it into the tamper-evident log."""
    if not created:
        return
    content_type = cast(ContentType | None, instance.content_type if instance.content_type_id else None)
    model = content_type.model_class() if content_type is not None else None
    label = model._meta.label_lower if model is not None else ""
    actor = cast(AbstractBaseUser, instance.user)
    record_event(
        action=Action.ADMIN_CHANGE,
        actor=actor,
        target_type=label[:40],
        target_id=instance.object_id or "",
        details={
            "operation": _ADMIN_ACTIONS.get(instance.action_flag, str(instance.action_flag)),
            "object": instance.object_repr,
            "change": instance.get_change_message(),
        },
    )


def _chunks_replaced(sender: Any, document_id: int, version_id: int, texts: list[str], **kwargs: Any) -> None:
    """Flag a document's instruction-like passages at ingestion, so curators see them (documents page) and
    auditors get an event; at query time they are neutralized and ranked lower whatever the stored flag says.

    The texts come with the signal (the chunks' ids are read only for flagged ones), so screening a clean
    document costs no query for its chunks."""
    by_ordinal = {ordinal: reasons for ordinal, text in enumerate(texts) if (reasons := neutralize(text).flags)}
    flags: dict[int, list[str]] = {}
    if by_ordinal:
        flagged = Chunk.objects.filter(version_id=version_id, document_id=document_id, ordinal__in=by_ordinal)
        flags = {chunk_id: by_ordinal[ordinal] for ordinal, chunk_id in flagged.values_list("ordinal", "id")}
    title = Document.objects.filter(pk=document_id).values_list("title", flat=True).first() or ""
    title_flags = scan(title)
    if not flags and not title_flags:
        return
    set_injection_flags(document_id=document_id, flags=flags)
    logger.warning("injection.flagged document=%s chunks=%s title=%s", document_id, sorted(flags), title_flags)
    record_event(
        action=Action.PASSAGES_FLAGGED,
        target_type="document",
        target_id=document_id,
        details={"version_id": version_id, "chunks": {str(k): v for k, v in flags.items()}, "title": title_flags},
        chunk_ids=sorted(flags),
        document_ids=[document_id],
    )


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit.login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit.logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit.login_failed")
    document_uploaded.connect(_uploaded, dispatch_uid="audit.uploaded")
    document_access_changed.connect(_access_changed, dispatch_uid="audit.access_changed")
    document_deleted.connect(_deleted, dispatch_uid="audit.deleted")
    post_save.connect(_admin_change, sender=LogEntry, dispatch_uid="audit.admin_change")
    chunks_replaced.connect(_chunks_replaced, dispatch_uid="audit.chunks_replaced")
