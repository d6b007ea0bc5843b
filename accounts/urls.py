"""Sign-in and account pages (allauth under /accounts/), API tokens, and /api/v1/me/."""

from __future__ import annotations

from allauth.account.views import LogoutView
from django.urls import include, path

from accounts import api, views

urlpatterns = [
    # Ours come first so that they take over allauth's URLs of the same path.
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/break-glass/", views.break_glass_view, name="break_glass_login"),
    path("accounts/tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_api_token"),
    path("accounts/logout-everywhere/", views.logout_everywhere, name="logout_everywhere"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/me/", api.me, name="api-me"),
]
