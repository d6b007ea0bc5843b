"""The request id crosses into Celery: the publishing side puts it in a message header, the worker binds it
to the task's log lines (and a task without one gets a fresh id, so its lines still group together)."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun

from assistant.observability.request_id import CELERY_HEADER, bind_request, clean_request_id, current_request_id


def _add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        request_id = current_request_id()
        if request_id:
            headers.setdefault(CELERY_HEADER, request_id)


def _bind_task(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    if task is None:
        return
    if task.request.is_eager:
        # Run in the caller's thread (``apply``, eager mode): keep the caller's request id.
        structlog.contextvars.bind_contextvars(task_id=task_id, task=task.name)
        return
    given = getattr(task.request, CELERY_HEADER, None)
    bind_request(clean_request_id(given), task_id=task_id, task=task.name)


def _unbind(task: Task | None = None, **_: Any) -> None:
    if task is not None and task.request.is_eager:
        structlog.contextvars.unbind_contextvars("task_id", "task")
    else:
        structlog.contextvars.clear_contextvars()


def connect_celery_signals() -> None:
    """Called once from the Celery app module (wiring). ``weak=False``: these are module functions anyway."""
    before_task_publish.connect(_add_request_id_header, weak=False, dispatch_uid="docent_request_id_publish")
    task_prerun.connect(_bind_task, weak=False, dispatch_uid="docent_request_id_prerun")
    task_postrun.connect(_unbind, weak=False, dispatch_uid="docent_request_id_postrun")
