"""OpenTelemetry: spans for Django requests, Celery tasks, psycopg queries and LLM calls.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (then spans go there over OTLP/HTTP, batched). Without it
no SDK is installed, so the tracers in the code are the API's no-op ones and cost nothing. Tests pass their
own exporter. Called once per process from the entry points (``asgi.py``, ``wsgi.py``, ``celery.py``)."""

from __future__ import annotations

import logging

from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

logger = logging.getLogger(__name__)
_provider: TracerProvider | None = None


def configure_tracing(*, exporter: SpanExporter | None = None, instrument: bool = True) -> TracerProvider | None:
    """Install the SDK with an OTLP exporter (when configured) or ``exporter``; returns the provider, or None
    when tracing stays off. Idempotent: the provider can only be set once per process."""
    global _provider
    if _provider is not None:
        return _provider
    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT
    if exporter is None and not endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT) itself, per the OTel spec.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    if instrument:
        _instrument()
    logger.info("tracing.enabled", extra={"endpoint": endpoint or "(in-process exporter)"})
    return provider


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
