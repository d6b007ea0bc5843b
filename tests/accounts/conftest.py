"""Fixtures for accounts tests: the three standing users, role holders, and a clean rate-limit state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from accounts.models import User
from accounts.roles import ADMIN, AUDITOR, CURATOR, EMPLOYEE

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Team:
    alice: User
    bob: User
    charlie: User
    group: Group


@pytest.fixture(autouse=True)
def clean_rate_limits() -> Iterator[None]:
    # allauth keeps its rate-limit counters in the cache (this run's own Redis database).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team(db: None) -> Team:
    group = Group.objects.create(name="engineering")
    alice = User.objects.create_user("alice", email="alice@corp.example", password=PASSWORD)
    bob = User.objects.create_user("bob", email="bob@corp.example", password=PASSWORD)
    charlie = User.objects.create_user("charlie", email="charlie@corp.example", password=PASSWORD)
    alice.groups.add(group)
    bob.groups.add(group)
    return Team(alice=alice, bob=bob, charlie=charlie, group=group)


def make_user(username: str, *, role: str | None, staff: bool = False, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username, email=f"{username}@corp.example", password=PASSWORD, is_staff=staff or superuser,
        is_superuser=superuser,
    )  # fmt: skip
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def auditor(db: None) -> User:
    return make_user("audrey", role=AUDITOR, staff=True)


@pytest.fixture
def admin_user(db: None) -> User:
    return make_user("adam", role=ADMIN, staff=True)


@pytest.fixture
def curator(db: None) -> User:
    return make_user("cora", role=CURATOR, staff=True)


@pytest.fixture
def employee(db: None) -> User:
    return make_user("emma", role=EMPLOYEE)
