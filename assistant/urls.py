"""URL wiring: each app owns its routes (pages and /api/v1/...) in its own urls.py."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from assistant import views
from assistant.observability import views as observability_views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", observability_views.metrics, name="metrics"),
    path("dashboard/", observability_views.dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("accounts.urls")),
    path("", include("retrieval.urls")),
    path("", include("ingestion.urls")),
    path("", include("assistant.chat_urls")),
]

# Errors: JSON for API clients; a database outage answers 503 with a clear message instead of a bare 500.
handler400 = "assistant.views.bad_request"
handler404 = "assistant.views.not_found"
handler500 = "assistant.views.server_error"
