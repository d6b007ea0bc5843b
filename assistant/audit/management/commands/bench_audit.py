"""``manage.py bench_audit``: what the guardrails cost: redaction per log line, the output guard per answer,
and appending an audit event (lock, head read, hash, insert) inside a transaction that is rolled back, so the
benchmark leaves no rows in the append-only log."""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from assistant.audit.models import Action
from assistant.audit.services import record_event
from assistant.guards.injection import neutralize
from assistant.guards.output_checks import OutputGuard, new_canary
from assistant.guards.redaction import redact

RESULTS_PATH = Path(settings.BASE_DIR) / "bench" / "results" / "guardrails.json"
LINES = {
    "short_plain": "GET /healthz 200",
    "typical_log": "ingestion job 1234 ready: 17 chunks (live=True) request_id=5f2b9c1e8a7d4e3f9b6c0a1d2e3f4a5b",
    "with_pii_and_key": "user jane.doe@example.com called +1 415-555-0199 with key sk-proj-Q3vX9aLmT7rP2wZk8YbN4c",
}
PASSAGE = (
    "Expense reports must be submitted within thirty days of the purchase, with a receipt for every item above "
    "twenty-five euros. Managers approve expense reports within one week. " * 4
)
ANSWER = "Expense reports are due within thirty days [1], with receipts above twenty-five euros [1]. " * 8


class _Rollback(Exception):
    pass


def _per_call_us(function: Callable[[], object], repeat: int) -> dict[str, float]:
    function()  # warm caches (the analyzer engine is built once per process)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95) - 1], 1),
    }


class Command(BaseCommand):
    help = "Benchmark redaction, the injection screen, the output guard and audit appends."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--repeat", type=int, default=300)
        parser.add_argument("--events", type=int, default=300)

    def handle(self, *args: Any, **options: Any) -> None:
        repeat = options["repeat"]
        results: dict[str, Any] = {"redact": {}}
        for name, line in LINES.items():
            results["redact"][name] = _per_call_us(functools.partial(redact, line), repeat)
        results["injection_screen_per_passage"] = _per_call_us(lambda: neutralize(PASSAGE), repeat)

        def guard_answer() -> None:
            guard = OutputGuard(canary=new_canary(), system_prompt=PASSAGE, allowed_hosts=[])
            for word in ANSWER.split(" "):
                guard.feed(word + " ")
            guard.finish()

        results["output_guard_per_answer"] = _per_call_us(guard_answer, max(20, repeat // 10))
        count = options["events"]
        started = time.perf_counter()
        try:
            with transaction.atomic():
                for i in range(count):
                    record_event(
                        action=Action.QUESTION, actor_name="bench", details={"i": i, "note": LINES["typical_log"]}
                    )
                elapsed = time.perf_counter() - started
                raise _Rollback
        except _Rollback:
            pass
        results["audit_append"] = {
            "events": count,
            "events_per_second": round(count / elapsed, 1),
            "note": "one writer, one transaction (rolled back); commits and lock waits between writers not included",
        }
        results["machine"] = {"python": platform.python_version(), "cpu_count": os.cpu_count()}
        RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
        self.stdout.write(json.dumps(results, indent=2))
        self.stdout.write(f"Written to {RESULTS_PATH}")
