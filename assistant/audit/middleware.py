"""Binds the request's audit context (IP, user agent, request id) for the duration of the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from assistant.audit import context


class AuditContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        bound = context.context_from_request(request)
        request.audit_request_id = bound.request_id  # type: ignore[attr-defined]
        token = context.bind(bound)
        try:
            return self.get_response(request)
        finally:
            context.unbind(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        bound = context.context_from_request(request)
        request.audit_request_id = bound.request_id  # type: ignore[attr-defined]
        token = context.bind(bound)
        try:
            response: Awaitable[HttpResponseBase] = self.get_response(request)
            return await response
        finally:
            context.unbind(token)
