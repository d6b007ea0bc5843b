"""A niced worker's database backend runs at the worker's niceness; an un-niced process's is left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import REPO_ROOT, process_env

# What a Celery worker process does at start (the real signal, through assistant/celery.py's wiring), then the
# pid of the backend its first connection got and that backend's niceness as the OS reports it.
_WORKER_START = """
import os
import django
django.setup()
from celery.signals import worker_init
import assistant.celery
worker_init.send(sender=None)
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
print(pid, os.getpriority(os.PRIO_PROCESS, pid))
"""


def _start_worker_at(niceness: int) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER_START],
        cwd=REPO_ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.nice(niceness),
        check=True,
    )
    pid, backend_niceness = done.stdout.split()
    return int(pid), int(backend_niceness)


def _server_niceness() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory')")
        data_directory = Path(cursor.fetchone()[0])
    postmaster_pid = int((data_directory / "postmaster.pid").read_text().split()[0])
    return os.getpriority(os.PRIO_PROCESS, postmaster_pid)


@pytest.mark.django_db
def test_a_niced_worker_gives_its_backend_its_niceness() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    server = _server_niceness()
    target = min(19, max(own, server) + 7)
    _, backend_niceness = _start_worker_at(target - own)
    assert server < target
    assert backend_niceness == target


@pytest.mark.django_db
def test_a_process_at_normal_priority_leaves_its_backend_alone() -> None:
    if os.getpriority(os.PRIO_PROCESS, 0) > 0:
        pytest.skip("this test run is niced itself")
    _, backend_niceness = _start_worker_at(0)
    assert backend_niceness == _server_niceness()
