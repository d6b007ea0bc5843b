"""The Celery app. Tasks live in ``<app>/tasks.py``; queues are ``ingestion`` (heavy) and ``default``."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu import Queue

from assistant.backend_niceness import follow_niceness_in_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistant.settings")

app = Celery("docent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default", routing_key="default"), Queue("ingestion", routing_key="ingestion"))
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _database_work_follows_worker_niceness(**kwargs: object) -> None:
    # In the worker's main process (solo and thread pools) and in each pool process, however it was started.
    follow_niceness_in_database()
