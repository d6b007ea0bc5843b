"""Tracing is off unless an OTLP endpoint is configured; when on, Django, psycopg and LLM calls make spans.
The request id crosses into a real Celery worker through the task message headers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import structlog

from assistant.tasks import ping_task
from tests.chat.conftest import restore_migration_seeds
from tests.processes import REPO_ROOT, celery_worker, process_env

PROBE = [sys.executable, "-m", "tests.observability.otel_probe"]


def probe(*args: str, **env: str) -> dict:
    done = subprocess.run(
        [*PROBE, *args], cwd=REPO_ROOT, env=process_env(**env), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tracing_is_off_without_an_otlp_endpoint(db: None) -> None:
    # The API's default provider: no SDK, no exporter, every span a no-op.
    assert probe(OTEL_EXPORTER_OTLP_ENDPOINT="")["provider"] == "ProxyTracerProvider"


def test_spans_for_django_psycopg_and_llm_calls(transactional_db: None) -> None:
    restore_migration_seeds()
    spans = probe("--in-memory", OTEL_EXPORTER_OTLP_ENDPOINT="", LOG_LEVEL="WARNING")["spans"]
    names = [span["name"] for span in spans]
    assert "GET readyz" in names or any(name.startswith("GET") for name in names), names
    assert any(span["attributes"].get("db.system") == "postgresql" for span in spans), names
    (llm,) = [span for span in spans if span["name"] == "llm.call"]
    assert llm["attributes"]["docent.route"] == "chat"
    assert llm["attributes"]["docent.request_id"] == "req-otel-1"
    assert llm["attributes"]["docent.outcome"] == "ok" and llm["attributes"]["gen_ai.usage.output_tokens"] > 0


def test_request_id_follows_a_task_into_the_worker(tmp_path: Path) -> None:
    queue = f"test-obs-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    with celery_worker(queues=queue, log_path=log, LOG_FORMAT="json"):
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            result = ping_task.apply_async(args=("x",), queue=queue)
        finally:
            structlog.contextvars.clear_contextvars()
        assert result.get(timeout=60) == "pong:x"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    task_lines = [r for r in records if r.get("task") == "assistant.tasks.ping_task"]
    assert task_lines, log.read_text()[-3000:]
    assert all(r["request_id"] == request_id for r in task_lines)
