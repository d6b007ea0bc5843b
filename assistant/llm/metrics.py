"""The gateway's Prometheus metrics: every attempt (the same facts as its ``LLMCall`` row), rejections by
rate limit and budget, breaker transitions. Breaker *state* is read from Redis at scrape time
(``assistant.observability.metrics``), so every process reports the one shared truth."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLS = Counter(
    "docent_llm_calls_total", "LLM call attempts.", ["route", "deployment", "provider", "outcome", "error_class"]
)
TOKENS = Counter("docent_llm_tokens_total", "Tokens sent and received.", ["route", "deployment", "direction"])
COST = Counter("docent_llm_cost_usd_total", "Spend in USD (dated price table).", ["route", "deployment"])
LATENCY = Histogram(
    "docent_llm_call_seconds",
    "Duration of one LLM call attempt.",
    ["route", "deployment"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
TTFT = Histogram(
    "docent_llm_ttft_seconds",
    "Time to the first token of one LLM call attempt.",
    ["route", "deployment"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
REJECTIONS = Counter("docent_rejections_total", "Requests refused before reaching a model.", ["reason", "endpoint"])
BREAKER_TRANSITIONS = Counter(
    "docent_llm_breaker_transitions_total", "Circuit breaker state changes.", ["deployment", "to_state"]
)


def observe_call(
    *,
    route: str,
    deployment: str,
    provider: str,
    outcome: str,
    error_class: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    latency_ms: int | None,
    ttft_ms: int | None,
) -> None:
    CALLS.labels(route, deployment, provider, outcome, error_class or "none").inc()
    if error_class in {"budget_exhausted", "breaker_open"}:
        REJECTIONS.labels(error_class, route).inc()
    if input_tokens:
        TOKENS.labels(route, deployment, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(route, deployment, "output").inc(output_tokens)
    if cost_usd:
        COST.labels(route, deployment).inc(cost_usd)
    if latency_ms is not None:
        LATENCY.labels(route, deployment).observe(latency_ms / 1000)
    if ttft_ms is not None:
        TTFT.labels(route, deployment).observe(ttft_ms / 1000)
