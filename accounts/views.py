"""Account pages: sign-in (SSO, local, break-glass), API tokens, log out everywhere."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.views import LoginView
from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import ApiTokenForm
from accounts.models import User
from accounts.selectors import api_tokens_of, get_api_token_for_user
from accounts.services import create_api_token, log_out_everywhere, revoke_api_token

logger = logging.getLogger(__name__)

BREAK_GLASS_SESSION_KEY = "docent_break_glass"


class DocentLoginView(LoginView):
    """allauth's sign-in page. In SSO-only mode it shows only the SSO button and refuses password posts."""

    template_name = "account/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["password_login_enabled"] = not settings.SSO_ONLY
        context["sso_enabled"] = settings.OIDC_ENABLED
        context["sso_provider_id"] = settings.OIDC_PROVIDER_ID
        context["sso_button_label"] = settings.OIDC_BUTTON_LABEL
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.SSO_ONLY:
            return render(request, "accounts/password_login_disabled.html", status=403)
        return super().post(request, *args, **kwargs)


class BreakGlassLoginView(LoginView):
    """Local password sign-in for superusers when SSO is down. Only exists in SSO-only mode; rate-limited
    per IP (``BREAK_GLASS_RATE_LIMIT``, on top of allauth's failed-login limits) and logged at WARNING."""

    template_name = "account/break_glass.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.SSO_ONLY:
            raise Http404("Break-glass sign-in only exists in SSO-only mode; use the normal sign-in page.")
        if request.method == "POST":
            limited = ratelimit.consume_or_429(request, action="break_glass")
            if limited is not None:
                logger.warning("Break-glass sign-in rate-limited ip=%s", request.META.get("REMOTE_ADDR"))
                return limited
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        # Marks the session, so that whatever records sign-ins (allauth's user_logged_in signal, the audit
        # log) and the pages can tell a break-glass session apart.
        self.request.session[BREAK_GLASS_SESSION_KEY] = True
        logger.warning(
            "Break-glass sign-in user=%s username=%s ip=%s",
            getattr(user, "pk", None), getattr(user, "username", ""), self.request.META.get("REMOTE_ADDR"),
        )  # fmt: skip
        return response


login_view = DocentLoginView.as_view()
break_glass_view = BreakGlassLoginView.as_view()


@never_cache
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens and create one; a new token's value is shown in this response only."""
    assert isinstance(request.user, User)
    issued = None
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            issued = create_api_token(user=request.user, name=form.cleaned_data["name"], expires_at=form.expires_at())
            form = ApiTokenForm()
    else:
        form = ApiTokenForm()
    context = {"form": form, "issued": issued, "tokens": api_tokens_of(request.user), "now": timezone.now()}
    return render(request, "accounts/api_tokens.html", context, status=201 if issued else 200)


@require_POST
@login_required
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    assert isinstance(request.user, User)
    token = get_api_token_for_user(user=request.user, token_id=token_id)
    if token is None:
        raise Http404("No such token.")
    revoke_api_token(token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return HttpResponseRedirect(reverse("api_tokens"))


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """Sign the user out of every browser and device, this one included. API tokens are not affected."""
    assert isinstance(request.user, User)
    log_out_everywhere(user=request.user)
    logout(request)
    return HttpResponseRedirect(settings.LOGIN_URL)
