"""A real worker process consumes a real task from the real broker."""

from __future__ import annotations

import uuid
from pathlib import Path

from assistant.tasks import ping_task
from tests.processes import celery_worker


def test_worker_process_consumes_a_task_from_redis(tmp_path: Path) -> None:
    queue = f"test-roundtrip-{uuid.uuid4().hex[:8]}"
    payload = uuid.uuid4().hex
    with celery_worker(queues=queue, log_path=tmp_path / "worker.log") as worker:
        result = ping_task.apply_async(args=(payload,), queue=queue)
        assert result.get(timeout=60) == f"pong:{payload}"
        assert worker.poll() is None, "the worker must still be running"
    assert "ping_task" in (tmp_path / "worker.log").read_text()
