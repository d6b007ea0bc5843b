"""The one way Docent calls a model: ``stream_completion`` and ``complete``.

For a request on a route the gateway walks the route's chain of deployments (minus those switched off),
and for each: reserves the worst-case cost against every budget that applies, asks the deployment's circuit
breaker, calls the provider with a total deadline, retries 429/5xx/network failures with exponential backoff
and jitter (honouring Retry-After), and falls back to the next deployment on outage, rate limit or a too
long context. Every attempt leaves a usage row. Callers only ever see our events, never a provider error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Coroutine, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from opentelemetry import trace
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from assistant.llm import breaker, budgets, errors
from assistant.llm.budgets import BudgetConfig, Reservation
from assistant.llm.models import LLMCall, Provider, Route
from assistant.llm.pricing import cost_usd
from assistant.llm.providers import PROVIDERS
from assistant.llm.providers.base import DeploymentConfig, Usage, estimate_tokens, upper_bound_input_tokens
from assistant.llm.selectors import EXTRACTIVE_DEPLOYMENT, RouteConfig, get_gateway_config, user_group_ids
from assistant.llm.services import CallRecord, record_budget_alert, record_llm_call
from assistant.llm.types import CompletionRequest, CompletionResult, DoneEvent, ErrorEvent, StreamEvent, TokenEvent

logger = logging.getLogger("assistant.llm")
tracer = trace.get_tracer("docent.llm")


@dataclass
class _Call:
    """One request's state while the gateway works through the chain."""

    request: CompletionRequest
    route: RouteConfig
    budgets: tuple[BudgetConfig, ...]
    streaming: bool
    first_deployment: str
    attempt: int = 0


@dataclass
class _Opened:
    """An attempt that produced its first delta (or ended without any)."""

    deltas: AsyncGenerator[str, None]
    first: str | None
    usage: Usage
    started: float
    ttft: float
    deadline: float
    attempt: int
    texts: list[str] = field(default_factory=list)


async def _single(answer: Awaitable[str]) -> AsyncGenerator[str, None]:
    yield await answer


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


async def _record(call: _Call, deployment: DeploymentConfig, **fields: object) -> None:
    record = CallRecord(
        request_id=call.request.request_id,
        user_id=call.request.user_id,
        route=call.route.name,
        deployment=deployment.name,
        provider=deployment.provider,
        model_id=deployment.model_id,
        prompt_version_id=call.request.prompt_version_id,
        fallback_used=deployment.name != call.first_deployment,
        **fields,  # type: ignore[arg-type]
    )
    await sync_to_async(record_llm_call)(record=record)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    backoff = wait_exponential_jitter(
        multiplier=settings.LLM_RETRY_BASE_SECONDS,
        max=settings.LLM_RETRY_MAX_WAIT_SECONDS,
        jitter=settings.LLM_RETRY_BASE_SECONDS,
    )
    if isinstance(exc, errors.GatewayError) and exc.retry_after is not None:
        return exc.retry_after
    return float(backoff(state))


def _stop(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, errors.GatewayError) and (exc.retry_after or 0) > settings.LLM_RETRY_MAX_WAIT_SECONDS:
        return True  # the provider asks for a longer pause than a user should wait: fall back instead
    return bool(stop_after_attempt(settings.LLM_MAX_RETRIES + 1)(state))


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, errors.GatewayError) and exc.retryable


