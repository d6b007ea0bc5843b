"""``manage.py verify_audit_log``: prove the audit log's hash chain, or name the first broken row."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from assistant.audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero naming the first row that does not match."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"Audit log chain broken at row id={result.broken_id}: {result.reason} "
                f"({result.checked} rows before it verified)."
            )
        self.stdout.write(f"Audit log OK: {result.checked} rows verified; head hash {result.head_hash}")
