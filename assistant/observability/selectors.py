"""Reads behind the dashboard and the scrape-time gauges: everything from the database rows Docent already
keeps (messages, feedback, LLM calls, budgets, ingestion jobs, eval runs), so the charts show real data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from assistant.evals.selectors import score_history
from assistant.llm.models import Budget, LLMCall
from assistant.models import Feedback, Message
from ingestion.models import IngestionJob


class Percentile(Aggregate):
    """PostgreSQL ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


@dataclass
class DailySeries:
    """Values per day (missing days are zero) for several named series."""

    days: list[date]
    series: dict[str, list[float | None]] = field(default_factory=dict)

    def put(self, name: str, day: date, value: float) -> None:
        values = self.series.setdefault(name, [0.0] * len(self.days))
        if day in self._index:
            values[self._index[day]] = (values[self._index[day]] or 0.0) + value

    @property
    def _index(self) -> dict[date, int]:
        return {day: i for i, day in enumerate(self.days)}


def _window(days_back: int) -> tuple[datetime, list[date]]:
    today = timezone.localdate()
    first = today - timedelta(days=days_back - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    return start, days(first, today)


def answers_per_day(*, days_back: int = 14) -> DailySeries:
    """Answers by status per day (complete, nothing found, error, stopped)."""
    start, window = _window(days_back)
    result = DailySeries(window)
    rows = (
        Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(n=Count("pk"))
    )
    for status in Message.Status.values:
        result.series.setdefault(status, [0.0] * len(window))
    for row in rows:
        result.put(row["status"], row["day"], row["n"])
    return result


def _rate_per_day(
    numerator: dict[date, int], denominator: dict[date, int], window: Sequence[date]
) -> list[float | None]:
    return [(numerator.get(day, 0) / denominator[day]) if denominator.get(day) else None for day in window]


def empty_retrieval_rate(*, days_back: int = 14) -> tuple[list[date], list[float | None]]:
    """Share of answers per day where nothing passed the relevance gate."""
    start, window = _window(days_back)
    rows = (
        Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("pk"), empty=Count("pk", filter=Q(status=Message.Status.NOTHING_FOUND)))
    )
    totals = {row["day"]: row["total"] for row in rows}
    empty = {row["day"]: row["empty"] for row in rows}
    return window, _rate_per_day(empty, totals, window)


def feedback_ratio(*, days_back: int = 14) -> tuple[list[date], list[float | None], int, int]:
    """Share of thumbs-up among thumbs given per day, and the window's totals (up, down)."""
    start, window = _window(days_back)
    rows = (
        Feedback.objects.filter(updated_at__gte=start)
        .annotate(day=TruncDate("updated_at"))
        .values("day")
        .annotate(total=Count("pk"), up=Count("pk", filter=Q(rating=Feedback.Rating.UP)))
    )
    totals = {row["day"]: row["total"] for row in rows}
    ups = {row["day"]: row["up"] for row in rows}
    up, total = sum(ups.values()), sum(totals.values())
    return window, _rate_per_day(ups, totals, window), up, total - up


def _calls(start: datetime) -> QuerySet[LLMCall]:
    return LLMCall.objects.filter(created_at__gte=start)


def latency_percentiles(*, days_back: int = 14, route: str = "chat") -> tuple[DailySeries, DailySeries]:
    """p50/p95/p99 per day of LLM call latency and time to first token (successful calls of ``route``)."""
    start, window = _window(days_back)
    latency, ttft = DailySeries(window), DailySeries(window)
    rows = (
        _calls(start)
        .filter(route=route, outcome__in=[LLMCall.Outcome.OK, LLMCall.Outcome.PARTIAL])
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            l50=Percentile("latency_ms", 0.5),
            l95=Percentile("latency_ms", 0.95),
            l99=Percentile("latency_ms", 0.99),
            t50=Percentile("ttft_ms", 0.5),
            t95=Percentile("ttft_ms", 0.95),
            t99=Percentile("ttft_ms", 0.99),
        )
    )
    index = {day: i for i, day in enumerate(window)}
    for name, key in (("p50", "50"), ("p95", "95"), ("p99", "99")):
        # Days without calls are gaps (None), not zero latency.
        latency.series[name] = [None] * len(window)
        ttft.series[name] = [None] * len(window)
        for row in rows:
            if row["day"] in index:
                latency.series[name][index[row["day"]]] = row[f"l{key}"]
                ttft.series[name][index[row["day"]]] = row[f"t{key}"]
    return latency, ttft


