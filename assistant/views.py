"""Operational endpoints of the project package."""

from __future__ import annotations

import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

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


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an unreachable database answers 503 with a clear message and ``Retry-After`` (the load
    balancer and clients retry; Django reconnects on the next request, no restart needed); anything else
    is a plain 500. Called by Django inside the ``except`` block, so ``sys.exc_info`` is the error."""
    error = sys.exc_info()[1]
    unavailable = isinstance(error, (OperationalError, InterfaceError))
    status = 503 if unavailable else 500
    detail = (
        "Docent's database is unavailable right now. Please try again in a few seconds."
        if unavailable
        else "Something went wrong on our side. It has been logged."
    )
    if request.path.startswith(("/api/", "/v1/")) or "json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse(
            {"detail": detail, "error": "unavailable" if unavailable else "server_error"}, status=status
        )
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
