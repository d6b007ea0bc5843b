from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assistant.audit.services import purge_audit_log


@shared_task(name="assistant.audit.tasks.purge_audit_log_task")
def purge_audit_log_task() -> int:
    """The daily retention purge; does nothing while AUDIT_RETENTION_DAYS is 0 (keep forever)."""
    if not settings.AUDIT_RETENTION_DAYS:
        return 0
    return purge_audit_log(before=timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS))
