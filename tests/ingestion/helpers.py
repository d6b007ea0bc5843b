"""Shared steps of ingestion tests: run a queued job in this process through the real Celery task."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from ingestion.models import Document, IngestionJob
from ingestion.tasks import ingest_version_task


def run_job(document_id: int) -> IngestionJob:
    """Run the newest job of a document with the real task body (``apply`` executes it here, synchronously)."""
    job = IngestionJob.objects.filter(version__document_id=document_id).latest("pk")
    ingest_version_task.apply(args=(job.pk,))
    job.refresh_from_db()
    return job


def make_curator(user) -> None:
    group, _ = Group.objects.get_or_create(name="curator")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="ingestion"))
    user.groups.add(group)


def chunk_total(document: Document) -> int:
    return document.chunks.count()
