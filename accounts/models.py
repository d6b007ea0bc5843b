"""Users. Group membership (synced from the identity provider) decides what a user may read."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A Docent user; a custom model from the first migration so that fields can be added later."""
