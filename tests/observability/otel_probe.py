"""Run in a child process (a tracer provider can be set only once per process): with ``--in-memory`` it
installs the SDK with an in-memory exporter, serves one request and one LLM call, and prints the spans as
JSON; without, it reports whether tracing was switched on."""

from __future__ import annotations

import json
import sys

import django

django.setup()

from asgiref.sync import async_to_sync  # noqa: E402
from django.test import Client  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from assistant.llm import gateway  # noqa: E402
from assistant.llm.types import ChatMessage, CompletionRequest, Passage  # noqa: E402
from assistant.observability.tracing import configure_tracing  # noqa: E402

if "--in-memory" not in sys.argv:
    provider = trace.get_tracer_provider()
    print(json.dumps({"provider": type(provider).__name__}))
    sys.exit(0)

exporter = InMemorySpanExporter()
configure_tracing(exporter=exporter)
Client(SERVER_NAME="localhost").get("/readyz")
passage = Passage(number=1, chunk_id=1, document_id=1, title="Leave", text="Employees get 25 vacation days.")
async_to_sync(gateway.complete)(
    CompletionRequest(
        route="chat",
        messages=[ChatMessage("user", "How many vacation days?")],
        question="How many vacation days?",
        passages=[passage],
        request_id="req-otel-1",
    )
)
spans = [
    {"name": span.name, "attributes": {k: v for k, v in (span.attributes or {}).items()}}
    for span in exporter.get_finished_spans()
]
print(json.dumps({"spans": spans}, default=str))
