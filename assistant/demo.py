"""Demo users (and, once ingestion exists, documents) for ``make run``. Development mode only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User


@dataclass(frozen=True)
class DemoUser:
    username: str
    groups: tuple[str, ...]
    is_superuser: bool = False
    description: str = ""


DEMO_USERS = (
    DemoUser("alice", ("engineering",), description="engineer, uploads engineering documents"),
    DemoUser("bob", ("engineering",), description="engineer, alice's colleague"),
    DemoUser("charlie", ("sales",), description="sales, an outsider to engineering documents"),
    DemoUser("admin", (), is_superuser=True, description="administrator"),
)


class DemoDataRefused(RuntimeError):
    """Demo users have well-known passwords: never create them outside development mode."""


@transaction.atomic
def load_demo_users(*, password: str) -> list[User]:
    """Create or update the demo users and their groups. Idempotent."""
    if not settings.DEV_MODE:
        raise DemoDataRefused("Demo data is only loaded with DOCENT_DEV=1 (its passwords are public).")
    users = []
    for demo in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=demo.username, defaults={"email": f"{demo.username}@example.com"})
        user.is_superuser = demo.is_superuser
        user.is_staff = demo.is_superuser
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in demo.groups])
        users.append(user)
    return users
