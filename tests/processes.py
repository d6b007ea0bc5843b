"""Starting and stopping real Docent processes (web, Celery workers) from tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(**overrides: str) -> dict[str, str]:
    """The environment a child Docent process needs to share this test run's database."""
    env = dict(os.environ)
    # Browser tests allow sync ORM calls in the test process's event loop; a real server must not.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env["DJANGO_SETTINGS_MODULE"] = "assistant.settings"
    env["DOCENT_DEV"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if not settings.DATABASE_URL:
        env["EMBEDDED_PG_DATABASE"] = str(settings.DATABASES["default"]["NAME"])
    env.update(overrides)
    return env


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@contextmanager
def celery_worker(
    *, queues: str, log_path: Path, concurrency: int = 1, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` process consuming ``queues`` from the real broker."""
    command = [
        sys.executable, "-m", "celery", "-A", "assistant", "worker",
        "-Q", queues, "--concurrency", str(concurrency), "--loglevel", "INFO",
        "--without-mingle", "--without-gossip", "-n", f"test-{os.getpid()}-{queues}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=process_env(**env), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class WebServer:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]


@contextmanager
def web_server(tmp_path: Path, **env: str) -> Iterator[WebServer]:
    """One uvicorn (ASGI) Docent process, as ``make run`` starts it, on a free port, with extra environment;
    ready once ``/healthz`` answers. Its log's tail is printed on exit (pytest shows it when a test fails)."""
    port = free_port()
    log = tmp_path / f"web-{port}.log"
    command = [
        sys.executable, "-m", "uvicorn", "assistant.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=process_env(LLM_CONFIG_CACHE_SECONDS="0", **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited: {log.read_text()}")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, timeout=90, what="uvicorn to answer /healthz")
        yield WebServer(url=url, log=log, proc=proc)
    finally:
        stop_process(proc)
        print(f"--- web log ---\n{log.read_text()[-6000:]}")
