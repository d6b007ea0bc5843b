"""Fault tests: real Docent processes on loopback, with dependencies this test owns (its own redis-server,
its own embedded PostgreSQL) so that killing them never touches the machine's services or the test database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from accounts.models import User
from tests.processes import REPO_ROOT, free_port, process_env, stop_process, wait_until


@dataclass
class RedisServer:
    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Append-only file, as docs/deploy.md asks of the broker: queued messages survive a restart.
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
        ]  # fmt: skip
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=20, what="redis-server to answer PING")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


@contextmanager
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(port=free_port(), directory=directory)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            stop_process(server.proc)


def manage(*args: str, **env: str) -> str:
    """Run ``manage.py`` in a child process with this environment; returns its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def engineering(db: None) -> Group:
    return Group.objects.create(name="engineering")


@pytest.fixture
def alice(engineering: Group) -> User:
    user = User.objects.create_user("alice", "alice@example.com", "pw")
    user.groups.add(engineering)
    return user


@pytest.fixture
def media_root(tmp_path: Path, settings: object) -> Path:
    """Blobs in this test's own folder."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root  # type: ignore[attr-defined]
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root
