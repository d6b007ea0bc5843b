"""Reads of eval runs: the latest run per prompt version, and the score history the dashboard charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from assistant.evals.models import EvalRun
from assistant.models import PromptVersion


def with_last_eval_score(versions: QuerySet[PromptVersion]) -> QuerySet[PromptVersion]:
    """Prompt versions annotated with ``last_eval_score``: the score of their latest finished run (one query)."""
    latest = EvalRun.objects.filter(
        prompt_version=OuterRef("pk"), status=EvalRun.Status.FINISHED, score__isnull=False
    ).order_by("-finished_at", "-pk")
    return versions.annotate(last_eval_score=Subquery(latest.values("score")[:1]))


def latest_finished_run(*, version: PromptVersion, suite: str | None = None) -> EvalRun | None:
    runs = EvalRun.objects.filter(prompt_version=version, status=EvalRun.Status.FINISHED, score__isnull=False)
    if suite is not None:
        runs = runs.filter(suite=suite)
    return runs.order_by("-finished_at", "-pk").first()


@dataclass(frozen=True)
class ScorePoint:
    finished_at: datetime
    prompt_version: str
    suite: str
    score: float


def score_history(*, since: datetime) -> list[ScorePoint]:
    """Finished runs since ``since``, oldest first, labelled by prompt version (one series per version)."""
    rows = (
        EvalRun.objects.filter(status=EvalRun.Status.FINISHED, score__isnull=False, finished_at__gte=since)
        .select_related("prompt_version")
        .order_by("finished_at", "pk")
    )
    return [
        ScorePoint(
            finished_at=run.finished_at,
            prompt_version=str(run.prompt_version),
            suite=run.suite,
            score=float(run.score),
        )
        for run in rows
        if run.finished_at is not None and run.score is not None
    ]