async def _open(call: _Call, deployment: DeploymentConfig) -> _Opened:
    """One attempt up to its first delta. Raises a ``GatewayError`` (after recording it) on failure."""
    call.attempt += 1
    attempt = call.attempt
    generative = deployment.provider != Provider.EXTRACTIVE
    if generative:
        admission = await breaker.admit(deployment.name, probe_timeout=deployment.timeout_seconds + 5)
        if admission is breaker.Admission.REFUSED:
            await _record(
                call, deployment, attempt=attempt, outcome=LLMCall.Outcome.SKIPPED, error_class="breaker_open"
            )
            raise errors.BreakerOpen(deployment.name)
    provider = PROVIDERS[deployment.provider]
    usage = Usage()
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deployment.timeout_seconds
    if call.streaming:
        deltas = provider.stream(deployment, call.request, usage)
    else:
        deltas = _single(provider.complete(deployment, call.request, usage))
    failure: errors.GatewayError | None = None
    first: str | None = None
    try:
        async with asyncio.timeout_at(deadline):
            first = await anext(deltas)
    except StopAsyncIteration:
        first = None
    except TimeoutError:
        failure = errors.ProviderTimeout(f"no answer within {deployment.timeout_seconds}s")
    except errors.GatewayError as exc:
        failure = exc
    if failure is not None:
        await deltas.aclose()
        await _record(
            call,
            deployment,
            attempt=attempt,
            outcome=LLMCall.Outcome.ERROR,
            error_class=failure.error_class,
            latency_ms=_ms(time.perf_counter() - started),
        )
        if generative:
            # A refused request (bad key, too long, filtered) says nothing about the deployment's health.
            await breaker.record(deployment.name, success=not failure.breaker)
        raise failure
    return _Opened(deltas, first, usage, started, time.perf_counter() - started, deadline, attempt)


async def _settle(call: _Call, reservation: Reservation | None, *, cost: Decimal, tokens: int) -> None:
    if reservation is None:
        return
    for budget, period_key, used in await budgets.settle(reservation, cost_usd=cost, tokens=tokens):
        for threshold in budgets.crossed_thresholds(budget, used):
            if await budgets.claim_alert(budget, period_key, threshold):
                await sync_to_async(record_budget_alert)(
                    budget_id=budget.id, period_key=period_key, threshold_percent=threshold, used=used
                )


async def _reserve(call: _Call, deployment: DeploymentConfig) -> Reservation | None:
    """Reserve the deployment's worst case; raise ``BudgetExhausted`` (after recording it) if any budget
    lacks room."""
    if deployment.provider == Provider.EXTRACTIVE or not call.budgets:
        return None
    worst_in = upper_bound_input_tokens(call.request.messages)
    worst_out = deployment.output_tokens_for(call.request)
    worst_cost = cost_usd(deployment, input_tokens=worst_in, output_tokens=worst_out)
    reservation, refusal = await budgets.reserve(call.budgets, cost_usd=worst_cost, tokens=worst_in + worst_out)
    if refusal is None:
        return reservation
    # Exhausted counts as 100% used (settled plus in flight): every threshold not yet reported fires now.
    for threshold in budgets.crossed_thresholds(refusal.budget, refusal.budget.limit):
        if await budgets.claim_alert(refusal.budget, refusal.period_key, threshold):
            await sync_to_async(record_budget_alert)(
                budget_id=refusal.budget.id,
                period_key=refusal.period_key,
                threshold_percent=threshold,
                used=refusal.budget.limit,
            )
    await _record(
        call, deployment, attempt=call.attempt + 1, outcome=LLMCall.Outcome.SKIPPED, error_class="budget_exhausted"
    )
    raise errors.BudgetExhausted(f"budget {refusal.budget.id} has no room")


