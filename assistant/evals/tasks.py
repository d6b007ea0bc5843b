"""Eval runs off the request path: ``run_eval_suite_task`` (for beat schedules or an admin trigger)."""

from __future__ import annotations

from celery import shared_task

from assistant.evals.services import run_eval_suite


@shared_task(name="assistant.evals.tasks.run_eval_suite_task", time_limit=3600, soft_time_limit=3500)
def run_eval_suite_task(suite: str = "demo", prompt_label: str | None = None, route: str | None = None) -> int:
    """Run ``suite`` against the prompt ``prompt_label`` points at; returns the ``EvalRun`` id. Schedule it with
    django-celery-beat (admin → periodic tasks) to watch the production prompt's score over time."""
    run = run_eval_suite(suite=suite, prompt_label=prompt_label, route=route)
    return run.pk
