"""Seed the default routes; each answers with the offline extractive provider until an admin adds models."""

from __future__ import annotations

from django.db import migrations

ROUTES = {
    "chat": "Answers to employees' questions (premium model).",
    "summarize": "Summaries of long conversations (cheap model).",
    "guard": "Input and output checks (cheap, fast model).",
}


def seed(apps, schema_editor):
    Route = apps.get_model("llm", "Route")
    Deployment = apps.get_model("llm", "Deployment")
    for name, description in ROUTES.items():
        route, _ = Route.objects.get_or_create(name=name, defaults={"description": description})
        Deployment.objects.get_or_create(
            name=f"{name}-extractive",
            defaults={
                "route": route,
                "position": 100,
                "provider": "extractive",
                "model_id": "extractive-v1",
                "max_output_tokens": 400,
                "temperature": 0.0,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("llm", "Route").objects.filter(name__in=list(ROUTES)).delete()


class Migration(migrations.Migration):
    dependencies = [("llm", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
