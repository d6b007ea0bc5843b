"""End-to-end SSO: Chromium signs in through a real OpenID Connect provider (npm's oidc-provider) into a live
Docent, over the full redirect flow (authorization code + PKCE, ID token verified against the IdP's keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, Page, expect

from accounts.models import IdpGroup, User
from tests.oidc.server import OidcProvider, running_oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROVIDER_ID = "sso"
DIRECTORY = {
    "alice": {"email": "alice@corp.example", "name": "Alice Example", "groups": ["engineering", "all-staff"]},
    "mallory": {"email": "mallory@elsewhere.example", "name": "Mallory", "groups": ["engineering"]},
    "impostor": {"email": "root@corp.example", "name": "Not Root", "groups": ["admin"]},
}


@pytest.fixture
def idp(live_server, tmp_path: Path, settings) -> Iterator[OidcProvider]:
    redirect_uri = f"{live_server.url}/accounts/oidc/{PROVIDER_ID}/login/callback/"
    with running_oidc_provider(redirect_uri=redirect_uri, accounts=DIRECTORY, workdir=tmp_path) as provider:
        # The same settings assistant/settings.py derives from OIDC_* env vars, for this run's issuer and port.
        settings.OIDC_ENABLED = True
        settings.OIDC_PROVIDER_ID = PROVIDER_ID
        settings.OIDC_BUTTON_LABEL = "Sign in with Corp SSO"
        settings.SSO_ONLY = True
        settings.SSO_ALLOWED_DOMAINS = ["corp.example"]
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": PROVIDER_ID,
                        "name": "Corp SSO",
                        "client_id": provider.client_id,
                        "secret": provider.client_secret,
                        "settings": {
                            "server_url": provider.issuer,
                            "scope": ["openid", "profile", "email", "groups"],
                            "oauth_pkce_enabled": True,
                            # Claims from the ID token only: the groups must come from it.
                            "fetch_userinfo": False,
                        },
                    }
                ],
            }
        }
        csp = {**settings.CONTENT_SECURITY_POLICY, "DIRECTIVES": dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])}
        csp["DIRECTIVES"]["form-action"] = [*csp["DIRECTIVES"]["form-action"], provider.issuer]
        settings.CONTENT_SECURITY_POLICY = csp
        yield provider


def sign_in_with_sso(page: Page, base_url: str, login: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in to Docent")).to_be_visible()
    # SSO-only mode: no password form for employees.
    expect(page.locator("input[name=password]")).to_have_count(0)
    page.get_by_role("button", name="Sign in with Corp SSO").click()
    # Now on the identity provider's own sign-in page.
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def expect_signed_in(page: Page, username: str) -> None:
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_contain_text(username)
    expect(navigation.get_by_role("button", name="Sign out")).to_be_visible()


def group_names(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_sso_sign_in_lands_in_docent_with_the_id_token_groups_and_resyncs_them(
    idp: OidcProvider, live_server, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, live_server.url, "alice")
    expect_signed_in(page, "alice")
    assert page.url == f"{live_server.url}/"

    alice = User.objects.get(email="alice@corp.example")
    assert group_names(alice) == {"engineering", "all-staff", "employee"}
    assert not alice.is_staff
    assert not alice.has_usable_password()
    assert set(IdpGroup.objects.values_list("group__name", flat=True)) == {"engineering", "all-staff"}
    context.close()

    # The directory changes: alice leaves engineering, joins platform and becomes a curator.
    # A group created by hand in Docent is not the IdP's to remove.
    alice.groups.add(Group.objects.create(name="book-club"))
    idp.set_accounts({**DIRECTORY, "alice": {**DIRECTORY["alice"], "groups": ["platform", "all-staff", "curator"]}})
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, live_server.url, "alice")
    expect_signed_in(page, "alice")

    alice.refresh_from_db()
    assert group_names(alice) == {"platform", "all-staff", "curator", "employee", "book-club"}
    assert alice.is_staff, "a curator may use the admin"
    assert User.objects.filter(email="alice@corp.example").count() == 1
    context.close()


def test_user_outside_the_allowed_domains_is_refused_with_a_clear_page(
    idp: OidcProvider, live_server, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    responses = []
    page.on("response", lambda response: responses.append(response))
    sign_in_with_sso(page, live_server.url, "mallory")

    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("mallory@elsewhere.example is not allowed to use Docent")
    expect(page.locator("#sso-refused")).to_contain_text("corp.example")
    callbacks = [response for response in responses if "/login/callback/" in response.url]
    assert [response.status for response in callbacks] == [403]
    assert not User.objects.filter(email="mallory@elsewhere.example").exists()
    # Still signed out: Docent's home sends them back to sign-in.
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Sign in to Docent")).to_be_visible()
    context.close()


def test_sso_cannot_sign_into_a_local_superuser_with_the_same_address(
    idp: OidcProvider, live_server, browser: Browser
) -> None:
    root = User.objects.create_superuser("root", email="root@corp.example", password="break-glass-password-123")
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, live_server.url, "impostor")
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("belongs to a local administrator account")
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.get_by_role("heading", name="Sign in to Docent")).to_be_visible()
    assert not SocialAccount.objects.filter(user=root).exists()
    assert User.objects.filter(email="root@corp.example").count() == 1
    context.close()
