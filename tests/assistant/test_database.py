"""The database Docent runs on has pgvector, and a server without it is refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from django.db import connection

from tests.processes import REPO_ROOT, process_env

SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.mark.django_db
def test_embedded_database_has_pgvector_and_computes_distances() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector")
        (distance,) = cursor.fetchone()
    assert distance == pytest.approx(1.0)


def test_a_server_without_pgvector_is_refused_with_a_clear_message() -> None:
    try:
        admin = psycopg.connect(SYSTEM_POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("the machine's PostgreSQL 15 (without pgvector) is not running on 127.0.0.1:5432")
    with admin:
        if admin.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            pytest.skip("the machine's PostgreSQL has pgvector, so it cannot show the refusal")
        name = f"docent_nopgvector_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            env = process_env(DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{name}")
            result = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                ).fetchone()
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert result.returncode != 0
    assert "has no pgvector extension" in result.stderr
    # Nothing but Django's migration bookkeeping was created on the unsuitable server.
    assert tables is not None and tables[0] <= 1
