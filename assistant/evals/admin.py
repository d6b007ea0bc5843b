"""Admin for the answer-quality loop: cases are editable; runs and results are read-only records, listed per
prompt version."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from assistant.evals.models import EvalCase, EvalResult, EvalRun


@admin.register(EvalCase)
class EvalCaseAdmin(admin.ModelAdmin):
    list_display = ["key", "suite", "kind", "question", "run_as", "active", "updated_at"]
    list_filter = ["suite", "kind", "active"]
    search_fields = ["key", "question", "notes"]
    raw_id_fields = ["run_as", "source_message"]


class EvalResultInline(admin.TabularInline):
    model = EvalResult
    fields = ["case_key", "kind", "passed", "answer_status", "scores", "failures", "latency_ms"]
    readonly_fields = ["case_key", "kind", "passed", "answer_status", "scores", "failures", "latency_ms"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@admin.register(EvalRun)
class EvalRunAdmin(_ReadOnly):
    """Runs per prompt version (filter or sort by it): the scores the release gate compares."""

    list_display = [
        "started_at",
        "prompt_version",
        "prompt_label",
        "route",
        "suite",
        "status",
        "passed",
        "overall",
        "hit_rate",
        "precision",
        "recall",
        "refusal",
        "permission",
    ]
    list_filter = ["prompt_version", "suite", "status"]
    readonly_fields = [f.name for f in EvalRun._meta.fields]
    inlines = [EvalResultInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EvalRun]:
        return super().get_queryset(request).select_related("prompt_version")

    @admin.display(description="passed")
    def passed(self, run: EvalRun) -> str:
        return f"{run.passed_count}/{run.case_count}"

    @admin.display(description="score", ordering="score")
    def overall(self, run: EvalRun) -> str:
        return _fmt(run.score)

    @admin.display(description="retrieval hit")
    def hit_rate(self, run: EvalRun) -> str:
        return _fmt(run.retrieval_hit_rate)

    @admin.display(description="citation precision")
    def precision(self, run: EvalRun) -> str:
        return _fmt(run.citation_precision)

    @admin.display(description="fact recall")
    def recall(self, run: EvalRun) -> str:
        return _fmt(run.fact_recall)

    @admin.display(description="refusal")
    def refusal(self, run: EvalRun) -> str:
        return _fmt(run.refusal_correctness)

    @admin.display(description="permission")
    def permission(self, run: EvalRun) -> str:
        return _fmt(run.permission_correctness)


@admin.register(EvalResult)
class EvalResultAdmin(_ReadOnly):
    list_display = ["run", "case_key", "kind", "passed", "answer_status", "latency_ms"]
    list_filter = ["passed", "kind"]
    readonly_fields = [f.name for f in EvalResult._meta.fields]
