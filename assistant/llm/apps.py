from __future__ import annotations

from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "assistant.llm"
    label = "llm"
    verbose_name = "LLM gateway"
