"""Real Celery worker processes on the real broker and the shared test database."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from assistant.celery import app
from ingestion.models import IngestionJob
from ingestion.services import Access, upload_document
from ingestion.tasks import ingest_version_task
from retrieval.models import Chunk
from tests.ingestion import files
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def purge_ingestion_queue() -> None:
    """Leftover messages of earlier runs in this Redis database would only confuse the worker's log."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("ingestion")  # type: ignore[attr-defined]


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def long_text(paragraphs: int) -> bytes:
    topics = ["deploys", "backups", "on-call", "incidents", "databases", "queues", "caches", "certificates"]
    parts = ["# Operations manual"]
    for number in range(paragraphs):
        topic = topics[number % len(topics)]
        parts.append(
            f"Procedure {number} for {topic}: "
            + " ".join(f"step {step} checks the {topic} dashboard and records the outcome." for step in range(14))
        )
    return "\n\n".join(parts).encode()


def job_of(document_id: int) -> IngestionJob:
    return IngestionJob.objects.filter(version__document_id=document_id).latest("pk")


def test_sigkilled_worker_child_job_is_redelivered_and_finishes_with_one_set_of_chunks(
    tmp_path, alice, engineering, media_root
):
    purge_ingestion_queue()
    env: dict[str, Any] = {
        "MEDIA_ROOT": str(media_root),
        "INGESTION_HEARTBEAT_TIMEOUT_SECONDS": "4",
        "EMBEDDING_BACKEND": "torch",  # the real model, end to end
        # Small batches give frequent heartbeats, so a short document is enough to be killed mid-way.
        "EMBEDDING_BATCH_SIZE": "8",
    }
    with celery_worker(queues="ingestion", log_path=tmp_path / "worker.log", **env) as worker:
        job = upload_document(
            data=long_text(100),
            filename="ops.md",
            owner=alice,
            access=Access(group_ids=(engineering.pk,)),
        )
        document_id = job.version.document_id
        # Kill the pool process that runs the job once it is part-way through embedding.
        wait_until(
            lambda: job_of(document_id).status == "embedding" and job_of(document_id).progress > 20,
            timeout=300,
            interval=0.2,
            what="the job to be embedding",
        )
        children = pool_children(worker.pid)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)
        assert job_of(document_id).status == "embedding"
        assert Chunk.objects.filter(document_id=document_id).count() == 0

        wait_until(lambda: job_of(document_id).status in ("ready", "failed"), timeout=400, what="the job to finish")
        finished = job_of(document_id)
        assert finished.status == "ready", finished.error
        assert finished.attempts == 2
        chunks = Chunk.objects.filter(document_id=document_id)
        assert chunks.count() == finished.chunk_count > 90
        # Exactly one set: ordinals 0..n-1, each once, all of the one version.
        assert sorted(chunks.values_list("ordinal", flat=True)) == list(range(finished.chunk_count))
        assert set(chunks.values_list("version_id", flat=True)) == {finished.version_id}

        # The worker survives bad files, and a good file queued behind them still goes through.
        bad = upload_document(
            data=b"%PDF-1.7\n" + b"\x00garbage" * 100, filename="broken.pdf", owner=alice, access=Access()
        )
        good = upload_document(data=files.html_bytes(), filename="expenses.html", owner=alice, access=Access())
        wait_until(lambda: job_of(good.version.document_id).status == "ready", timeout=120, what="the good job")
        bad_job = job_of(bad.version.document_id)
        assert bad_job.status == "failed" and "The PDF is damaged" in bad_job.error
        assert worker.poll() is None, "the worker must still be running"
        assert Chunk.objects.filter(document_id=document_id).count() == finished.chunk_count
    log = (tmp_path / "worker.log").read_text()
    assert "WorkerLostError" in log or "SIGKILL" in log


def test_a_job_over_the_soft_time_limit_fails_with_a_message_and_the_worker_goes_on(tmp_path, alice, media_root):
    purge_ingestion_queue()
    env: dict[str, Any] = {"MEDIA_ROOT": str(media_root), "EMBEDDING_BACKEND": "torch"}  # ~20 passages/s
    with celery_worker(queues="ingestion", log_path=tmp_path / "worker.log", **env) as worker:
        slow = upload_document(data=long_text(400), filename="manual.md", owner=alice, access=Access(), enqueue=False)
        # The limits travel with the message (the sender's settings). 400 chunks take torch 10-20 s here, well
        # over 4 s (300 chunks once finished inside 10 s on a quiet machine).
        ingest_version_task.apply_async(args=(slow.pk,), soft_time_limit=4, time_limit=60)
        quick = upload_document(data=files.html_bytes(), filename="expenses.html", owner=alice, access=Access())
        wait_until(lambda: job_of(slow.version.document_id).status == "failed", timeout=120, what="the slow job")
        assert "took too long" in job_of(slow.version.document_id).error
        assert not Chunk.objects.filter(document_id=slow.version.document_id).exists()
        # The small file queued behind it (or batched with it, then put back) still goes through.
        wait_until(lambda: job_of(quick.version.document_id).status == "ready", timeout=120, what="the quick job")
        assert worker.poll() is None, "the worker must still be running"
