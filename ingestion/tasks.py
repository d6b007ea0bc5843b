"""Celery tasks of the ingestion queue. They take IDs, and leave all state to the job row."""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from ingestion import pipeline, services
from ingestion.models import IngestionJob
from retrieval.embeddings import get_embedder


# ignore_result: state lives in the job row. It also keeps the web process from subscribing to the result
# backend when it sends a task, which after a Redis outage fails for good ("must be restarted").
@shared_task(
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.INGESTION_SOFT_TIME_LIMIT,
    time_limit=settings.INGESTION_HARD_TIME_LIMIT,
    max_retries=None,
)
def ingest_version_task(self: Task, job_id: int) -> str:
    """Run one ingestion job, with other small queued jobs batched in (see ``pipeline.claim_batch``), then
    further batches of queued small jobs for up to INGESTION_DRAIN_SECONDS (``pipeline.run_and_drain``).

    Safe to deliver twice: the claim lets one run through, and chunks are replaced, never appended.
    """
    try:
        jobs = pipeline.claim_batch(job_id=job_id)
    except IngestionJob.DoesNotExist:
        return "gone"  # the document was deleted while queued
    except pipeline.JobNotClaimable as exc:
        if not exc.retry_later:
            return str(exc)
        # Alive elsewhere or at the cap: look again once a dead run's heartbeat would have gone stale.
        raise self.retry(countdown=settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS // 2 + 1) from None
    try:
        results = pipeline.run_and_drain(
            jobs=jobs, embedder=get_embedder(), drain_seconds=settings.INGESTION_DRAIN_SECONDS
        )
    except SoftTimeLimitExceeded:
        # The job asked for fails, unless it was written before the limit struck; the other jobs still
        # running in this worker go back to the queue to run on their own.
        pipeline.fail_job(job_id=job_id, error="Processing took too long and was stopped; try a smaller file.")
        if jobs[0].run_id is not None:
            pipeline.requeue_run(run_id=jobs[0].run_id)
        return "failed"
    own = results[job_id]
    if own.outcome is pipeline.Outcome.RETRY:
        # Backoff for the job asked for; batched jobs that must retry still have their own task message.
        raise self.retry(exc=own.error, countdown=min(600, 5 * 4 ** (jobs[0].attempts - 1)))
    return f"{own.outcome}: {own.chunks} chunks, {len(jobs)} job(s) in the run"


@shared_task(ignore_result=True)
def requeue_stuck_jobs_task() -> dict[str, list[int]]:
    requeued, failed = services.requeue_stuck_jobs()
    return {"requeued": requeued, "failed": failed}


@shared_task(ignore_result=True)
def purge_expired_documents_task() -> int:
    return services.purge_expired_documents()
