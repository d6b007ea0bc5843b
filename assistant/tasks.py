"""Tasks of the project package."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="assistant.tasks.ping_task")
def ping_task(payload: str) -> str:
    """Echo ``payload`` back; proves a worker consumes from the broker (used by readiness and tests)."""
    return f"pong:{payload}"
