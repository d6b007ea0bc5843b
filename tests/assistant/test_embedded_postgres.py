"""The embedded PostgreSQL starts with Docent's memory and planner settings, not initdb's defaults.

The servers started here live in this test's temporary folder, never the one the test session uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from assistant.embedded_postgres import TUNING_FILE, embedded_tuning, stop_embedded_postgres
from tests.processes import REPO_ROOT, process_env

GIB = 1024**3


def test_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert embedded_tuning(memory_bytes=24 * GIB)["shared_buffers"] == "6144MB"
    assert embedded_tuning(memory_bytes=256 * GIB)["shared_buffers"] == "8192MB"
    assert embedded_tuning(memory_bytes=GIB // 4)["shared_buffers"] == "128MB"
    assert embedded_tuning(memory_bytes=24 * GIB, shared_buffers="512MB")["shared_buffers"] == "512MB"


def test_the_planner_is_told_pages_are_cached_and_jit_is_off() -> None:
    tuning = embedded_tuning(memory_bytes=24 * GIB)
    assert tuning["effective_cache_size"] == "18432MB"
    assert tuning["maintenance_work_mem"] == "1536MB"
    assert tuning["random_page_cost"] == "1.1"
    assert tuning["jit"] == "off"


def start_postgres(pgdata: Path, tuning: dict[str, str]) -> str:
    """In a child process (pgserver caches server handles per process); returns the socket directory."""
    code = (
        "import json, sys; from pathlib import Path; "
        "from assistant.embedded_postgres import start_embedded_postgres; "
        f"print(start_embedded_postgres(Path({str(pgdata)!r}), database='docent_tuning', "
        "tuning=json.loads(sys.argv[1])))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(tuning)],
        cwd=REPO_ROOT,
        env=process_env(),
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


def show(socket_dir: str, *names: str) -> list[str]:
    values = []
    with psycopg.connect(host=socket_dir, user="postgres", dbname="docent_tuning") as conn:
        for name in names:
            row = conn.execute(f"SHOW {name}").fetchone()
            assert row is not None
            values.append(str(row[0]))
    return values


@pytest.mark.slow
def test_a_new_server_starts_with_the_settings_and_a_running_one_reloads_them(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    try:
        socket_dir = start_postgres(pgdata, {"shared_buffers": "144MB", "jit": "off", "random_page_cost": "1.1"})
        assert show(socket_dir, "shared_buffers", "jit", "random_page_cost") == ["144MB", "off", "1.1"]
        assert (pgdata / TUNING_FILE).exists()

        # Started again while it runs (another Docent process): reloadable settings apply at once;
        # shared_buffers only at the server's next start.
        socket_dir = start_postgres(pgdata, {"shared_buffers": "160MB", "jit": "on", "random_page_cost": "1.5"})
        assert show(socket_dir, "shared_buffers", "jit", "random_page_cost") == ["144MB", "on", "1.5"]

        assert stop_embedded_postgres(pgdata)
        socket_dir = start_postgres(pgdata, {"shared_buffers": "160MB", "jit": "on", "random_page_cost": "1.5"})
        assert show(socket_dir, "shared_buffers") == ["160MB"]
    finally:
        stop_embedded_postgres(pgdata)
