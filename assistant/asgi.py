"""ASGI entry point: uvicorn workers (under gunicorn in production) serve streamed answers."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistant.settings")
# Under ASGI a request's database work runs in a thread of its own context, so persistent connections (kept
# per thread) pile up until PostgreSQL refuses new clients (found by bench/load.py): the web process closes
# each request's connection unless DB_CONN_MAX_AGE says otherwise. Put PgBouncer in front at scale.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# The query embedding's onnxruntime threads must not spin after each question on the cores the event loop needs
# (~26 ms of CPU per question; EMBEDDING_ONNX_SPINNING in settings).
os.environ.setdefault("EMBEDDING_ONNX_SPINNING", "0")

application = get_asgi_application()

# Everything imported so far (Django, the ORM, the embedding and NLP libraries: ~660,000 objects) lives as
# long as the process. Frozen, the garbage collector stops walking it: a full collection took ~0.4-0.7 s with
# the event loop stopped, every stream stalled, and ran every few seconds under load (docs/performance.md,
# "Where a question's CPU goes").
gc.freeze()
