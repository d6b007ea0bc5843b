"""Writes: usage rows and budget alerts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.utils import timezone

from assistant.llm.metrics import observe_call
from assistant.llm.models import Budget, BudgetAlert, Deployment, KillSwitch, LLMCall, Price, Route
from assistant.llm.selectors import is_pinned_model_id

logger = logging.getLogger("assistant.llm")


@dataclass(frozen=True)
class CallRecord:
    """Everything one attempt reports; mirrors ``LLMCall``."""

    request_id: str
    user_id: int | None
    route: str
    deployment: str
    provider: str
    model_id: str
    prompt_version_id: int | None
    attempt: int
    outcome: str
    error_class: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int | None = None
    ttft_ms: int | None = None
    fallback_used: bool = False


def record_llm_call(*, record: CallRecord) -> LLMCall:
    """Store one usage row. Failures are logged under their own class name here as well."""
    if record.error_class:
        logger.warning(
            "llm.call_failed error_class=%s route=%s deployment=%s attempt=%s request_id=%s",
            record.error_class,
            record.route,
            record.deployment,
            record.attempt,
            record.request_id,
        )
    observe_call(
        route=record.route,
        deployment=record.deployment,
        provider=record.provider,
        outcome=record.outcome,
        error_class=record.error_class,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cost_usd=float(record.cost_usd),
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
    )
    return LLMCall.objects.create(
        request_id=record.request_id,
        user_id=record.user_id,
        route=record.route,
        deployment=record.deployment,
        provider=record.provider,
        model_id=record.model_id,
        prompt_version_id=record.prompt_version_id,
        attempt=record.attempt,
        outcome=record.outcome,
        error_class=record.error_class,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cost_usd=record.cost_usd,
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
        fallback_used=record.fallback_used,
    )


def record_budget_alert(*, budget_id: int, period_key: str, threshold_percent: int, used: Decimal) -> bool:
    """Record that a budget reached a threshold in a period, log it and email the admins, at most once per
    budget, period and threshold (the unique constraint decides between concurrent callers)."""
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                budget_id=budget_id, period_key=period_key, threshold_percent=threshold_percent, used=used
            )
    except IntegrityError:
        return False
    logger.warning(
        "llm.budget_alert budget=%s period=%s threshold=%s%% used=%s", budget_id, period_key, threshold_percent, used
    )
    budget = alert.budget
    transaction.on_commit(
        lambda: mail_admins(
            subject=f"Docent budget at {threshold_percent}%",
            message=f"The budget '{budget}' has reached {threshold_percent}% ({used} used) in {period_key}.",
            fail_silently=True,
        )
    )
    return True


@dataclass(frozen=True)
class DeploymentSpec:
    """A deployment to put in a route's chain (``configure_route``)."""

    name: str
    provider: str
    model_id: str
    base_url: str = ""
    api_key_env: str = ""
    timeout_seconds: float = 60.0
    max_output_tokens: int = 1024
    context_window_tokens: int = 128000
    temperature: float = 0.2
    input_per_million_usd: Decimal = Decimal(0)
    output_per_million_usd: Decimal = Decimal(0)
    allow_floating_alias: bool = False


def configure_route(*, name: str, chain: Sequence[DeploymentSpec], on_budget_exhausted: str = "block") -> Route:
    """Create or replace a route and its whole fallback chain (in order) with prices effective today, in
    one transaction. Refuses floating model aliases unless a spec allows them."""
    for spec in chain:
        if not spec.allow_floating_alias and not is_pinned_model_id(spec.provider, spec.model_id):
            raise ValueError(f"{spec.model_id!r} is a floating alias; pin a dated model id")
    with transaction.atomic():
        route, _ = Route.objects.update_or_create(
            name=name, defaults={"on_budget_exhausted": on_budget_exhausted, "enabled": True}
        )
        route.deployments.all().delete()
        for position, spec in enumerate(chain):
            deployment = Deployment.objects.create(
                route=route,
                position=position,
                name=spec.name,
                provider=spec.provider,
                model_id=spec.model_id,
                allow_floating_alias=spec.allow_floating_alias,
                base_url=spec.base_url,
                api_key_env=spec.api_key_env,
                timeout_seconds=spec.timeout_seconds,
                max_output_tokens=spec.max_output_tokens,
                context_window_tokens=spec.context_window_tokens,
                temperature=spec.temperature,
            )
            Price.objects.create(
                deployment=deployment,
                effective_from=timezone.localdate(),
                input_per_million_usd=spec.input_per_million_usd,
                output_per_million_usd=spec.output_per_million_usd,
            )
    return route


def set_kill_switch(*, scope: str, target: str = "", active: bool, reason: str = "") -> KillSwitch:
    """Turn a kill switch on or off (the admin does the same); gateways notice within
    ``LLM_CONFIG_CACHE_SECONDS``."""
    switch, _ = KillSwitch.objects.update_or_create(
        scope=scope, target=target, defaults={"active": active, "reason": reason}
    )
    return switch


def set_budget(
    *,
    scope: str,
    period: str,
    limit: Decimal,
    metric: str = "usd",
    user_id: int | None = None,
    group_id: int | None = None,
) -> Budget:
    """Create an enabled budget (admins do the same in the admin)."""
    return Budget.objects.create(
        scope=scope, period=period, limit=limit, metric=metric, user_id=user_id, group_id=group_id, enabled=True
    )
