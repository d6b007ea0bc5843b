"""allauth adapters: the one place where Docent customises sign-in.

- Nobody signs up locally: accounts come from the identity provider (or ``createsuperuser`` for break-glass).
- An SSO user whose e-mail domain is not in ``SSO_ALLOWED_DOMAINS`` is refused before any account exists.
- Every SSO sign-in re-syncs the user's groups and roles from the IdP's groups claim.
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from accounts.services import grant_role, normalize_idp_groups, sync_groups_from_idp

logger = logging.getLogger(__name__)


def sso_claims(sociallogin: SocialLogin) -> dict[str, Any]:
    """The IdP's claims: the ID token's, completed by the userinfo response (the ID token wins on conflicts)."""
    extra = sociallogin.account.extra_data or {}
    claims: dict[str, Any] = dict(extra.get("userinfo") or {})
    claims.update(extra.get("id_token") or {})
    return claims


def email_domain_allowed(email: str | None, allowed_domains: list[str]) -> bool:
    """An empty allow-list admits any domain; otherwise the address's domain must be listed exactly."""
    if not allowed_domains:
        return True
    if not email or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in allowed_domains


def apply_idp_groups(user: User, sociallogin: SocialLogin) -> None:
    """Sync groups and roles from the groups claim, or only grant the default role when sync is off."""
    if not settings.SSO_GROUP_SYNC:
        if settings.SSO_DEFAULT_ROLE:
            grant_role(user=user, role=settings.SSO_DEFAULT_ROLE)
        return
    claim = sso_claims(sociallogin).get(settings.SSO_GROUPS_CLAIM)
    result = sync_groups_from_idp(
        user=user,
        idp_groups=normalize_idp_groups(claim),
        role_group_map=settings.SSO_ROLE_GROUP_MAP,
        default_role=settings.SSO_DEFAULT_ROLE,
    )
    logger.info(
        "SSO sign-in user=%s roles=%s groups_added=%d groups_removed=%d",
        user.pk, sorted(result.roles), len(result.added), len(result.removed),
    )  # fmt: skip


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Local sign-up is never offered; SSO sign-up goes through SocialAccountAdapter.is_open_for_signup.
        return False

    def pre_login(
        self,
        request: HttpRequest,
        user: AbstractBaseUser,
        *,
        email_verification: str,
        signal_kwargs: dict[str, Any] | None,
        email: str | None,
        signup: bool,
        redirect_url: str | None,
    ) -> HttpResponse | None:
        response = super().pre_login(
            request, user, email_verification=email_verification, signal_kwargs=signal_kwargs, email=email,
            signup=signup, redirect_url=redirect_url,
        )  # fmt: skip
        sociallogin = (signal_kwargs or {}).get("sociallogin")
        if response is None and sociallogin is not None and isinstance(user, User):
            # Before the session starts, so that the first page already sees the new access.
            apply_idp_groups(user, sociallogin)
        return response


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # The IdP decides who is an employee; the domain allow-list was checked in pre_social_login.
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        email = sociallogin.user.email or sso_claims(sociallogin).get("email")
        allowed = settings.SSO_ALLOWED_DOMAINS
        if not email_domain_allowed(email, allowed):
            logger.warning("SSO sign-in refused: e-mail domain not allowed (email=%s)", email)
            page = render(
                request, "accounts/sso_refused.html", {"email": email, "allowed_domains": allowed}, status=403
            )
            raise ImmediateHttpResponse(page)

    def authenticate_by_email(self, sociallogin: SocialLogin) -> tuple[AbstractUser, str] | None:
        """Join an SSO identity to the local account with the same verified address, except a superuser's:
        break-glass accounts must never be reachable through whoever holds that address at the IdP."""
        match = super().authenticate_by_email(sociallogin)
        if match is not None and match[0].is_superuser:
            logger.warning("SSO sign-in refused: address belongs to a local superuser (user=%s)", match[0].pk)
            context = {"email": match[1], "reason": "superuser"}
            raise ImmediateHttpResponse(render(self.request, "accounts/sso_refused.html", context, status=403))
        return match
