"""``/metrics`` (Prometheus, scrape-protected) and ``/dashboard/`` (admins and auditors)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from accounts.roles import ADMIN, AUDITOR
from assistant.observability.dashboard import build_charts
from assistant.observability.metrics import registry


def scrape_allowed(request: HttpRequest) -> bool:
    """A scrape is allowed with ``Authorization: Bearer <METRICS_TOKEN>`` or from ``METRICS_ALLOWED_NETWORKS``."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not scrape_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def can_see_dashboard(user: object) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    groups = getattr(user, "groups", None)
    return bool(groups is not None and groups.filter(name__in=[ADMIN, AUDITOR]).exists())


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if not can_see_dashboard(request.user):
        raise PermissionDenied("The dashboard is for admins and auditors.")
    days_back = 30 if request.GET.get("days") == "30" else 14
    return render(
        request, "observability/dashboard.html", {"charts": build_charts(days_back=days_back), "days": days_back}
    )
