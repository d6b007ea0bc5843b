"""The request id: taken from a trusted ``X-Request-ID`` header or made up, bound to every log line of the
request (structlog contextvars), returned in the response, carried into Celery tasks as a message header and
into LLM calls (``CompletionRequest.request_id`` → the ``LLMCall`` row)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

HEADER = "X-Request-ID"
CELERY_HEADER = "docent_request_id"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """The given id if it is a sane token (ids end up in logs and headers), otherwise a new one."""
    return value if value and _VALID.match(value) else new_request_id()


def current_request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


_started: ContextVar[float | None] = ContextVar("docent_request_started", default=None)


def request_started_at() -> float | None:
    """``perf_counter()`` when the current request entered the middleware (None outside a request)."""
    return _started.get()


def bind_request(request_id: str, **fields: Any) -> None:
    """Start a fresh log context for one unit of work (a request, a task, an eval case)."""
    _started.set(None)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, **fields)


class RequestIdMiddleware:
    """Binds ``request_id`` (and the path) for the request's log lines and sets ``request.request_id``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _start(self, request: HttpRequest) -> str:
        request_id = clean_request_id(request.headers.get(HEADER))
        bind_request(request_id)
        _started.set(time.perf_counter())
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        request_id = self._start(request)
        response: HttpResponseBase = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = self._start(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await get_response(request)
        response[HEADER] = request_id
        return response
