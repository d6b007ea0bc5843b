"""Writes: usage rows and budget alerts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.mail import mail_admins
from django.db import IntegrityError, transaction

from assistant.llm.models import BudgetAlert, LLMCall

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
