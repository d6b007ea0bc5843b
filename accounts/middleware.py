"""Session lifetime (idle timeout + absolute lifetime) and the MFA requirement for the admin."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import User
from accounts.roles import MFA_ROLES
from accounts.selectors import has_mfa_enabled, roles_of, session_used_mfa

SESSION_STARTED_KEY = "docent_session_started"
SESSION_SEEN_KEY = "docent_session_seen"
# Activity is written to the session at most this often, so that reads do not each cost a session write.
SEEN_RESOLUTION_SECONDS = 60


class SessionLifetimeMiddleware:
    """Signs a user out after ``SESSION_IDLE_SECONDS`` without a request or ``SESSION_ABSOLUTE_SECONDS``
    after sign-in, whichever comes first. The cookie's own age cannot do this: it is renewed on each save."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.get(SESSION_STARTED_KEY)
            seen = request.session.get(SESSION_SEEN_KEY)
            if (started is not None and now - started > settings.SESSION_ABSOLUTE_SECONDS) or (
                seen is not None and now - seen > settings.SESSION_IDLE_SECONDS
            ):
                logout(request)
            else:
                if started is None:
                    request.session[SESSION_STARTED_KEY] = now
                if seen is None or now - seen >= SEEN_RESOLUTION_SECONDS:
                    request.session[SESSION_SEEN_KEY] = now
        response = self.get_response(request)
        # A sign-in during this request starts the clock (the session was cycled, so the keys are gone). Only a
        # session sign-in: a request authenticated by an API token has no session and must not get one (that
        # was a session row written and a cookie set on every API call).
        if SESSION_KEY in request.session and SESSION_STARTED_KEY not in request.session:
            now = time.time()
            request.session[SESSION_STARTED_KEY] = now
            request.session[SESSION_SEEN_KEY] = now
        return response


class AdminMfaMiddleware:
    """With ``ADMIN_MFA_REQUIRED``, admins and auditors reach ``/admin/`` only after a second factor in this
    session: without TOTP they are sent to set it up, with TOTP to confirm a code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.ADMIN_MFA_REQUIRED
            and request.path.startswith(reverse("admin:index"))
            and isinstance(request.user, User)
            and request.user.is_staff
            and (request.user.is_superuser or roles_of(request.user) & MFA_ROLES)
            and not session_used_mfa(request)
        ):
            if has_mfa_enabled(request.user):
                target = reverse("mfa_reauthenticate")
            else:
                messages.warning(request, "The admin requires two-factor authentication: set up an authenticator.")
                target = reverse("mfa_activate_totp")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
