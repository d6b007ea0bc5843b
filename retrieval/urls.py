from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from retrieval import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("search/", views.search_page, name="search"),
    path("api/v1/search/", api.search_view, name="api-search"),
]
