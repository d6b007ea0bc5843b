"""Per-stage timing of a chat turn, and its one log line (``chat.turn``) with the matching metrics and span.

``answer_question`` opens a :class:`TurnTimer` and wraps each stage in ``timer.stage(name)``; code that runs
deeper (``_finish_turn``'s citation check) uses :func:`stage`, which finds the current timer through a
context variable. Stages: auth (request start to the turn: authentication, rate limit, validation), guard,
retrieval, prompt (assembly and context budget), ttft and generation (the gateway), checks, persistence.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from opentelemetry import trace

from assistant.observability import metrics
from assistant.observability.request_id import request_started_at

logger = structlog.stdlib.get_logger("docent.chat")
tracer = trace.get_tracer("docent.chat")

_current: ContextVar[TurnTimer | None] = ContextVar("docent_turn_timer", default=None)


@dataclass
class TurnTimer:
    request_id: str
    user_id: int | None
    started: float = field(default_factory=time.perf_counter)
    stages_ms: dict[str, float] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    first_token_at: float | None = None
    generation_started: float | None = None
    # When the request entered the middleware (None outside a request): the turn's latency counts from there.
    origin: float | None = None
    _span: Any = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - begun)

    def add(self, name: str, seconds: float) -> None:
        self.stages_ms[name] = round(self.stages_ms.get(name, 0.0) + seconds * 1000, 2)

    def generation_start(self) -> None:
        self.generation_started = time.perf_counter()

    def token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            if self.generation_started is not None:
                self.add("ttft", self.first_token_at - self.generation_started)

    def generation_end(self) -> None:
        if self.generation_started is not None:
            self.add("generation", time.perf_counter() - self.generation_started)

    def note(self, **fields: Any) -> None:
        self.fields.update(fields)

    def finish(self) -> None:
        """Emit the turn's log line, metrics and span (once)."""
        ended = time.perf_counter()
        route = str(self.fields.get("route", ""))
        status = str(self.fields.get("status", "unknown"))
        error_class = str(self.fields.get("error_class") or "")
        for name, ms in self.stages_ms.items():
            metrics.STAGE_SECONDS.labels(name).observe(ms / 1000)
        origin = self.origin if self.origin is not None else self.started
        metrics.TURN_SECONDS.labels(route).observe(ended - origin)
        if self.first_token_at is not None:
            metrics.TTFT_SECONDS.labels(route).observe(self.first_token_at - origin)
        metrics.TURNS.labels(route, status, error_class or "none").inc()
        if self.fields.get("empty_retrieval"):
            metrics.EMPTY_RETRIEVALS.inc()
        if self.fields.get("context_truncated"):
            metrics.CONTEXT_TRUNCATIONS.inc()
        cost = self.fields.get("cost_usd")
        logger.info(
            "chat.turn",
            **{**self.fields, "cost_usd": float(cost) if isinstance(cost, Decimal) else cost},
            user_id=self.user_id,
            stages_ms=self.stages_ms,
            total_ms=round((ended - origin) * 1000, 2),
        )
        if self._span is not None:
            self._span.set_attributes({k: v for k, v in self.fields.items() if isinstance(v, str | int | float | bool)})
            self._span.end()


def start_turn(*, request_id: str, user_id: int | None) -> TurnTimer:
    """A timer for one turn, made current for :func:`stage`. The time since the request entered the
    middleware (authentication, rate limit, validation) is the ``auth`` stage."""
    timer = TurnTimer(request_id=request_id, user_id=user_id)
    began = request_started_at()
    if began is not None and began <= timer.started:
        timer.origin = began
        timer.add("auth", timer.started - began)
    timer._span = tracer.start_span("chat.turn", attributes={"docent.request_id": request_id})
    _current.set(timer)
    return timer


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage of the current turn (a no-op outside one)."""
    timer = _current.get()
    if timer is None:
        yield
        return
    with timer.stage(name):
        yield


def outcome_fields(done: Any, error: Any) -> dict[str, Any]:
    """What the gateway reported (a ``DoneEvent`` and/or an ``ErrorEvent``), as log fields."""
    fields: dict[str, Any] = {"error_class": ""}
    if done is not None:
        fields.update(
            model_id=done.model_id,
            deployment=done.deployment,
            input_tokens=done.input_tokens,
            output_tokens=done.output_tokens,
            cost_usd=done.cost_usd,
            fallback_used=done.fallback_used,
            error_class=done.error_class or "",
        )
    if error is not None:
        fields["error_class"] = error.error_class
    return fields
