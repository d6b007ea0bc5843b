from __future__ import annotations

from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "assistant.evals"
    label = "evals"
    verbose_name = "Answer quality (evals)"