async def _run(call: _Call, deployment: DeploymentConfig) -> AsyncGenerator[StreamEvent, None]:
    """Answer with one deployment. Raises a ``GatewayError`` only before the first token; after it, a
    failure ends the answer with a note instead.

    The bookkeeping (usage row, breaker, budget settlement) runs after the ``DoneEvent`` has been handed
    over, so the user is not kept waiting for it; it runs in ``finally`` so a caller that stops early (stop
    button, closed tab) is accounted for as well."""
    # Not a "current" span: an async generator cannot hold a context across its yields.
    span = tracer.start_span(
        "llm.call",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "docent.route": call.route.name,
            "docent.deployment": deployment.name,
            "gen_ai.system": deployment.provider,
            "gen_ai.request.model": deployment.model_id,
            "docent.request_id": call.request.request_id,
        },
    )
    opened: _Opened | None = None
    interrupted: errors.GatewayError | None = None
    cost = Decimal(0)
    try:
        reservation = await _reserve(call, deployment)
    except errors.GatewayError as exc:
        span.set_attribute("docent.error_class", exc.error_class)
        span.end()
        raise
    try:
        retrying = AsyncRetrying(stop=_stop, wait=_wait, retry=retry_if_exception(_retryable), reraise=True)
        attempt: _Opened = await retrying(_open, call, deployment)
        opened = attempt
        try:
            if attempt.first is not None:
                attempt.texts.append(attempt.first)
                yield TokenEvent(attempt.first)
            while True:
                async with asyncio.timeout_at(attempt.deadline):
                    delta = await anext(attempt.deltas)
                attempt.texts.append(delta)
                yield TokenEvent(delta)
        except StopAsyncIteration:
            pass
        except TimeoutError:
            interrupted = errors.ProviderTimeout("deadline passed mid-stream")
        except errors.GatewayError as exc:
            interrupted = exc if isinstance(exc, errors.ContentFiltered) else errors.StreamInterrupted(str(exc))
        except (GeneratorExit, asyncio.CancelledError):
            interrupted = errors.GatewayError("cancelled by the caller")
            interrupted.error_class = "cancelled"
            raise
        usage = _final_usage(call, attempt)
        cost = cost_usd(deployment, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        if interrupted is not None:
            yield TokenEvent(f"\n\n*{interrupted.user_message}*")
        yield DoneEvent(
            model_id=deployment.model_id,
            deployment=deployment.name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=cost,
            fallback_used=deployment.name != call.first_deployment,
            label=PROVIDERS[deployment.provider].label,
            error_class=interrupted.error_class if interrupted else None,
        )
    except errors.GatewayError as exc:
        span.set_attribute("docent.error_class", exc.error_class)
        raise
    finally:
        try:
            await _book(call, deployment, opened, interrupted, reservation)
        finally:
            if opened is not None:
                span.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": opened.usage.input_tokens,
                        "gen_ai.usage.output_tokens": opened.usage.output_tokens,
                        "docent.ttft_ms": _ms(opened.ttft),
                        "docent.outcome": "partial" if interrupted else "ok",
                    }
                )
            span.end()


def _final_usage(call: _Call, opened: _Opened) -> Usage:
    """The provider's usage, or an estimate when the stream ended before the provider reported it."""
    usage = opened.usage
    if not usage.reported:
        usage.input_tokens = usage.input_tokens or sum(estimate_tokens(m.content) for m in call.request.messages)
        usage.output_tokens = max(usage.output_tokens, estimate_tokens("".join(opened.texts)))
    return usage


