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

        receivers.connect()
