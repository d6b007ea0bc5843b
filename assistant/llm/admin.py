"""Admin for the gateway: routes with their deployment chains, prices, budgets, alerts, kill switches, usage."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from assistant.llm.models import Budget, BudgetAlert, Deployment, KillSwitch, LLMCall, Price, Route
from assistant.llm.selectors import is_pinned_model_id


class DeploymentForm(forms.ModelForm):
    base_url = forms.URLField(required=False, assume_scheme="https", max_length=300)

    class Meta:
        model = Deployment
        exclude: list[str] = []  # every field, with the model id checked in clean()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        provider, model_id = data.get("provider", ""), data.get("model_id", "")
        if model_id and not data.get("allow_floating_alias") and not is_pinned_model_id(provider, model_id):
            raise forms.ValidationError(
                f"'{model_id}' is a floating alias: pin a dated snapshot (e.g. gpt-4o-mini-2024-07-18) "
                "or tick 'allow floating alias'."
            )
        return data


class DeploymentInline(admin.StackedInline):
    model = Deployment
    form = DeploymentForm
    extra = 0


class PriceInline(admin.TabularInline):
    model = Price
    extra = 1


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "on_budget_exhausted", "updated_at"]
    list_editable = ["enabled"]
    inlines = [DeploymentInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    form = DeploymentForm
    list_display = ["name", "route", "position", "provider", "model_id", "enabled", "timeout_seconds"]
    list_editable = ["enabled"]
    list_filter = ["route", "provider", "enabled"]
    inlines = [PriceInline]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "scope", "period", "metric", "limit", "enabled"]
    list_filter = ["scope", "period", "metric", "enabled"]
    raw_id_fields = ["user"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["budget", "period_key", "threshold_percent", "used", "created_at", "acknowledged"]
    list_editable = ["acknowledged"]
    list_filter = ["threshold_percent", "acknowledged"]


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    list_display = ["scope", "target", "active", "reason", "updated_at"]
    list_editable = ["active"]


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "user", "route", "deployment", "model_id", "outcome", "error_class",
        "input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms", "fallback_used",
    ]  # fmt: skip
    list_filter = ["route", "deployment", "model_id", "outcome", "error_class", "fallback_used", "user__groups"]
    date_hierarchy = "created_at"
    search_fields = ["request_id", "user__username"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LLMCall | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The usual list, plus totals per day, route and model for the rows the filters select."""
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            rows: QuerySet[LLMCall] = response.context_data["cl"].queryset
            response.context_data["usage_totals"] = list(
                rows.values("created_at__date", "route", "model_id")
                .annotate(
                    calls=Count("id"), input=Sum("input_tokens"), output=Sum("output_tokens"), cost=Sum("cost_usd")
                )
                .order_by("-created_at__date", "route", "model_id")[:100]
            )
        return response
