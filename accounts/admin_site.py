"""The Django admin site: staff plus a role to enter, and sign-in through allauth (rate limits, MFA, SSO)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.http import urlencode

from accounts.roles import ADMIN_SITE_ROLES
from accounts.selectors import roles_of


class DocentAdminSite(admin.AdminSite):
    site_header = "Docent administration"
    site_title = "Docent admin"

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff is not enough: the user must also hold a role that uses the admin (or be a superuser)."""
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or bool(roles_of(user) & ADMIN_SITE_ROLES)

    def login(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        """The admin's own password form would bypass SSO-only mode, rate limits and MFA: it is never shown.
        Signed-out users go to the sign-in page; signed-in users without access get a 403."""
        if request.user.is_authenticated:
            if not self.has_permission(request):
                raise PermissionDenied("Your account has no role that uses the admin.")
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
