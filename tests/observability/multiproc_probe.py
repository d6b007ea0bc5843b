"""A child process in Prometheus multiprocess mode: ``inc`` counts one thumbs-down, ``scrape`` prints what
``/metrics`` would serve (aggregated over every process that wrote to PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import sys

import django

django.setup()

from prometheus_client import generate_latest  # noqa: E402

from assistant.observability.metrics import FEEDBACK, registry  # noqa: E402

if sys.argv[1] == "inc":
    FEEDBACK.labels("down").inc()
else:
    sys.stdout.write(generate_latest(registry()).decode())
