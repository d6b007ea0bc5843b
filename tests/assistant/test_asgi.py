"""The ASGI entry point that uvicorn and gunicorn load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_objects_created_at_startup_are_frozen_out_of_garbage_collection() -> None:
    # A fresh interpreter: what a web worker does when it loads the application.
    probe = "import gc, assistant.asgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "assistant.settings"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) > 100_000