def error_rate_by_class(*, days_back: int = 14) -> DailySeries:
    """Failed LLM call attempts per day as a share of all attempts, split by error class."""
    start, window = _window(days_back)
    result = DailySeries(window)
    totals = dict(
        _calls(start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    rows = (
        _calls(start)
        .exclude(error_class="")
        .annotate(day=TruncDate("created_at"))
        .values("day", "error_class")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        result.put(row["error_class"], row["day"], row["n"] / totals[row["day"]] if totals.get(row["day"]) else 0.0)
    return result


def spend_per_day(*, days_back: int = 14, by: str = "model_id") -> tuple[DailySeries, DailySeries]:
    """USD and tokens per day, split by ``model_id``, ``route`` or ``group`` (a call counts for each group of
    its user; calls without a user count as "(none)")."""
    start, window = _window(days_back)
    cost, tokens = DailySeries(window), DailySeries(window)
    key = {"model_id": F("model_id"), "route": F("route"), "group": F("user__groups__name")}[by]
    rows = (
        _calls(start)
        .annotate(day=TruncDate("created_at"), key=key)
        .values("day", "key")
        .annotate(usd=Sum("cost_usd"), tok=Sum(F("input_tokens") + F("output_tokens")))
    )
    for row in rows:
        name = row["key"] or "(none)"
        cost.put(name, row["day"], float(row["usd"] or 0))
        tokens.put(name, row["day"], float(row["tok"] or 0))
    return cost, tokens


@dataclass(frozen=True)
class BudgetUsage:
    budget_id: int
    scope: str
    subject: str
    period: str
    metric: str
    limit: float
    used: float

    @property
    def ratio(self) -> float:
        return self.used / self.limit if self.limit > 0 else 0.0


def budget_usage(*, now: datetime | None = None) -> list[BudgetUsage]:
    """Each enabled budget's use in its current period, from the usage rows (settled calls)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = []
    for budget in Budget.objects.filter(enabled=True).select_related("user", "group"):
        first = today if budget.period == Budget.Period.DAY else today.replace(day=1)
        start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
        calls = LLMCall.objects.filter(created_at__gte=start)
        subject = "everyone"
        if budget.scope == Budget.Scope.USER and budget.user is not None:
            calls, subject = calls.filter(user=budget.user), budget.user.username
        elif budget.scope == Budget.Scope.GROUP and budget.group is not None:
            calls, subject = calls.filter(user__groups=budget.group), budget.group.name
        totals = calls.aggregate(usd=Sum("cost_usd"), tok=Sum(F("input_tokens") + F("output_tokens")))
        used = totals["usd"] if budget.metric == Budget.Metric.USD else totals["tok"]
        result.append(
            BudgetUsage(
                budget_id=budget.pk,
                scope=budget.scope,
                subject=subject,
                period=budget.period,
                metric=budget.metric,
                limit=float(budget.limit),
                used=float(used or Decimal(0)),
            )
        )
    return result


def ingestion_backlog() -> dict[str, int]:
    counts = dict(IngestionJob.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in IngestionJob.Status.values}


def ingestion_per_day(*, days_back: int = 14) -> DailySeries:
    """Jobs created per day by their current status."""
    start, window = _window(days_back)
    result = DailySeries(window)
    rows = (
        IngestionJob.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        result.put(row["status"], row["day"], row["n"])
    return result


def eval_scores(*, days_back: int = 90) -> dict[str, list[tuple[datetime, float]]]:
    """Eval run scores over time, one series per prompt version (and suite)."""
    since = timezone.now() - timedelta(days=days_back)
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for point in score_history(since=since):
        series[f"{point.prompt_version} ({point.suite})"].append((point.finished_at, point.score))
    return dict(series)
