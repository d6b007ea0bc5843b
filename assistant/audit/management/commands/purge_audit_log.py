"""``manage.py purge_audit_log``: the retention purge, the only sanctioned deletion of audit rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from assistant.audit.services import purge_audit_log


class Command(BaseCommand):
    help = "Delete audit events older than --days (default AUDIT_RETENTION_DAYS); the purge is itself audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.AUDIT_RETENTION_DAYS
        if not days or days < 1:
            raise CommandError("Give --days N (N >= 1) or set AUDIT_RETENTION_DAYS; nothing was purged.")
        deleted = purge_audit_log(before=timezone.now() - timedelta(days=days))
        self.stdout.write(f"Purged {deleted} audit events older than {days} days.")
