"""Security headers and transport with production settings (no DOCENT_DEV): HSTS, a CSP without
unsafe-inline, secure cookies, HTTPS redirect except for probes, and no CORS grant to any origin (Docent
configures none). Checked in a child process, because production settings are computed at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.assistant.test_settings import PRODUCTION_SECRET
from tests.processes import REPO_ROOT, process_env

pytestmark = pytest.mark.django_db  # the child process reads the test database

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
# The manifest of hashed static files exists only after collectstatic (the image build runs it).
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client(HTTP_HOST="docent.example.com", raise_request_exception=False)
out = {}
def record(name, response):
    out[name] = {
        "status": response.status_code,
        "headers": dict(response.headers),
        "cookies": {k: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
                    for k, m in response.cookies.items()},
    }
record("login", client.get("/accounts/login/", secure=True))
record("login_http", client.get("/accounts/login/"))
record("healthz_http", client.get("/healthz"))
record("api_cross_origin", client.get("/api/v1/me/", secure=True, HTTP_ORIGIN="https://evil.example"))
record("preflight", client.options("/api/v1/search/", secure=True, HTTP_ORIGIN="https://evil.example",
                                   HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    env = process_env(SECRET_KEY=PRODUCTION_SECRET, ALLOWED_HOSTS="docent.example.com")
    env.pop("DOCENT_DEV")
    env.pop("DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_hsts_and_the_usual_headers_on_https(production) -> None:
    headers = production["login"]["headers"]
    assert production["login"]["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_csp_is_strict_and_has_no_unsafe_inline(production) -> None:
    csp = production["login"]["headers"]["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_cookies_are_secure_and_http_only(production) -> None:
    cookies = production["login"]["cookies"]
    assert cookies, "the login page sets the CSRF cookie"
    for name, flags in cookies.items():
        assert flags["secure"] and flags["httponly"], name
        assert flags["samesite"] in ("Lax", "Strict"), name


def test_plain_http_redirects_to_https_except_probes(production) -> None:
    assert production["login_http"]["status"] == 301
    assert production["login_http"]["headers"]["Location"].startswith("https://docent.example.com/")
    assert production["healthz_http"]["status"] == 200


def test_no_cors_grant_for_other_origins(production) -> None:
    for name in ("api_cross_origin", "preflight"):
        headers = {key.lower() for key in production[name]["headers"]}
        assert not any(key.startswith("access-control-allow") for key in headers), (name, headers)
