"""Users, the groups the identity provider manages, and personal API tokens."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils.crypto import salted_hmac


def new_session_epoch() -> str:
    return secrets.token_hex(16)


class User(AbstractUser):
    """A Docent user; a custom model from the first migration so that fields can be added later."""

    # Part of the session hash: replacing it signs the user out of every session ("log out everywhere").
    session_epoch = models.CharField(max_length=32, default=new_session_epoch, editable=False)

    def get_session_auth_hash(self) -> str:
        """Django checks this against each session on every request; it changes with password or epoch."""
        key_salt = "accounts.User.get_session_auth_hash"
        return salted_hmac(key_salt, f"{self.password}:{self.session_epoch}", algorithm="sha256").hexdigest()


class IdpGroup(models.Model):
    """Marks a group as owned by the identity provider: sign-in adds and removes its members.

    Groups created by hand in Docent carry no mark and are left alone by group sync.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, primary_key=True, related_name="idp")
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "identity-provider group"

    def __str__(self) -> str:
        return self.group.name


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 of its secret is stored; the prefix finds the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
