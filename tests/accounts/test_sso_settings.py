"""The OIDC_* / SSO_* environment variables configure allauth as documented, and bad values stop start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import REPO_ROOT

PRINT_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "providers": settings.SOCIALACCOUNT_PROVIDERS,
    "sso_only": settings.SSO_ONLY,
    "form_action": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"],
    "domains": settings.SSO_ALLOWED_DOMAINS,
    "role_map": {role: sorted(groups) for role, groups in settings.SSO_ROLE_GROUP_MAP.items()},
    "admin_mfa": settings.ADMIN_MFA_REQUIRED,
    "rest_auth": settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"],
}))
"""


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "assistant.settings",
        # Parsed only: no database is contacted.
        "DATABASE_URL": "postgresql://docent@127.0.0.1:9/docent",
        "SECRET_KEY": "k" * 64,
        "ALLOWED_HOSTS": "docent.example.com",
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=REPO_ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_oidc_env_vars_configure_the_provider_with_pkce_and_a_secret_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "oidc-secret"
    secret_file.write_text("s3cret-from-file\n")
    result = load_settings(
        OIDC_SERVER_URL="https://login.example.com/realms/corp",
        OIDC_CLIENT_ID="docent",
        OIDC_CLIENT_SECRET_FILE=str(secret_file),
        OIDC_SCOPES="openid,profile,email,groups",
        SSO_ALLOWED_DOMAINS="Example.com, @example.co.uk",
        ROLE_GROUP_MAP="admin=docent-admins|it-ops,auditor=security",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    (app,) = loaded["providers"]["openid_connect"]["APPS"]
    assert app["client_id"] == "docent" and app["secret"] == "s3cret-from-file"
    assert app["settings"]["server_url"] == "https://login.example.com/realms/corp"
    assert app["settings"]["oauth_pkce_enabled"] is True
    assert app["settings"]["scope"] == ["openid", "profile", "email", "groups"]
    assert loaded["sso_only"] is True, "SSO-only is the production default once OIDC is configured"
    assert loaded["admin_mfa"] is True
    assert "https://login.example.com" in loaded["form_action"]
    assert loaded["domains"] == ["example.com", "example.co.uk"]
    assert loaded["role_map"]["admin"] == ["admin", "docent-admins", "it-ops"]
    assert loaded["role_map"]["auditor"] == ["auditor", "security"]
    assert loaded["rest_auth"][0] == "accounts.authentication.BearerTokenAuthentication"


def test_without_oidc_there_is_no_provider_and_password_sign_in_stays() -> None:
    result = load_settings(DOCENT_DEV="1")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["providers"]["openid_connect"]["APPS"] == []
    assert loaded["sso_only"] is False
    assert loaded["admin_mfa"] is False


def test_bad_values_stop_start_up_with_the_variable_name() -> None:
    cases = [
        ({"ROLE_GROUP_MAP": "wizard=magic"}, "ROLE_GROUP_MAP"),
        ({"SSO_ONLY": "1"}, "SSO_ONLY=1 needs an identity provider"),
        ({"OIDC_SERVER_URL": "https://idp.example.com"}, "OIDC_CLIENT_ID"),
        ({"SSO_DEFAULT_ROLE": "boss"}, "SSO_DEFAULT_ROLE"),
    ]
    for env, message in cases:
        result = load_settings(**env)
        assert result.returncode != 0 and message in result.stderr, (env, result.stderr[-500:])
