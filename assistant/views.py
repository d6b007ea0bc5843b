"""Operational endpoints of the project package."""

from __future__ import annotations

import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found

from assistant.health import run_readiness_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no dependency, so a database outage never restarts pods."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every dependency reachable, else 503 with the failing checks named."""
    results = run_readiness_checks()
    ok = all(result.ok for result in results)
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {result.name: {"ok": result.ok, "detail": result.detail} for result in results},
        "failed": [result.name for result in results if not result.ok],
    }
    return JsonResponse(body, status=200 if ok else 503)


@login_required
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """The chat page. Everything on it is loaded and sent through the chat API by static/js/chat.js."""
    return render(
        request,
        "assistant/chat.html",
        {
            "chat_config": {
                "allowedLinkHosts": settings.CHAT_ALLOWED_LINK_HOSTS,
                "maxChars": settings.CHAT_MAX_QUESTION_CHARS,
            }
        },
    )


# Seconds a client should wait before retrying while a dependency is down.
RETRY_AFTER_SECONDS = 5


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/")) or "json" in request.headers.get("Accept", "")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: API clients get JSON (``{"detail": ...}``) like every other API error; pages the usual page."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400 (a body over MAX_REQUEST_BODY_BYTES, a suspicious header...): JSON for API clients; an
    oversized body is a 413 that names the limit."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse({"detail": f"The request body is larger than the {limit} byte limit."}, status=413)
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return django_bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an unreachable database answers 503 with a clear message and ``Retry-After`` (the load
    balancer and clients retry; Django reconnects on the next request, no restart needed); anything else
    is a plain 500. Called by Django inside the ``except`` block, so ``sys.exc_info`` is the error."""
    error = sys.exc_info()[1]
    if isinstance(error, DataError):
        # A value PostgreSQL cannot hold (an id beyond bigint in the URL, say): the client's mistake.
        return JsonResponse({"detail": "A value in the request is out of range."}, status=400)
    unavailable = isinstance(error, (OperationalError, InterfaceError))
    status = 503 if unavailable else 500
    detail = (
        "Docent's database is unavailable right now. Please try again in a few seconds."
        if unavailable
        else "Something went wrong on our side. It has been logged."
    )
    if _is_api(request):
        response: HttpResponse = JsonResponse(
            {"detail": detail, "error": "unavailable" if unavailable else "server_error"}, status=status
        )
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
