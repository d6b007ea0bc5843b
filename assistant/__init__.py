"""Docent's project package: settings, Celery app, URL wiring, and the chat app."""

from __future__ import annotations

from assistant.celery import app as celery_app

__all__ = ["celery_app"]
