"""``manage.py bench_gateway``: the latency the gateway adds on top of the provider.

Starts the loopback OpenAI/Anthropic fake (tests/fakes/llm_server.py) in its own process, then, in one run
and interleaved call by call, streams the same request (1) straight to it with the official ``openai`` SDK
and (2) through ``stream_completion`` on a temporary route pointing at it. Reports p50/p95 of time to first
token and of total time for both, and what the gateway adds, to bench/results/gateway.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from assistant.llm.gateway import stream_completion
from assistant.llm.models import LLMCall, Route
from assistant.llm.services import DeploymentSpec, configure_route
from assistant.llm.types import ChatMessage, CompletionRequest, DoneEvent, TokenEvent

ROUTE = "bench-gateway"
MODEL = "gpt-4o-mini-2024-07-18"
TARGET_ADDED_P95_MS = 5.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 50), 3),
        "p95_ms": round(_percentile(values, 95), 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


class Command(BaseCommand):
    help = "Measure the gateway's added latency (TTFT and total) against the loopback fake provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=300, help="Measured calls per path.")
        parser.add_argument("--warmup", type=int, default=30)
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "bench" / "results" / "gateway.json"))

    def handle(self, *args: Any, **options: Any) -> None:
        fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.llm_server"],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert fake.stdout is not None
            port = int(fake.stdout.readline().strip())
            base_url = f"http://127.0.0.1:{port}/v1"
            configure_route(
                name=ROUTE,
                chain=[
                    DeploymentSpec(
                        name=f"{ROUTE}-openai", provider="openai_compatible", model_id=MODEL, base_url=base_url
                    )
                ],
            )
            try:
                results = asyncio.run(self._measure(base_url, options["requests"], options["warmup"]))
            finally:
                Route.objects.filter(name=ROUTE).delete()
                LLMCall.objects.filter(route=ROUTE).delete()
        finally:
            fake.terminate()
            fake.wait(timeout=10)
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
        for metric in ("ttft", "total", "closed"):
            added, noise = results["added"][metric], results["noise_floor_direct_vs_direct"][metric]
            self.stdout.write(
                f"{metric:>6}: direct p50 {results['direct'][metric]['p50_ms']} ms, gateway p50 "
                f"{results['gateway'][metric]['p50_ms']} ms; added p50 {added['p50_ms']} / p95 {added['p95_ms']} ms "
                f"(noise floor p95 {noise['p95_ms']} ms; p95 of gateway minus p95 of direct "
                f"{results['added_p95_of_percentiles_ms'][metric]} ms)"
            )
        verdict = "meets" if results["added_p95_of_percentiles_ms"]["total"] <= TARGET_ADDED_P95_MS else "misses"
        self.stdout.write(f"target <= {TARGET_ADDED_P95_MS} ms p95 added (total): {verdict}")
        self.stdout.write(f"written to {output}")

    async def _measure(self, base_url: str, count: int, warmup: int) -> dict[str, Any]:
        client = openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=0, timeout=httpx2.Timeout(60.0))
        messages = [ChatMessage("system", "Answer from the passages."), ChatMessage("user", "How many days of leave?")]
        request = CompletionRequest(
            route=ROUTE, messages=messages, question="How many days of leave?", request_id="bench"
        )

        async def direct() -> tuple[float, float, float]:
            # Exactly what the provider does with the SDK (same arguments, ``async with`` so the connection
            # goes back to the pool at once), minus everything the gateway adds around it.
            started = time.perf_counter()
            ttft = 0.0
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": messages[0].content},
                    {"role": "user", "content": messages[1].content},
                ],
                max_tokens=1024,
                temperature=0.2,
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    if not ttft and chunk.choices and chunk.choices[0].delta.content:
                        ttft = time.perf_counter() - started
            total = time.perf_counter() - started
            return ttft, total, total

        async def gateway() -> tuple[float, float, float]:
            started = time.perf_counter()
            ttft = done = 0.0
            async for event in stream_completion(request):
                if isinstance(event, TokenEvent):
                    ttft = ttft or time.perf_counter() - started
                elif isinstance(event, DoneEvent):
                    done = time.perf_counter() - started  # the answer is complete for the user here
                else:
                    raise RuntimeError(f"gateway failed during the benchmark: {event}")
            # After the DoneEvent the gateway writes the usage row, reports to the breaker and settles.
            return ttft, done, time.perf_counter() - started

        for _ in range(warmup):
            await direct()
            await gateway()
            await direct()
        metrics = ("ttft", "total", "closed")
        paths = ("direct", "gateway", "direct_again")
        samples: dict[str, dict[str, list[float]]] = {p: {m: [] for m in metrics} for p in paths}
        added: dict[str, list[float]] = {m: [] for m in metrics}
        # direct_again minus direct: what two identical paths differ by on this machine (the noise floor).
        noise: dict[str, list[float]] = {m: [] for m in metrics}
        for index in range(count):
            order: list[tuple[str, Callable[[], Awaitable[tuple[float, float, float]]]]] = [
                ("direct", direct),
                ("gateway", gateway),
                ("direct_again", direct),
            ]
            order = order[index % 3 :] + order[: index % 3]  # rotate: no path always runs first
            pair: dict[str, tuple[float, float, float]] = {}
            for name, run in order:
                pair[name] = await run()
            for position, metric in enumerate(metrics):
                for name in paths:
                    samples[name][metric].append(pair[name][position] * 1000)
                added[metric].append((pair["gateway"][position] - pair["direct"][position]) * 1000)
                noise[metric].append((pair["direct_again"][position] - pair["direct"][position]) * 1000)
        return {
            "benchmark": "gateway added latency (stream, loopback OpenAI-compatible fake, same SDK)",
            "requests_per_path": count,
            "warmup_per_path": warmup,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "direct": {metric: _summary(values) for metric, values in samples["direct"].items()},
            "gateway": {metric: _summary(values) for metric, values in samples["gateway"].items()},
            "direct_again": {metric: _summary(values) for metric, values in samples["direct_again"].items()},
            # Percentiles of the per-call difference (gateway minus direct, paired calls). "total": until the
            # answer is complete (DoneEvent); "closed": until the gateway has also finished its bookkeeping.
            "added": {metric: _summary(values) for metric, values in added.items()},
            "noise_floor_direct_vs_direct": {metric: _summary(values) for metric, values in noise.items()},
            "added_p95_of_percentiles_ms": {
                metric: round(
                    _percentile(samples["gateway"][metric], 95) - _percentile(samples["direct"][metric], 95), 3
                )
                for metric in metrics
            },
            "target_added_p95_ms": TARGET_ADDED_P95_MS,
            "config_cache_seconds": settings.LLM_CONFIG_CACHE_SECONDS,
            "load_average_at_end": list(os.getloadavg()),
            "cpu_count": os.cpu_count(),
        }
