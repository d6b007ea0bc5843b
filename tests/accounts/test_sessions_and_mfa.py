"""Sessions end after the idle timeout or the absolute lifetime, "log out everywhere" ends them all, and the
admin asks admins and auditors for a TOTP code when ADMIN_MFA_REQUIRED is on."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.middleware import SESSION_SEEN_KEY, SESSION_STARTED_KEY
from accounts.models import User
from accounts.services import create_api_token
from tests.accounts.conftest import PASSWORD, Team

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    assert client.get("/accounts/tokens/").status_code == 200
    return client


def still_signed_in(client: Client) -> bool:
    return client.get("/accounts/tokens/").status_code == 200


def shift_session(client: Client, key: str, seconds_ago: float) -> None:
    session = client.session
    session[key] = time.time() - seconds_ago
    session.save()


def test_session_survives_activity_within_the_idle_timeout(team: Team) -> None:
    client = signed_in(team.alice)
    shift_session(client, SESSION_SEEN_KEY, settings.SESSION_IDLE_SECONDS - 30)
    assert still_signed_in(client)
    assert still_signed_in(client), "the request above counted as activity"


def test_session_ends_after_the_idle_timeout(team: Team) -> None:
    client = signed_in(team.alice)
    shift_session(client, SESSION_SEEN_KEY, settings.SESSION_IDLE_SECONDS + 1)
    response = client.get("/accounts/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_session_ends_after_the_absolute_lifetime_despite_activity(team: Team) -> None:
    client = signed_in(team.alice)
    shift_session(client, SESSION_STARTED_KEY, settings.SESSION_ABSOLUTE_SECONDS + 1)
    assert not still_signed_in(client)


def test_log_out_everywhere_ends_every_session_of_that_user_only(team: Team) -> None:
    laptop, phone, bobs = signed_in(team.alice), signed_in(team.alice), signed_in(team.bob)
    response = laptop.post("/accounts/logout-everywhere/")
    assert response.status_code == 302
    assert not still_signed_in(laptop)
    assert not still_signed_in(phone)
    assert still_signed_in(bobs)
    team.alice.refresh_from_db()
    assert still_signed_in(signed_in(team.alice)), "signing in again works"


def test_session_cookie_is_httponly_and_samesite(team: Team) -> None:
    client = Client()
    client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.SESSION_ABSOLUTE_SECONDS


def current_totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.fixture
def mfa_required(settings):
    settings.ADMIN_MFA_REQUIRED = True


def test_admin_without_an_authenticator_is_sent_to_set_one_up(mfa_required, admin_user: User) -> None:
    response = signed_in(admin_user).get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/?next=%2Fadmin%2F"


def test_auditor_with_totp_must_confirm_a_code_before_the_admin(mfa_required, auditor: User) -> None:
    secret = generate_totp_secret()
    TOTP.activate(auditor, secret)
    client = Client()
    response = client.post("/accounts/login/", {"login": auditor.username, "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session, "not signed in before the second factor"
    response = client.post("/accounts/2fa/authenticate/", {"code": current_totp_code(secret)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_session_without_the_second_factor_is_asked_for_it(mfa_required, auditor: User) -> None:
    TOTP.activate(auditor, generate_totp_secret())
    response = signed_in(auditor).get("/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/?next=")


def test_curators_are_not_asked_for_mfa(mfa_required, curator: User) -> None:
    assert signed_in(curator).get("/admin/").status_code == 200


def test_without_admin_mfa_required_admins_go_straight_in(admin_user: User) -> None:
    assert not settings.ADMIN_MFA_REQUIRED
    assert signed_in(admin_user).get("/admin/").status_code == 200


def test_api_token_requests_create_no_session(team: Team) -> None:
    client = Client()
    raw = create_api_token(user=team.alice, name="script").raw
    for _ in range(2):
        response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert response.status_code == 200
        assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()


def test_sign_in_starts_the_session_clock(team: Team) -> None:
    client = Client()
    client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert SESSION_STARTED_KEY in client.session and SESSION_SEEN_KEY in client.session
