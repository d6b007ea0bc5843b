from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


def _sync_role_permissions_after_migrate(**kwargs: Any) -> None:
    # Permissions are created by Django after each app migrates, so roles pick up the permissions of apps
    # added later here (the data migration only sees the apps migrated before it).
    from accounts.services import sync_role_permissions

    sync_role_permissions()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default = True

    def ready(self) -> None:
        post_migrate.connect(_sync_role_permissions_after_migrate, dispatch_uid="accounts.sync_role_permissions")


class DocentAdminConfig(admin_apps.AdminConfig):
    """Replaces ``django.contrib.admin`` in INSTALLED_APPS so that ``admin.site`` is a ``DocentAdminSite``."""

    default = False
    default_site = "accounts.admin_site.DocentAdminSite"
