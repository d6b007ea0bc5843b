"""How requests prove who they are: passwords (local accounts) and personal API tokens (the APIs)."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.services import TokenError, authenticate_api_token


class PasswordBackend(AuthenticationBackend):
    """allauth's password backend, except that in SSO-only mode only superusers (break-glass) may use it."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> AbstractBaseUser | None:
        user = super().authenticate(request, **credentials)
        if user is not None and settings.SSO_ONLY and not user.is_superuser:
            return None
        return user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer dct_…`` with a personal API token; the request then acts as the token's user.

    A missing header leaves the request to the other classes; a bad, revoked or expired token is a 401.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw or " " in raw:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            token = authenticate_api_token(raw=raw)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 when authentication fails.
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes personal API tokens in the OpenAPI schema (drf-spectacular finds it by ``target_class``)."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (dct_…)."}
