"""Personal API tokens over real HTTP: a token acts as its user; revoked, expired or wrong ones get a 401 JSON."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import authenticate_api_token, create_api_token, revoke_api_token
from tests.accounts.conftest import Team


def call_me(base_url: str, authorization: str | None) -> tuple[int, dict, dict[str, str]]:
    request = urllib.request.Request(f"{base_url}/api/v1/me/")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.mark.django_db(transaction=True)
def test_token_acts_as_its_user_over_http(live_server, team: Team) -> None:
    issued = create_api_token(user=team.alice, name="laptop")
    status, body, _ = call_me(live_server.url, f"Bearer {issued.raw}")
    assert status == 200
    assert body == {
        "username": "alice", "email": "alice@corp.example", "roles": [], "groups": ["engineering"], "auth": "token",
    }  # fmt: skip
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("make_header", "message"),
    [
        (lambda raw: f"Bearer {raw}", "This API token has been revoked."),
        (lambda raw: f"Bearer {raw[:-4]}abcd", "Invalid API token."),
        (lambda raw: "Bearer dct_nothing", "Malformed API token."),
        (lambda raw: "Bearer", "Invalid Authorization header: expected 'Bearer <token>'."),
        (lambda raw: None, "Authentication credentials were not provided."),
    ],
    ids=["revoked", "wrong-secret", "malformed", "empty", "missing"],
)
def test_refused_tokens_get_401_with_a_json_error(live_server, team: Team, make_header, message: str) -> None:
    issued = create_api_token(user=team.alice, name="laptop")
    revoke_api_token(token=issued.token)
    status, body, headers = call_me(live_server.url, make_header(issued.raw))
    assert status == 401
    assert body == {"detail": message}
    assert headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert headers["Content-Type"] == "application/json"


@pytest.mark.django_db(transaction=True)
def test_expired_token_gets_401(live_server, team: Team) -> None:
    issued = create_api_token(user=team.bob, name="short", expires_at=timezone.now() + timedelta(days=1))
    assert call_me(live_server.url, f"Bearer {issued.raw}")[0] == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    status, body, _ = call_me(live_server.url, f"Bearer {issued.raw}")
    assert (status, body) == (401, {"detail": "This API token has expired."})


@pytest.mark.django_db(transaction=True)
def test_token_of_a_deactivated_user_gets_401(live_server, team: Team) -> None:
    issued = create_api_token(user=team.charlie, name="cli")
    team.charlie.is_active = False
    team.charlie.save(update_fields=["is_active"])
    assert call_me(live_server.url, f"Bearer {issued.raw}")[:2] == (
        401,
        {"detail": "The user of this API token is inactive."},
    )


@pytest.mark.django_db
def test_only_a_hash_of_the_secret_is_stored(team: Team) -> None:
    issued = create_api_token(user=team.alice, name="laptop")
    row = ApiToken.objects.values().get(pk=issued.token.pk)
    assert issued.raw.startswith(f"dct_{row['prefix']}_")
    secret = issued.raw.split("_", 2)[2]
    assert all(secret not in str(value) for value in row.values())
    assert authenticate_api_token(raw=issued.raw).user == team.alice


@pytest.mark.django_db
def test_token_page_shows_a_new_token_once_and_revokes_it(team: Team) -> None:
    client = Client()
    client.force_login(team.alice)
    response = client.post("/accounts/tokens/", {"name": "notebook", "lifetime_days": "30"})
    assert response.status_code == 201
    token = ApiToken.objects.get(user=team.alice)
    raw = response.context["issued"].raw
    assert raw in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    assert token.expires_at is not None and timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)

    listing = client.get("/accounts/tokens/").content.decode()
    assert "notebook" in listing and raw not in listing

    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.django_db
def test_charlie_cannot_see_or_revoke_alices_token(team: Team) -> None:
    issued = create_api_token(user=team.alice, name="alice's")
    client = Client()
    client.force_login(team.charlie)
    assert "alice&#x27;s" not in client.get("/accounts/tokens/").content.decode()
    assert client.post(f"/accounts/tokens/{issued.token.pk}/revoke/").status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None


@pytest.mark.django_db
def test_token_page_needs_sign_in() -> None:
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_create_api_token_command_prints_a_working_token(team: Team) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "bob", "--name", "ci", "--expires", "2099-01-31", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = authenticate_api_token(raw=raw)
    assert token.user == team.bob and token.name == "ci"
    assert token.expires_at is not None and token.expires_at.date().isoformat() == "2099-01-31"
    assert "shown only once" in err.getvalue()

    call_command("create_api_token", "bob", "--expires", "never", stdout=out, stderr=err)
    assert ApiToken.objects.filter(user=team.bob, expires_at__isnull=True).count() == 1
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "nobody", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="--expires"):
        call_command("create_api_token", "bob", "--expires", "soon", stdout=out, stderr=err)
