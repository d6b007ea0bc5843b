"""The Celery app. Tasks live in ``<app>/tasks.py``; queues are ``ingestion`` (heavy) and ``default``."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistant.settings")

app = Celery("docent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default", routing_key="default"), Queue("ingestion", routing_key="ingestion"))
app.autodiscover_tasks()
