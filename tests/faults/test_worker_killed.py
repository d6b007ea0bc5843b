"""The whole Celery worker dies (SIGKILL of its main process, as an OOM kill or a lost node does) while a job
is embedding: the job is delivered again, runs once more, and ends with exactly one set of chunks; a late
duplicate delivery changes nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from ingestion.models import IngestionJob
from ingestion.services import Access, requeue_stuck_jobs, upload_document
from ingestion.tasks import ingest_version_task
from retrieval.models import Chunk
from tests.ingestion.test_worker import job_of, long_text, pool_children, purge_ingestion_queue
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its dead parent's reaper) counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_sigkilled_worker_main_process_job_is_redelivered_and_finishes_once(
    tmp_path, settings, alice, engineering, media_root
):
    purge_ingestion_queue()
    settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS = 3  # the watchdog here and the workers agree
    env: dict[str, Any] = {
        "MEDIA_ROOT": str(media_root),
        "INGESTION_HEARTBEAT_TIMEOUT_SECONDS": "3",
        "EMBEDDING_BACKEND": "onnx-int8",  # quick to load, still slow enough to be caught mid-way
        "EMBEDDING_BATCH_SIZE": "8",
    }
    with celery_worker(queues="ingestion", log_path=tmp_path / "first.log", **env) as worker:
        job = upload_document(
            data=long_text(100), filename="ops.md", owner=alice, access=Access(group_ids=(engineering.pk,))
        )
        document_id = job.version.document_id
        wait_until(
            lambda: job_of(document_id).status == "embedding" and job_of(document_id).progress > 20,
            timeout=300,
            what="the job to be embedding",
        )
        children = pool_children(worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        # The pool children notice their parent is gone and stop; a lost container takes them anyway.
        for child in children:
            if alive(child):
                os.kill(child, signal.SIGKILL)
        wait_until(lambda: not any(alive(child) for child in children), timeout=20, what="the pool to be gone")
    assert job_of(document_id).status == "embedding"
    assert Chunk.objects.filter(document_id=document_id).count() == 0

    with celery_worker(queues="ingestion", log_path=tmp_path / "second.log", **env):
        # The watchdog (beat, every minute) finds the stale heartbeat and delivers the job again.
        wait_until(lambda: requeue_stuck_jobs()[0] == [job.pk], timeout=30, what="the watchdog to requeue the job")
        wait_until(lambda: job_of(document_id).status in ("ready", "failed"), timeout=300, what="the job to finish")
        finished = job_of(document_id)
        assert finished.status == "ready", finished.error
        assert finished.attempts == 2
        # The killed worker's own message is redelivered after the visibility timeout: the same no-op.
        ingest_version_task.delay(job.pk)
        wait_until(lambda: "already ready" in (tmp_path / "second.log").read_text(), timeout=60, what="the duplicate")

    finished = IngestionJob.objects.get(pk=job.pk)
    assert finished.attempts == 2 and finished.status == "ready"
    chunks = Chunk.objects.filter(document_id=document_id)
    assert sorted(chunks.values_list("ordinal", flat=True)) == list(range(finished.chunk_count))
    assert set(chunks.values_list("version_id", flat=True)) == {finished.version_id}
