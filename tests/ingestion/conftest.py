from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.models import User


@pytest.fixture
def engineering(db) -> Group:
    return Group.objects.create(name="engineering")


@pytest.fixture
def alice(engineering) -> User:
    user = User.objects.create_user("alice", "alice@example.com", "pw")
    user.groups.add(engineering)
    return user


@pytest.fixture
def bob(engineering) -> User:
    user = User.objects.create_user("bob", "bob@example.com", "pw")
    user.groups.add(engineering)
    return user


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.com", "pw")


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    """Every test stores blobs in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media")},
    }}  # fmt: skip
    return tmp_path / "media"
