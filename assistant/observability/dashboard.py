"""The dashboard's charts: selectors' data turned into SVG, one function per chart group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.safestring import SafeString

from assistant.llm.models import Budget
from assistant.observability import selectors, svg


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: SafeString
    note: str = ""


def _labels(days: list[date]) -> list[str]:
    return [day.strftime("%b %d") for day in days]


def _series(data: selectors.DailySeries, *, only: tuple[str, ...] = ()) -> list[svg.Series]:
    names = only or tuple(sorted(data.series))
    return [svg.Series(name, data.series.get(name, [0.0] * len(data.days))) for name in names]


def _daily_budget_lines(usage: list[selectors.BudgetUsage], metric: str) -> list[svg.RefLine]:
    lines = []
    for one in usage:
        if one.metric != metric:
            continue
        per_day = one.limit if one.period == Budget.Period.DAY else one.limit / 30
        suffix = "/day" if one.period == Budget.Period.DAY else "/month ÷ 30"
        lines.append(
            svg.RefLine(
                f"budget {one.subject} {svg.usd(one.limit) if metric == 'usd' else svg.number(one.limit)}{suffix}",
                per_day,
            )
        )
    return lines


def build_charts(*, days_back: int = 14) -> list[Chart]:
    charts: list[Chart] = []
    answers = selectors.answers_per_day(days_back=days_back)
    labels = _labels(answers.days)
    charts.append(
        Chart(
            "answers",
            "Answers per day",
            svg.bar_chart(title="Answers per day", x_labels=labels, series=_series(answers)),
        )
    )
    latency, ttft = selectors.latency_percentiles(days_back=days_back)
    charts.append(
        Chart(
            "latency",
            "Model latency per day (chat route, p50/p95/p99)",
            svg.line_chart(
                title="Latency", x_labels=labels, series=_series(latency, only=("p50", "p95", "p99")), y_format=svg.ms
            ),
        )
    )
    charts.append(
        Chart(
            "ttft",
            "Time to first token per day (p50/p95/p99)",
            svg.line_chart(
                title="Time to first token",
                x_labels=labels,
                series=_series(ttft, only=("p50", "p95", "p99")),
                y_format=svg.ms,
            ),
        )
    )
    errors = selectors.error_rate_by_class(days_back=days_back)
    charts.append(
        Chart(
            "errors",
            "Error rate by class (share of LLM call attempts)",
            svg.bar_chart(title="Error rate by class", x_labels=labels, series=_series(errors), y_format=svg.percent),
        )
    )
    usage = selectors.budget_usage()
    for by, title in (("model_id", "model"), ("route", "route"), ("group", "group")):
        cost, tokens = selectors.spend_per_day(days_back=days_back, by=by)
        refs = _daily_budget_lines([u for u in usage if by == "group" or u.scope == Budget.Scope.GLOBAL], "usd")
        charts.append(
            Chart(
                f"spend-{by}",
                f"Spend per day by {title} (USD) against budgets",
                svg.bar_chart(
                    title=f"Spend by {title}", x_labels=labels, series=_series(cost), y_format=svg.usd, ref_lines=refs
                ),
            )
        )
        if by == "model_id":
            token_refs = _daily_budget_lines([u for u in usage if u.scope == Budget.Scope.GLOBAL], "tokens")
            charts.append(
                Chart(
                    "tokens-model_id",
                    "Tokens per day by model",
                    svg.bar_chart(
                        title="Tokens by model", x_labels=labels, series=_series(tokens), ref_lines=token_refs
                    ),
                )
            )
    days, ratio, up, down = selectors.feedback_ratio(days_back=days_back)
    charts.append(
        Chart(
            "feedback",
            "Feedback: share of thumbs up",
            svg.line_chart(
                title="Feedback ratio",
                x_labels=_labels(days),
                series=[svg.Series("thumbs up", ratio)],
                y_format=svg.percent,
                y_max=1.0,
            ),
            note=f"{up} up, {down} down in {days_back} days",
        )
    )
    days, empty = selectors.empty_retrieval_rate(days_back=days_back)
    charts.append(
        Chart(
            "empty-retrieval",
            "Empty-retrieval rate (answers where nothing relevant was found)",
            svg.line_chart(
                title="Empty retrieval rate",
                x_labels=_labels(days),
                series=[svg.Series("nothing found", empty)],
                y_format=svg.percent,
                y_max=1.0,
            ),
        )
    )
    backlog = selectors.ingestion_backlog()
    waiting = {k: v for k, v in backlog.items()}
    charts.append(
        Chart(
            "ingestion",
            "Ingestion jobs per day by status",
            svg.bar_chart(
                title="Ingestion jobs",
                x_labels=labels,
                series=_series(selectors.ingestion_per_day(days_back=days_back)),
            ),
            note="Now: " + ", ".join(f"{status} {count}" for status, count in waiting.items()),
        )
    )
    scores = selectors.eval_scores()
    runs = sorted({when for points in scores.values() for when, _ in points})
    position = {when: i for i, when in enumerate(runs)}
    eval_series = []
    for name, points in sorted(scores.items()):
        values: list[float | None] = [None] * len(runs)
        for when, score in points:
            values[position[when]] = score
        eval_series.append(svg.Series(name, values))
    charts.append(
        Chart(
            "evals",
            "Eval score per prompt version over time (each point a run)",
            svg.line_chart(
                title="Eval scores",
                x_labels=[when.strftime("%b %d %H:%M") for when in runs],
                series=eval_series,
                y_format=svg.percent,
                y_max=1.0,
            ),
        )
    )
    return charts
