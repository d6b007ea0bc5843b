"""Request limits applied before any view runs (the body limit is Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware


def _too_large(request: HttpRequest) -> JsonResponse | None:
    """431 when the request's headers together exceed MAX_REQUEST_HEADER_BYTES. uvicorn (httptools) accepts
    heads of any size, and every header is copied into each request's META, so the limit is enforced here too
    (the ingress usually enforces a smaller one first)."""
    size = sum(len(key) + len(str(value)) for key, value in request.META.items() if key.startswith("HTTP_"))
    if size <= settings.MAX_REQUEST_HEADER_BYTES:
        return None
    return JsonResponse(
        {"detail": f"The request headers are larger than the {settings.MAX_REQUEST_HEADER_BYTES} byte limit."},
        status=431,
    )


@sync_and_async_middleware
def request_header_limit(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            refused = _too_large(request)
            if refused is not None:
                return refused
            response: Awaitable[HttpResponse] = get_response(request)
            return await response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        refused = _too_large(request)
        if refused is not None:
            return refused
        response: HttpResponse = get_response(request)
        return response

    return middleware
