"""Celery tasks of the ingestion queue. They take IDs, and leave all state to the job row."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from ingestion import pipeline, services
from ingestion.models import IngestionJob
from ingestion.parsers import ParseError
from retrieval.embeddings import get_embedder

logger = logging.getLogger(__name__)

# Worth another try: the store or the database was briefly unreachable. A bad file never is.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    OperationalError,
    InterfaceError,
    BotoCoreError,
    ClientError,
)


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
    """Run one ingestion job. Safe to deliver twice: the claim lets one run through, chunks are replaced."""
    try:
        job = pipeline.claim_job(job_id=job_id)
    except IngestionJob.DoesNotExist:
        return "gone"  # the document was deleted while queued
    except pipeline.JobNotClaimable as exc:
        if not exc.retry_later:
            return str(exc)
        # Alive elsewhere or at the cap: look again once a dead run's heartbeat would have gone stale.
        raise self.retry(countdown=settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS // 2 + 1) from None
    try:
        count = pipeline.run_claimed_job(job=job, embedder=get_embedder())
    except ParseError:
        return "failed"  # permanent: the job row says why; no retry
    except SoftTimeLimitExceeded:
        pipeline.fail_job(job_id=job_id, error="Processing took too long and was stopped; try a smaller file.")
        return "failed"
    except TRANSIENT_ERRORS as exc:
        if job.attempts >= settings.INGESTION_MAX_ATTEMPTS:
            pipeline.fail_job(job_id=job_id, error=f"Gave up after {job.attempts} attempts: {type(exc).__name__}.")
            return "failed"
        pipeline.requeue_job(job_id=job_id, error=f"Temporary problem ({type(exc).__name__}); retrying.")
        logger.warning("ingestion job %s hit a transient error, retrying: %r", job_id, exc)
        raise self.retry(exc=exc, countdown=min(600, 5 * 4 ** (job.attempts - 1))) from exc
    except DatabaseError:
        pipeline.fail_job(job_id=job_id, error="The document could not be saved (database error).")
        raise
    return f"ready: {count} chunks"


@shared_task(ignore_result=True)
def requeue_stuck_jobs_task() -> dict[str, list[int]]:
    requeued, failed = services.requeue_stuck_jobs()
    return {"requeued": requeued, "failed": failed}


@shared_task(ignore_result=True)
def purge_expired_documents_task() -> int:
    return services.purge_expired_documents()
