"""The budget-alert banner on every admin page (alerts are also logged and emailed when they fire)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from assistant.llm.models import BudgetAlert

# The most alerts the banner lists; the link leads to all of them.
BANNER_LIMIT = 5


def budget_alerts(request: HttpRequest) -> dict[str, Any]:
    """``budget_alerts``: the newest unacknowledged alerts, for admin pages and people who may see them.

    Lazy: the query runs only when the admin template renders the banner.
    """
    user = getattr(request, "user", None)
    if user is None or not request.path.startswith(reverse("admin:index")):
        return {}

    def open_alerts() -> list[BudgetAlert]:
        if not (user.is_active and user.is_staff and user.has_perm("llm.view_budgetalert")):
            return []
        alerts = BudgetAlert.objects.filter(acknowledged=False)
        return list(alerts.select_related("budget__user", "budget__group")[:BANNER_LIMIT])

    return {"budget_alerts": SimpleLazyObject(open_alerts)}
