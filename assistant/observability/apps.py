from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "assistant.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # Before any request handler loads its middleware (Django instrumentation inserts one) and before a
        # Celery worker runs a task: both happen after django.setup(), which runs this.
        from assistant.observability.celery_context import connect_celery_signals
        from assistant.observability.tracing import configure_tracing

        connect_celery_signals()
        configure_tracing()
