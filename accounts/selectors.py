"""Reads for accounts: a user's roles, their API tokens, and what their sign-in session proved."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, User
from accounts.roles import ROLE_NAMES


def roles_of(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The roles (role groups) a user holds; none when signed out or inactive."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return frozenset(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))  # type: ignore[attr-defined]


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (revoked and expired ones included, for the record)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def get_api_token_for_user(*, user: User, token_id: int) -> ApiToken | None:
    """A token by id, only if it belongs to ``user``: nobody can see or revoke someone else's token."""
    return ApiToken.objects.filter(user=user, pk=token_id).first()


def session_used_mfa(request: HttpRequest) -> bool:
    """Whether the signed-in user proved a second factor (TOTP or a recovery code) in this session."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


def has_mfa_enabled(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
