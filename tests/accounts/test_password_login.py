"""Local password sign-in: on for development (demo users), brute-force limited, and off in SSO-only mode
except for break-glass superusers (rate-limited, logged)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from accounts.models import User
from accounts.views import BREAK_GLASS_SESSION_KEY
from tests.accounts.conftest import PASSWORD, Team, make_user

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"login": username, "password": password})


def is_signed_in(client: Client, user: User) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


@pytest.fixture
def sso_only(settings):
    settings.SSO_ONLY = True
    settings.OIDC_ENABLED = True
    settings.OIDC_BUTTON_LABEL = "Sign in with Corp SSO"
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Corp SSO",
                    "client_id": "docent",
                    "secret": "s",
                    "settings": {"server_url": "http://127.0.0.1:9/"},
                }
            ]
        }
    }
    return settings


def test_local_sign_in_works_when_sso_only_is_off(team: Team) -> None:
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in to Docent" in page and 'name="password"' in page
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert is_signed_in(client, team.alice)


def test_failed_sign_ins_are_rate_limited_per_user_name(team: Team) -> None:
    client = Client()
    for _ in range(5):
        response = sign_in(client, "bob", "wrong-password")
        assert response.status_code == 200 and not is_signed_in(client, team.bob)
    # Even the right password is refused now: the attacker cannot tell when they have found it.
    response = sign_in(client, "bob", PASSWORD)
    assert "Too many failed login attempts" in response.content.decode()
    assert not is_signed_in(client, team.bob)
    # Another user name from the same address is not locked out yet.
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_nobody_can_sign_up_locally(db: None) -> None:
    response = Client().post("/accounts/signup/", {"username": "eve", "password1": "x" * 20, "password2": "x" * 20})
    assert "Sign Up Closed" in response.content.decode()
    assert not User.objects.filter(username="eve").exists()


def test_sso_only_login_page_offers_only_sso_and_refuses_password_posts(sso_only, team: Team) -> None:
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Corp SSO" in page
    assert 'name="password"' not in page
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 403
    assert "Password sign-in is disabled" in response.content.decode()
    assert not is_signed_in(client, team.alice)


def test_break_glass_lets_a_superuser_in_and_logs_it(sso_only, caplog) -> None:
    root = make_user("root", role=None, superuser=True)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="accounts.views"):
        response = sign_in(client, "root", PASSWORD, "/accounts/break-glass/")
    assert response.status_code == 302
    assert is_signed_in(client, root)
    assert client.session[BREAK_GLASS_SESSION_KEY] is True
    assert any("Break-glass sign-in user=" in record.getMessage() for record in caplog.records)


def test_break_glass_refuses_employees(sso_only, team: Team) -> None:
    client = Client()
    response = sign_in(client, "alice", PASSWORD, "/accounts/break-glass/")
    assert response.status_code == 200 and not is_signed_in(client, team.alice)


def test_break_glass_is_rate_limited(sso_only) -> None:
    sso_only.ACCOUNT_RATE_LIMITS = {**sso_only.ACCOUNT_RATE_LIMITS, "break_glass": "3/h/ip"}
    make_user("root", role=None, superuser=True)
    client = Client()
    statuses = [sign_in(client, "root", "wrong-password", "/accounts/break-glass/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = sign_in(client, "root", PASSWORD, "/accounts/break-glass/")
    assert response.status_code == 429
    assert not client.session.get("_auth_user_id")


def test_break_glass_page_does_not_exist_without_sso_only(db: None) -> None:
    assert Client().get("/accounts/break-glass/").status_code == 404
