from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "assistant.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Lower layers (accounts, ingestion, retrieval) may not import the audit app: they send plain signals
        # (allauth's, ingestion.signals, retrieval.signals) and the audit app listens.
        from assistant.audit import receivers
        from assistant.guards.redaction import redact
        from assistant.observability import logging as observability_logging

        receivers.connect()
        # Every log line (structlog's and stdlib's) goes through one processor chain; its redaction slot gets
        # the guardrails' redaction here, after settings (which build that chain) have loaded.
        observability_logging.REDACT = redact
