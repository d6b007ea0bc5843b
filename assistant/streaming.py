"""What the async chat endpoints share: authenticating like DRF does, and Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.models import User
from assistant.services import AnswerToken, ChatEvent

# HTTP status of a JSON answer that failed, by the gateway's error class (the stream always says 200).
ERROR_STATUS = {"budget_exhausted": 429, "rate_limited": 429, "context_too_long": 413}


class NotAuthenticated(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _resolve_user(request: HttpRequest) -> User:
    classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    parsers: list[Any] = list(api_settings.DEFAULT_PARSER_CLASSES)
    # The CSRF check of session authentication looks at the form data first, so the request needs parsers;
    # reading the body here caches it for the view.
    request.body  # noqa: B018
    drf_request = Request(request, authenticators=[cls() for cls in classes], parsers=[cls() for cls in parsers])
    try:
        user = drf_request.user
    except exceptions.APIException as exc:
        raise NotAuthenticated(exc.status_code, str(exc.detail)) from exc
    if not user or not user.is_authenticated:
        raise NotAuthenticated(401, "Authentication credentials were not provided.")
    assert isinstance(user, User)
    return user


async def authenticate(request: HttpRequest) -> User:
    """The user of an async endpoint, by the same authentication classes (and CSRF rule) as the REST API:
    a session needs the CSRF token, an API token does not. Raises :class:`NotAuthenticated`."""
    return await sync_to_async(_resolve_user)(request)


def error_response(status: int, detail: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def sse_event(event: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event; ``data`` is JSON on a single line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    # Proxies (nginx) must pass each event on at once rather than buffer the answer.
    response["X-Accel-Buffering"] = "no"
    return response


def wants_event_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _release_connection() -> None:
    if not connection.in_atomic_block:  # never inside a transaction (tests wrap each test in one)
        connection.close_if_unusable_or_obsolete()


async def release_db_connection() -> None:
    """Give this request's database connection back while an answer streams (seconds, with no queries):
    without it every open stream holds a connection, and 500 streams need 500. Runs on the request's own
    thread (thread-sensitive), where its connection lives; closes it only when it is not persistent."""
    await sync_to_async(_release_connection)()


class _End:
    pass


async def coalesced(events: AsyncIterator[ChatEvent], *, flush_interval: float = 0.0) -> AsyncIterator[ChatEvent]:
    """``events`` with answer tokens merged: at most one token event per ``flush_interval`` seconds.

    The chat turn runs in its own task and never waits for the client. The first token goes out at once (time
    to first token is not delayed); after a token event, the tokens that arrive within ``flush_interval`` go out
    together as one event when it has passed, other events (citations, done, error) at once, after the tokens
    before them. Each event is one socket write, the largest cost of relaying a token (docs/performance.md); at
    30 tokens/s a 0.1 s interval sends ~3 tokens per event, 10 updates a second, still a smooth stream to read.
    With ``flush_interval`` 0, a token goes out alone unless others piled up while the previous event was
    being written. Stopping (the client went away) cancels the turn's task, which stores the partial answer as
    before."""
    queue: asyncio.Queue[ChatEvent | _End | Exception] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def produce() -> None:
        try:
            async for event in events:
                queue.put_nowait(event)
        except Exception as exc:  # noqa: BLE001 - not hidden: the consumer raises it to the caller
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_End())

    task = asyncio.create_task(produce())
    token_sent_at: float | None = None
    try:
        while True:
            batch = [await queue.get()]
            if isinstance(batch[0], AnswerToken) and flush_interval > 0 and token_sent_at is not None:
                wait = token_sent_at + flush_interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            while not queue.empty():
                batch.append(queue.get_nowait())
            for item in _merge_tokens(batch):
                if isinstance(item, _End):
                    return
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, AnswerToken):
                    token_sent_at = loop.time()
                yield item
    finally:
        if not task.done():
            task.cancel()
        # The turn stores what was answered so far before it ends: wait for it.
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _merge_tokens(batch: list[ChatEvent | _End | Exception]) -> list[ChatEvent | _End | Exception]:
    merged: list[ChatEvent | _End | Exception] = []
    for item in batch:
        previous = merged[-1] if merged else None
        if isinstance(item, AnswerToken) and isinstance(previous, AnswerToken):
            merged[-1] = AnswerToken(previous.text + item.text)
        else:
            merged.append(item)
    return merged
