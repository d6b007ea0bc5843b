"""PostgreSQL stops and starts again under a running web process: requests fail fast with a clear 503, and
Docent recovers by itself (no restart of the web process).

The server killed here is a separate embedded PostgreSQL in this test's temporary folder (``EMBEDDED_PG_DIR``),
never the one the test session uses.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from assistant.embedded_postgres import stop_embedded_postgres
from tests.faults.conftest import manage
from tests.processes import REPO_ROOT, process_env, wait_until, web_server

pytestmark = [pytest.mark.slow]

DATABASE = "docent_faults"
MAKE_TOKEN = """
from accounts.models import User
from accounts.services import create_api_token
user = User.objects.create_user("dora", "dora@example.com", "pw")
print(create_api_token(user=user, name="faults").raw)
"""


def start_postgres(pgdata: Path) -> None:
    """In a child process: pgserver caches server handles per process, so a restart must not reuse one."""
    code = (
        "from pathlib import Path; from assistant.embedded_postgres import start_embedded_postgres; "
        f"start_embedded_postgres(Path({str(pgdata)!r}), database={DATABASE!r})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=process_env(), check=True, timeout=120)


def test_postgres_restart_gives_clear_503s_then_recovers_without_restarting_docent(tmp_path):
    pgdata = tmp_path / "pg"
    env = {"EMBEDDED_PG_DIR": str(pgdata), "EMBEDDED_PG_DATABASE": DATABASE, "DEBUG": "0"}
    try:
        manage("migrate", "-v0", **env)
        token = manage("shell", "-c", MAKE_TOKEN, **env).strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        with web_server(tmp_path, **env) as web:
            api = f"{web.url}/api/v1/conversations/"
            assert requests.get(api, headers=headers, timeout=30).status_code == 200

            assert stop_embedded_postgres(pgdata)
            # Concurrent requests while the database is down: each one a prompt, clear 503 (the client's
            # 10 s timeout would turn a hang into a failure here).
            results: list[requests.Response] = []

            def call() -> None:
                results.append(requests.get(api, headers=headers, timeout=10))

            threads = [threading.Thread(target=call) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [r.status_code for r in results] == [503] * 8, [r.text for r in results]
            assert all("database is unavailable" in r.json()["detail"] for r in results)
            assert all(r.headers["Retry-After"] == "5" for r in results)
            # Liveness stays green (no pod restarts for a database outage); readiness names the database.
            assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200
            ready = requests.get(f"{web.url}/readyz", timeout=10)
            assert ready.status_code == 503 and "database" in ready.json()["failed"]

            start_postgres(pgdata)
            # The same web process serves again: Django drops the broken connections and reconnects.
            wait_until(
                lambda: requests.get(api, headers=headers, timeout=10).status_code == 200,
                timeout=60,
                what="the API to answer again",
            )
            assert requests.get(f"{web.url}/readyz", timeout=10).json()["checks"]["database"]["ok"]
            assert web.proc.poll() is None
    finally:
        stop_embedded_postgres(pgdata)
