"""Settings fail loudly in production when something essential is missing."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import REPO_ROOT, process_env

PRODUCTION_SECRET = "p" * 20 + "-real-looking-production-secret-value-0123456789"


def _django_setup(**env: str) -> subprocess.CompletedProcess[str]:
    child_env = process_env(**env)
    for name in ("DOCENT_DEV", "DEBUG"):
        if name not in env:
            child_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key() -> None:
    result = _django_setup(ALLOWED_HOSTS="docent.example.com", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_short_secret_key() -> None:
    result = _django_setup(ALLOWED_HOSTS="docent.example.com", SECRET_KEY="short")
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts() -> None:
    result = _django_setup(SECRET_KEY=PRODUCTION_SECRET, ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_a_malformed_boolean_is_refused_with_its_name() -> None:
    result = _django_setup(DOCENT_DEV="maybe")
    assert result.returncode != 0
    assert "DOCENT_DEV must be a boolean" in result.stderr


def test_secret_can_come_from_a_file(tmp_path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_SECRET + "\n")
    result = _django_setup(SECRET_KEY_FILE=str(secret_file), ALLOWED_HOSTS="docent.example.com")
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = process_env(SECRET_KEY=PRODUCTION_SECRET, ALLOWED_HOSTS="docent.example.com")
    env.pop("DOCENT_DEV")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
