"""The demo corpus, ingested for real (parsers, chunker, embedder) through the ingestion task, with the demo
users and their access rules: what ``manage.py eval_answers`` runs the demo eval set against."""

from __future__ import annotations

import pytest
from django.test import override_settings

from assistant.demo import load_demo_documents, load_demo_users
from ingestion.models import IngestionJob
from ingestion.tasks import ingest_version_task
from tests.chat.conftest import restore_migration_seeds


@pytest.fixture
def demo_corpus(db: None) -> None:
    restore_migration_seeds()
    load_demo_users(password="docent-demo")
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        jobs = load_demo_documents()
    for job in jobs:
        ingest_version_task.apply(args=(job.pk,))
    statuses = set(IngestionJob.objects.values_list("status", flat=True))
    assert statuses == {IngestionJob.Status.READY}, statuses
