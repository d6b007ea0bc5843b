"""Reads: the gateway's configuration snapshot (routes, chains, prices, kill switches, budgets)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from assistant.llm.budgets import BudgetConfig
from assistant.llm.models import Budget, Deployment, KillSwitch, Provider, Route
from assistant.llm.providers.base import DeploymentConfig

# The always-available last resort: no model, no key, no cost.
EXTRACTIVE_DEPLOYMENT = DeploymentConfig(
    name="extractive", route="", provider=Provider.EXTRACTIVE, model_id="extractive-v1"
)

_DATED = re.compile(r"(19|20)\d{2}-?\d{2}-?\d{2}|-\d{3,4}$|@\d{8}")


def is_pinned_model_id(provider: str, model_id: str) -> bool:
    """A model id that names one dated snapshot (``gpt-4o-mini-2024-07-18``, ``claude-sonnet-4-20250514``),
    not a floating alias (``gpt-4o``, ``claude-3-5-sonnet-latest``)."""
    if provider == Provider.EXTRACTIVE:
        return True
    return "latest" not in model_id.lower() and bool(_DATED.search(model_id))


@dataclass(frozen=True)
class RouteConfig:
    name: str
    enabled: bool
    on_budget_exhausted: str
    chain: tuple[DeploymentConfig, ...]


@dataclass(frozen=True)
class GatewayConfig:
    routes: dict[str, RouteConfig]
    budgets: tuple[BudgetConfig, ...] = ()
    kill_all: bool = False
    killed_providers: frozenset[str] = frozenset()
    killed_routes: frozenset[str] = frozenset()
    killed_deployments: frozenset[str] = frozenset()
    loaded_at: float = field(default_factory=time.monotonic)

    def is_killed(self, deployment: DeploymentConfig) -> bool:
        if deployment.provider == Provider.EXTRACTIVE:
            return False
        return (
            self.kill_all
            or deployment.provider in self.killed_providers
            or deployment.route in self.killed_routes
            or deployment.name in self.killed_deployments
        )


def _deployment_config(deployment: Deployment, today: date) -> DeploymentConfig:
    price = next((p for p in deployment.prices.all() if p.effective_from <= today), None)
    return DeploymentConfig(
        name=deployment.name,
        route=deployment.route.name,
        provider=deployment.provider,
        model_id=deployment.model_id,
        base_url=deployment.base_url,
        api_key_env=deployment.api_key_env,
        timeout_seconds=deployment.timeout_seconds or settings.LLM_DEFAULT_TIMEOUT_SECONDS,
        connect_timeout_seconds=deployment.connect_timeout_seconds,
        max_output_tokens=deployment.max_output_tokens,
        context_window_tokens=deployment.context_window_tokens,
        temperature=deployment.temperature,
        input_per_million_usd=price.input_per_million_usd if price else EXTRACTIVE_DEPLOYMENT.input_per_million_usd,
        output_per_million_usd=price.output_per_million_usd if price else EXTRACTIVE_DEPLOYMENT.output_per_million_usd,
    )


def load_gateway_config() -> GatewayConfig:
    """Read the whole configuration in four queries. Unpinned model ids that are not explicitly allowed are
    left out of their chain (the admin form refuses them too)."""
    today = timezone.localdate()
    routes: dict[str, RouteConfig] = {}
    for route in Route.objects.prefetch_related("deployments__prices"):
        chain = tuple(
            _deployment_config(d, today)
            for d in route.deployments.all()
            if d.enabled and (d.allow_floating_alias or is_pinned_model_id(d.provider, d.model_id))
        )
        routes[route.name] = RouteConfig(route.name, route.enabled, route.on_budget_exhausted, chain)
    switches = list(KillSwitch.objects.filter(active=True).values_list("scope", "target"))
    budgets = tuple(
        BudgetConfig(b.id, b.scope, b.user_id, b.group_id, b.period, b.metric, b.limit)
        for b in Budget.objects.filter(enabled=True)
    )
    return GatewayConfig(
        routes=routes,
        budgets=budgets,
        kill_all=any(scope == KillSwitch.Scope.ALL_GENERATIVE for scope, _ in switches),
        killed_providers=frozenset(t for s, t in switches if s == KillSwitch.Scope.PROVIDER),
        killed_routes=frozenset(t for s, t in switches if s == KillSwitch.Scope.ROUTE),
        killed_deployments=frozenset(t for s, t in switches if s == KillSwitch.Scope.DEPLOYMENT),
    )


_cached: GatewayConfig | None = None


async def get_gateway_config() -> GatewayConfig:
    """The configuration, re-read at most every ``LLM_CONFIG_CACHE_SECONDS`` per process."""
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached.loaded_at < settings.LLM_CONFIG_CACHE_SECONDS:
        return cached
    _cached = await sync_to_async(load_gateway_config)()
    return _cached


def forget_cached_config() -> None:
    """Drop this process's cached configuration: the next call reads the database (tests, after a change)."""
    global _cached
    _cached = None


def user_group_ids(user_id: int) -> frozenset[int]:
    user_model = get_user_model()
    return frozenset(user_model.groups.through.objects.filter(user_id=user_id).values_list("group_id", flat=True))
