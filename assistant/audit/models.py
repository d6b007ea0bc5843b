"""The audit log: one append-only, hash-chained row per security-relevant event.

Rows are written only by :func:`assistant.audit.services.record_event`. The database refuses UPDATE, DELETE and
TRUNCATE on the table (trigger, migration 0001); retention is the one sanctioned purge
(:func:`assistant.audit.services.purge_audit_log`). Each row stores the SHA-256 of its own content and of the
row before it, so ``manage.py verify_audit_log`` can prove nothing was changed or removed in the middle.

The actor is stored as an id and a name, not a foreign key: deleting a user must not touch audit rows.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class Action(models.TextChoices):
    LOGIN = "auth.login", "Sign-in"
    LOGIN_FAILED = "auth.login_failed", "Failed sign-in"
    LOGOUT = "auth.logout", "Sign-out"
    QUESTION = "chat.question", "Question asked"
    ANSWER = "chat.answer", "Answer shown"
    ANSWER_BLOCKED = "chat.answer_blocked", "Answer blocked by an output check"
    CITATION_OPENED = "chat.citation_opened", "Citation opened"
    DOCUMENT_UPLOADED = "document.uploaded", "Document uploaded"
    DOCUMENT_ACCESS_CHANGED = "document.access_changed", "Document access changed"
    DOCUMENT_DELETED = "document.deleted", "Document deleted"
    PASSAGES_FLAGGED = "document.passages_flagged", "Passages flagged as possible injection"
    PROMPT_LABEL_MOVED = "prompt.label_moved", "Prompt label moved"
    ADMIN_CHANGE = "admin.change", "Admin change"
    ADMIN_VIEW = "admin.view_conversation", "Admin viewed a conversation"
    AUDIT_EXPORT = "audit.export", "Audit log exported"
    AUDIT_REPLAY = "audit.replay", "Access replay viewed"
    AUDIT_PURGE = "audit.purge", "Audit log retention purge"


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    # Redacted before it is written (AUDIT_CONTENT decides how much conversation text is kept).
    details = models.JSONField(default=dict, blank=True)
    # For answers: what was shown and what produced it.
    chunk_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    document_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["actor_id", "-created_at"], name="audit_actor_recent")]
        permissions = [
            ("view_auditevent_csv", "Can export the audit log to CSV"),
            ("view_auditevent_replay", "Can replay the access of an answer"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_name or '-'}"
