"""Ingestion's Prometheus metrics (defined here so ingestion needs nothing from the layers above it).

Queue depth is read from the job table at scrape time by ``assistant.observability.metrics``; durations are
observed here, when a job ends."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from prometheus_client import Histogram

JOB_SECONDS = Histogram(
    "docent_ingestion_job_seconds",
    "Ingestion job duration, from claim to ready or failed.",
    ["outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)


def observe_job_end(*, started_at: datetime | None, outcome: str) -> None:
    if started_at is not None:
        JOB_SECONDS.labels(outcome=outcome).observe(max(0.0, (timezone.now() - started_at).total_seconds()))
