"""Operational endpoints of the project package."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
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
