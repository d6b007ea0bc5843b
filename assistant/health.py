"""Readiness checks: is every dependency Docent needs to serve a request reachable right now?"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from kombu.exceptions import OperationalError as KombuOperationalError


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return CheckResult("database", True, "connected")


def check_pgvector() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        return CheckResult("pgvector", False, "the vector extension is not installed; run migrations")
    return CheckResult("pgvector", True, f"vector {row[0]}")


def check_broker() -> CheckResult:
    from assistant.celery import app

    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=settings.READINESS_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    return CheckResult("broker", True, settings.BROKER_URL_FOR_DISPLAY)


def check_storage() -> CheckResult:
    bucket = getattr(default_storage, "bucket_name", None)
    if bucket:
        default_storage.connection.meta.client.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        return CheckResult("storage", True, f"s3 bucket {bucket}")
    location = Path(default_storage.location)  # type: ignore[attr-defined]
    location.mkdir(parents=True, exist_ok=True)
    if not os.access(location, os.W_OK):
        return CheckResult("storage", False, f"{location} is not writable")
    return CheckResult("storage", True, str(location))


def _storage_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


def _run(name: str, check: Callable[[], CheckResult], errors: tuple[type[BaseException], ...]) -> CheckResult:
    try:
        return check()
    except errors as exc:
        # The class name says enough for an operator; the message may carry a host name, not a secret.
        return CheckResult(name, False, f"{type(exc).__name__}: {str(exc)[:200]}")


def run_readiness_checks() -> list[CheckResult]:
    """Run every check; never raises. The database checks are skipped when the database is down."""
    results = [_run("database", check_database, (DatabaseError,))]
    if results[0].ok:
        results.append(_run("pgvector", check_pgvector, (DatabaseError,)))
    else:
        results.append(CheckResult("pgvector", False, "skipped: database unreachable"))
    results.append(_run("broker", check_broker, (KombuOperationalError, OSError)))
    results.append(_run("storage", check_storage, _storage_errors()))
    return results
