"""The admin pages for the gateway: usage totals, and the floating-alias check on deployments."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from assistant.llm.admin import DeploymentForm
from assistant.llm.models import LLMCall, Route
from assistant.llm.services import CallRecord, record_llm_call

pytestmark = pytest.mark.django_db


def test_usage_page_shows_totals_per_day_route_and_model(client) -> None:
    admin = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    for cost in ("0.0010", "0.0020"):
        record_llm_call(
            record=CallRecord(
                request_id="r",
                user_id=admin.pk,
                route="chat",
                deployment="gpt-primary",
                provider="openai_compatible",
                model_id="gpt-4o-mini-2024-07-18",
                prompt_version_id=None,
                attempt=1,
                outcome=LLMCall.Outcome.OK,
                input_tokens=100,
                output_tokens=10,
                cost_usd=Decimal(cost),
            )
        )
    client.force_login(admin)

    response = client.get("/admin/llm/llmcall/")

    assert response.status_code == 200
    totals = response.context["usage_totals"]
    assert len(totals) == 1
    assert (totals[0]["calls"], totals[0]["input"], totals[0]["cost"]) == (2, 200, Decimal("0.003"))
    assert b"Totals per day, route and model" in response.content


def test_deployment_form_refuses_a_floating_alias() -> None:
    route = Route.objects.get(name="chat")  # seeded by the data migration
    data = {
        "route": route.pk,
        "position": 0,
        "name": "gpt-floating",
        "provider": "openai_compatible",
        "model_id": "gpt-4o",
        "timeout_seconds": 60,
        "connect_timeout_seconds": 5,
        "max_output_tokens": 512,
        "context_window_tokens": 128000,
        "temperature": 0.2,
        "enabled": True,
    }
    form = DeploymentForm(data=data)
    assert not form.is_valid()
    assert "floating alias" in str(form.errors)

    form = DeploymentForm(data={**data, "model_id": "gpt-4o-2024-11-20"})
    assert form.is_valid(), form.errors


def test_seeded_routes_answer_extractively() -> None:
    routes = {r.name: [d.provider for d in r.deployments.all()] for r in Route.objects.all()}
    assert routes["chat"] == routes["summarize"] == routes["guard"] == ["extractive"]


def test_admin_pages_show_a_banner_for_unacknowledged_budget_alerts_until_acknowledged(client) -> None:
    from accounts.services import grant_role
    from assistant.llm.models import Budget, BudgetAlert

    budget = Budget.objects.create(scope="global", period="month", metric="usd", limit=Decimal("100"))
    alert = BudgetAlert.objects.create(budget=budget, period_key="2026-11", threshold_percent=90, used=Decimal("91"))
    admin = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert 'id="budget-alerts"' in page and "reached 90% in 2026-11" in page

    # Pages outside the admin never carry it; employees never see it.
    employee = get_user_model().objects.create_user(username="emp", password="x")
    grant_role(user=employee, role="employee")
    client.force_login(employee)
    assert b"budget-alerts" not in client.get("/").content

    alert.acknowledged = True
    alert.save()
    client.force_login(admin)
    assert b"budget-alerts" not in client.get("/admin/").content
