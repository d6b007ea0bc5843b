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


def test_the_web_process_embeds_questions_without_spinning_threads() -> None:
    probe = (
        "import assistant.asgi; from retrieval.embeddings import get_embedder; "
        "options = get_embedder()._session.get_session_options(); "
        "print(options.get_session_config_entry('session.intra_op.allow_spinning'))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "assistant.settings", "EMBEDDING_BACKEND": "onnx-int8"}
    env.pop("EMBEDDING_ONNX_SPINNING", None)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0"
