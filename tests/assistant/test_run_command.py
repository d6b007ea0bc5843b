"""`make run`'s command serves Docent with every dependency green, and SIGTERM stops all of it."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psutil
import psycopg
from django.conf import settings

from tests.processes import REPO_ROOT, free_port, process_env, stop_process, wait_until


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _is_up(opener: urllib.request.OpenerDirector, url: str) -> bool:
    try:
        return _get(opener, url)[0] == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_run_command_serves_login_and_ready_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    database = f"docent_runtest_{uuid.uuid4().hex[:8]}"
    env = process_env(PORT=str(port), EMBEDDED_PG_DATABASE=database, WORKER_CONCURRENCY="1")
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "run.log"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_docent"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(lambda: _is_up(opener, f"{base}/healthz"), timeout=120, what="the web process")
            children = psutil.Process(proc.pid).children(recursive=True)
            assert len(children) >= 3, "web, worker and beat must all be running"

            status, body = _get(opener, f"{base}/readyz")
            assert status == 200, body
            assert all(check["ok"] for check in json.loads(body)["checks"].values())

            status, page = _get(opener, f"{base}/accounts/login/")
            assert status == 200 and "Sign in to Docent" in page
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            assert token is not None
            form = urllib.parse.urlencode(
                {"login": "alice", "password": settings.DEMO_PASSWORD, "csrfmiddlewaretoken": token.group(1)}
            ).encode()
            request = urllib.request.Request(f"{base}/accounts/login/", data=form, headers={"Referer": base})
            status, home = _get(opener, request)  # type: ignore[arg-type]
            assert status == 200 and "alice" in home
        finally:
            stop_process(proc, timeout=30)
    output = log_path.read_text()
    assert proc.returncode == 0, output
    assert "Demo sign-ins" in output and f"http://127.0.0.1:{port}/" in output
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    with psycopg.connect(host=settings.DATABASES["default"]["HOST"], user="postgres", dbname="postgres",
                         autocommit=True) as admin:  # fmt: skip
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
