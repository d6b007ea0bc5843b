"""Routes of the chat app (the browser's home page and the chat API)."""

from __future__ import annotations

from django.urls import path

from assistant import views

urlpatterns = [
    path("", views.home, name="home"),
]