async def _book(
    call: _Call,
    deployment: DeploymentConfig,
    opened: _Opened | None,
    interrupted: errors.GatewayError | None,
    reservation: Reservation | None,
) -> None:
    """After an attempt that produced an answer: usage row, breaker report and budget settlement (all
    three at once). Without one (it failed before the first token, already recorded): release the
    reservation."""
    if opened is None:
        await _settle(call, reservation, cost=Decimal(0), tokens=0)
        return
    await opened.deltas.aclose()
    usage = _final_usage(call, opened)
    cost = cost_usd(deployment, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    work: list[Coroutine[Any, Any, object]] = [
        _record(
            call,
            deployment,
            attempt=opened.attempt,
            outcome=LLMCall.Outcome.PARTIAL if interrupted else LLMCall.Outcome.OK,
            error_class=interrupted.error_class if interrupted else "",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=cost,
            latency_ms=_ms(time.perf_counter() - opened.started),
            ttft_ms=_ms(opened.ttft),
        ),
        _settle(call, reservation, cost=cost, tokens=usage.input_tokens + usage.output_tokens),
    ]
    if deployment.provider != Provider.EXTRACTIVE:
        work.append(breaker.record(deployment.name, success=interrupted is None or not interrupted.breaker))
    await asyncio.gather(*work)


async def _events(request: CompletionRequest, *, streaming: bool) -> AsyncGenerator[StreamEvent, None]:
    config = await get_gateway_config()
    route = config.routes.get(request.route)
    if route is None:
        logger.error("llm.unknown_route route=%s", request.route)
        yield ErrorEvent(errors.UnknownRoute.error_class, errors.UnknownRoute.user_message)
        return
    chain = [d for d in route.chain if route.enabled and not config.is_killed(d)] if route.chain else []
    if not chain:
        # Switched off (or nothing configured): degrade to the extractive provider.
        chain = [replace(EXTRACTIVE_DEPLOYMENT, route=route.name)]
    applicable: tuple[BudgetConfig, ...] = ()
    if config.budgets:
        needs_groups = request.user_id is not None and any(b.scope == "group" for b in config.budgets)
        groups = await sync_to_async(user_group_ids)(request.user_id) if needs_groups else frozenset()  # type: ignore[arg-type]
        applicable = tuple(b for b in config.budgets if b.applies_to(request.user_id, groups))
    first = route.chain[0].name if route.chain else chain[0].name
    call = _Call(request=request, route=route, budgets=applicable, streaming=streaming, first_deployment=first)
    last: errors.GatewayError = errors.RouteUnavailable()
    position = 0
    while position < len(chain):
        deployment = chain[position]
        position += 1
        try:
            async with aclosing(_run(call, deployment)) as events:
                async for event in events:
                    yield event
            return
        except errors.BudgetExhausted as exc:
            if route.on_budget_exhausted != Route.OnBudgetExhausted.EXTRACTIVE:
                yield ErrorEvent(exc.error_class, exc.user_message)
                return
            async with aclosing(_run(call, replace(EXTRACTIVE_DEPLOYMENT, route=route.name))) as events:
                async for event in events:
                    yield event
            return
        except errors.ContextTooLong as exc:
            last = exc
            trimmed = None if _larger_window_later(deployment, chain[position:]) else trimmed_for_context(call.request)
            if trimmed is not None:
                # No larger model to fall back to: drop the earlier turns and ask the same deployment again.
                logger.info(
                    "llm.context_trimmed deployment=%s dropped_messages=%s request_id=%s",
                    deployment.name,
                    len(call.request.messages) - len(trimmed.messages),
                    request.request_id,
                )
                call.request = trimmed
                position -= 1
        except errors.GatewayError as exc:
            last = exc
            if not exc.fallback:
                break
    logger.warning(
        "llm.route_failed route=%s error_class=%s request_id=%s", route.name, last.error_class, request.request_id
    )
    yield ErrorEvent(last.error_class, last.user_message)


def _larger_window_later(deployment: DeploymentConfig, rest: Sequence[DeploymentConfig]) -> bool:
    return any(
        d.provider != Provider.EXTRACTIVE and d.context_window_tokens > deployment.context_window_tokens for d in rest
    )


def trimmed_for_context(request: CompletionRequest) -> CompletionRequest | None:
    """The request without its earlier conversation turns (the system message and the current question with
    its fenced passages are kept), or ``None`` when there is nothing left to drop."""
    messages = list(request.messages)
    kept = [m for m in messages[:1] if m.role == "system"] + messages[-1:]
    if len(kept) >= len(messages):
        return None
    return replace(request, messages=tuple(kept))


async def stream_completion(request: CompletionRequest) -> AsyncIterator[StreamEvent]:
    """Stream the answer as ``TokenEvent``s ending with exactly one ``DoneEvent`` or ``ErrorEvent``.

    Guarantees: never raises for a provider failure; never hangs past the deployment's total timeout per
    attempt; a failure after the first token ends with a note and a ``DoneEvent`` whose ``error_class`` says
    why; budgets are never exceeded; one ``LLMCall`` row per attempt."""
    async with aclosing(_events(request, streaming=True)) as events:
        async for event in events:
            yield event


async def complete(request: CompletionRequest) -> CompletionResult:
    """The whole answer at once (non-streaming provider calls), with the same guarantees."""
    texts: list[str] = []
    done: DoneEvent | None = None
    error: ErrorEvent | None = None
    async for event in _events(request, streaming=False):  # consumed to the end: no early close
        if isinstance(event, TokenEvent):
            texts.append(event.text)
        elif isinstance(event, DoneEvent):
            done = event
        else:
            error = event
    return CompletionResult(text="".join(texts), done=done, error=error)
