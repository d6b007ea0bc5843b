"""The gateway's configuration (routes, deployments, prices, budgets, kill switches) and its usage rows."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Provider(models.TextChoices):
    EXTRACTIVE = "extractive", "Extractive (offline, no model)"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (OpenAI, Azure, vLLM, Ollama, ...)"
    ANTHROPIC = "anthropic", "Anthropic"


class Route(models.Model):
    """A logical model name that callers ask for (``chat``, ``summarize``, ``guard``)."""

    class OnBudgetExhausted(models.TextChoices):
        BLOCK = "block", "Refuse with a clear message"
        EXTRACTIVE = "extractive", "Answer with the extractive provider"

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True, help_text="Off: the route answers extractively (kill switch).")
    on_budget_exhausted = models.CharField(
        max_length=16, choices=OnBudgetExhausted.choices, default=OnBudgetExhausted.EXTRACTIVE
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One step of a route's fallback chain: a provider and a pinned, dated model."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="deployments")
    position = models.PositiveSmallIntegerField(default=0, help_text="Tried in increasing order.")
    name = models.SlugField(max_length=64, unique=True, help_text="Names the circuit breaker and usage rows.")
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model_id = models.CharField(max_length=128, help_text="A pinned, dated model id, e.g. gpt-4o-mini-2024-07-18.")
    allow_floating_alias = models.BooleanField(
        default=False, help_text="Allow a model id such as '-latest' whose behaviour can change under you."
    )
    base_url = models.URLField(max_length=300, blank=True)
    api_key_env = models.CharField(
        max_length=64, blank=True, help_text="Name of the environment variable holding the key (never the key)."
    )
    timeout_seconds = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    connect_timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1)])
    max_output_tokens = models.PositiveIntegerField(default=1024)
    context_window_tokens = models.PositiveIntegerField(default=128000)
    temperature = models.FloatField(default=0.2)
    enabled = models.BooleanField(default=True, help_text="Off: this deployment is skipped (kill switch).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["route", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}:{self.model_id})"


class Price(models.Model):
    """A dated price: the row with the latest ``effective_from`` on or before the call's date applies."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateField()
    input_per_million_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    output_per_million_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))

    class Meta:
        ordering = ["deployment", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "effective_from"], name="llm_price_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.name} from {self.effective_from}"


class Budget(models.Model):
    """A spending (USD) or token cap for a user, a group, or everyone, per day or per month."""

    class Scope(models.TextChoices):
        GLOBAL = "global", "Everyone"
        USER = "user", "One user"
        GROUP = "group", "One group"

    class Period(models.TextChoices):
        DAY = "day", "Per day"
        MONTH = "month", "Per month"

    class Metric(models.TextChoices):
        USD = "usd", "Spend (USD)"
        TOKENS = "tokens", "Tokens (in + out)"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE)
    period = models.CharField(max_length=8, choices=Period.choices)
    metric = models.CharField(max_length=8, choices=Metric.choices, default=Metric.USD)
    limit = models.DecimalField(max_digits=14, decimal_places=6, validators=[MinValueValidator(Decimal(0))])
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="global", user__isnull=True, group__isnull=True)
                    | models.Q(scope="user", user__isnull=False, group__isnull=True)
                    | models.Q(scope="group", user__isnull=True, group__isnull=False)
                ),
                name="llm_budget_scope_matches_subject",
            ),
        ]

    def __str__(self) -> str:
        subject = {"user": self.user, "group": self.group}.get(self.scope, "everyone")
        return f"{self.limit} {self.metric} per {self.period} for {subject}"


class BudgetAlert(models.Model):
    """A budget crossed a threshold in a period; recorded once (admin-visible, also logged and emailed)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_key = models.CharField(max_length=16, help_text="e.g. 2026-11 or 2026-11-23")
    threshold_percent = models.PositiveSmallIntegerField()
    used = models.DecimalField(max_digits=14, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_key", "threshold_percent"], name="llm_alert_once_per_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget} reached {self.threshold_percent}% in {self.period_key}"


class KillSwitch(models.Model):
    """Admin switches that take effect without a deploy. Active: matching generative calls answer
    extractively instead."""

    class Scope(models.TextChoices):
        ALL_GENERATIVE = "all", "All generative answers"
        PROVIDER = "provider", "One provider"
        ROUTE = "route", "One route"
        DEPLOYMENT = "deployment", "One deployment"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    target = models.CharField(max_length=64, blank=True, help_text="Provider, route or deployment name.")
    active = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [models.UniqueConstraint(fields=["scope", "target"], name="llm_killswitch_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.target or '*'} ({'on' if self.active else 'off'})"


class LLMCall(models.Model):
    """One attempt at one deployment (retries and fallbacks each get a row), successful or not."""

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        PARTIAL = "partial", "Stream cut after the first token"
        ERROR = "error", "Failed"
        SKIPPED = "skipped", "Not called (breaker open, budget, kill switch)"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    route = models.CharField(max_length=64)
    deployment = models.CharField(max_length=64)
    provider = models.CharField(max_length=32)
    model_id = models.CharField(max_length=128)
    # No foreign key: PromptVersion belongs to the chat app, which the gateway must not import.
    prompt_version_id = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error_class = models.CharField(max_length=32, blank=True)
    fallback_used = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"]), models.Index(fields=["route", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.route}/{self.deployment} {self.outcome}"
