"""With PROMETHEUS_MULTIPROC_DIR (several gunicorn workers), /metrics serves the sum over all workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.processes import REPO_ROOT, process_env


def run(action: str, directory: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.observability.multiproc_probe", action],
        cwd=REPO_ROOT,
        env=process_env(PROMETHEUS_MULTIPROC_DIR=str(directory), LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_counters_from_several_worker_processes_are_added_up(db: None, tmp_path: Path) -> None:
    run("inc", tmp_path)
    run("inc", tmp_path)
    text = run("scrape", tmp_path)
    assert 'docent_feedback_total{rating="down"} 2.0' in text
    assert "docent_ingestion_jobs" in text  # the scrape-time gauges are served in this mode too
