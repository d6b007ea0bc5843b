"""Docent's own Prometheus metrics for the chat turn, scrape-time gauges read from the database and Redis,
and the registry ``/metrics`` serves.

Counters and histograms are updated where things happen (chat turn here, gateway in ``assistant.llm.metrics``,
ingestion in ``ingestion.metrics``). Gauges that describe shared state (queue depth, breaker state, budget use,
eval scores) are read when Prometheus scrapes, so every process reports the same truth and nothing has to be
kept in step. With several web workers set ``PROMETHEUS_MULTIPROC_DIR`` (docs/observability.md)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

STAGES = ("auth", "guard", "retrieval", "prompt", "ttft", "generation", "checks", "persistence")

STAGE_SECONDS = Histogram(
    "docent_chat_stage_seconds",
    "Duration of each stage of a chat turn.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
TURN_SECONDS = Histogram(
    "docent_chat_turn_seconds",
    "Duration of a whole chat turn, from the request to the stored answer.",
    ["route"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
TTFT_SECONDS = Histogram(
    "docent_chat_ttft_seconds",
    "Time from the request to the first answer token.",
    ["route"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
TURNS = Counter("docent_chat_turns_total", "Chat turns by outcome.", ["route", "status", "error_class"])
EMPTY_RETRIEVALS = Counter(
    "docent_chat_empty_retrievals_total", "Chat turns where no passage passed the relevance gate."
)
CONTEXT_TRUNCATIONS = Counter(
    "docent_chat_context_truncations_total", "Chat turns whose passages or history were cut to fit the context."
)
FEEDBACK = Counter("docent_feedback_total", "Thumbs given on answers.", ["rating"])

BREAKER_CODES = {"closed": 0, "half_open": 1, "open": 2}


class StateCollector(Collector):
    """Gauges read at scrape time: ingestion backlog, breaker states, budget use, last eval scores."""

    def collect(self) -> Iterator[Metric]:
        try:
            yield from _ingestion_gauges()
            yield from _budget_gauges()
            yield from _eval_gauges()
        except DatabaseError:
            logger.warning("metrics.database_unavailable")
        try:
            yield from _breaker_gauges()
        except (DatabaseError, RedisError):
            logger.warning("metrics.breaker_state_unavailable")


def _ingestion_gauges() -> Iterator[Metric]:
    from ingestion.models import IngestionJob

    jobs = GaugeMetricFamily("docent_ingestion_jobs", "Ingestion jobs by status.", labels=["status"])
    counts = dict(IngestionJob.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    for status in IngestionJob.Status.values:
        jobs.add_metric([status], counts.get(status, 0))
    yield jobs
    oldest = IngestionJob.objects.filter(status=IngestionJob.Status.QUEUED).aggregate(t=Min("created_at"))["t"]
    age = GaugeMetricFamily("docent_ingestion_oldest_queued_seconds", "Age of the oldest queued ingestion job.")
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    yield age


def _breaker_gauges() -> Iterator[Metric]:
    from assistant.llm.breaker import current_state
    from assistant.llm.models import Deployment, Provider

    gauge = GaugeMetricFamily(
        "docent_llm_breaker_state",
        "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
        labels=["deployment"],
    )
    names = Deployment.objects.exclude(provider=Provider.EXTRACTIVE).values_list("name", flat=True)
    for name in names:
        gauge.add_metric([name], BREAKER_CODES.get(current_state(name).state, 0))
    yield gauge


def _budget_gauges() -> Iterator[Metric]:
    from assistant.observability.selectors import budget_usage

    gauge = GaugeMetricFamily(
        "docent_budget_used_ratio",
        "Share of each enabled budget used in its current period (1 = exhausted).",
        labels=["budget", "scope", "period", "metric"],
    )
    for usage in budget_usage():
        gauge.add_metric([str(usage.budget_id), usage.scope, usage.period, usage.metric], usage.ratio)
    yield gauge


def _eval_gauges() -> Iterator[Metric]:
    from assistant.evals.models import EvalRun
    from assistant.models import PromptLabel

    gauge = GaugeMetricFamily(
        "docent_eval_score",
        "Score (0..1) of the last finished eval run of the prompt version each label points at.",
        labels=["prompt", "label", "suite"],
    )
    since = timezone.now() - timedelta(days=365)
    for label in PromptLabel.objects.select_related("version"):
        run = (
            EvalRun.objects.filter(
                prompt_version=label.version_id,
                status=EvalRun.Status.FINISHED,
                score__isnull=False,
                finished_at__gte=since,
            )
            .order_by("-finished_at")
            .first()
        )
        if run is not None and run.score is not None:
            gauge.add_metric([label.name, label.label, run.suite], run.score)
    yield gauge


_registry: CollectorRegistry | None = None


def registry() -> CollectorRegistry:
    """The registry ``/metrics`` serves: the process's default one, or, with ``PROMETHEUS_MULTIPROC_DIR``, a
    fresh one aggregating every worker's files (the documented prometheus_client multiprocess mode)."""
    global _registry
    if _registry is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(_registry)
        else:
            _registry = REGISTRY
        _registry.register(StateCollector())
    return _registry
