"""Roles: groups and permissions from the migration; the admin needs staff + a role; auditors only read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import ApiToken, User
from accounts.roles import ADMIN, AUDITOR, CURATOR, EMPLOYEE, ROLE_NAMES
from accounts.services import create_api_token, sync_role_permissions
from tests.accounts.conftest import make_user

pytestmark = pytest.mark.django_db


def perms(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
    }


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_migrations_create_the_four_roles_with_their_permissions() -> None:
    assert set(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) == set(ROLE_NAMES)
    assert perms(EMPLOYEE) == set()
    auditor = perms(AUDITOR)
    assert {"accounts.view_user", "accounts.view_apitoken"} <= auditor
    assert all(perm.split(".")[1].startswith("view_") for perm in auditor), "auditors never change anything"
    assert not {perm for perm in auditor if perm.startswith(("ingestion.", "retrieval."))}, "no document reading"
    assert {"accounts.change_user", "auth.change_group"} <= perms(ADMIN)
    assert not {perm for perm in perms(ADMIN) if perm.startswith(("ingestion.", "retrieval."))}
    assert {perm for perm in perms(CURATOR)} == {
        f"ingestion.{codename}" for codename in Permission.objects.filter(content_type__app_label="ingestion")
        .values_list("codename", flat=True)
    }  # fmt: skip


def test_sync_role_permissions_applies_an_extended_mapping_and_is_idempotent() -> None:
    extended = {AUDITOR: ("accounts.view_*", "django_celery_beat.view_*")}
    counts = sync_role_permissions(role_permissions=extended)
    assert "django_celery_beat.view_periodictask" in perms(AUDITOR)
    assert counts[AUDITOR] == len(perms(AUDITOR))
    assert perms(ADMIN) == set(), "roles missing from the mapping hold nothing"
    sync_role_permissions()
    assert "django_celery_beat.view_periodictask" not in perms(AUDITOR)
    assert "accounts.change_user" in perms(ADMIN)


def test_auditor_can_list_but_gets_403_on_every_change_view(auditor: User) -> None:
    target = make_user("target", role=EMPLOYEE)
    token = create_api_token(user=target, name="t").token
    client = signed_in(auditor)
    assert client.get("/admin/").status_code == 200
    for model, obj in (("user", target), ("apitoken", token)):
        listing = client.get(f"/admin/accounts/{model}/")
        assert listing.status_code == 200, model
        detail = client.get(f"/admin/accounts/{model}/{obj.pk}/change/")
        assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode(), "read-only view"
        assert client.post(f"/admin/accounts/{model}/{obj.pk}/change/", {}).status_code == 403, model
        assert client.get(f"/admin/accounts/{model}/{obj.pk}/delete/").status_code == 403, model
        assert client.post(f"/admin/accounts/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403, model
        assert client.get(f"/admin/accounts/{model}/add/").status_code == 403, model
    assert client.get("/admin/auth/group/add/").status_code == 403
    target.refresh_from_db()
    assert target.is_active and ApiToken.objects.filter(pk=token.pk).exists()


def test_employee_cannot_reach_the_admin(employee: User) -> None:
    client = signed_in(employee)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert client.get("/admin/accounts/user/", follow=True).status_code == 403


def test_staff_without_a_role_cannot_reach_the_admin() -> None:
    client = signed_in(make_user("stan", role=None, staff=True))
    assert client.get("/admin/", follow=True).status_code == 403


def test_curator_reaches_the_admin_but_not_user_management(curator: User) -> None:
    client = signed_in(curator)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 403


def test_admin_role_manages_users(admin_user: User) -> None:
    client = signed_in(admin_user)
    assert client.get("/admin/accounts/user/").status_code == 200


def test_signed_out_admin_visit_goes_to_docent_sign_in_not_the_admin_form() -> None:
    response = Client().get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert "Sign in to Docent" in response.content.decode()
