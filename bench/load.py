"""Load test: N employees chatting over SSE against `make run`-style processes, plus an ingestion load.

    .venv/bin/python bench/load.py [--chats 500] [--overhead-concurrency 100] [--docs 2000]

Starts everything on loopback, in its own database (``docent_bench`` in the embedded PostgreSQL) and its own
redis-server: one uvicorn (ASGI) web process, Celery ingestion workers, and the loopback model server
(tests/fakes/llm_server.py) streaming ``--tokens`` tokens at ``--tokens-per-second``. Prints the figures and
writes bench/results/load.json.

Measured:
- chats: throughput, time to first token (TTFT) and total latency percentiles, error rate, peak RSS of each
  process, at ``--chats`` concurrent streams (all sent at once: the capacity test) and at
  ``--overhead-concurrency``;
- gateway + retrieval overhead on TTFT: Docent's TTFT minus the model server's own TTFT, measured directly
  against the model server with the same arrival pattern. Two patterns: employees arriving one after another
  over ``--ramp-seconds`` (the target figure: N employees chatting, so N streams open at once at the end of
  the ramp, when it is as long as one answer), and all N questions sent in the same millisecond (the burst,
  a worst case: every question's CPU work is queued behind all the others);
- ingestion: ``--docs`` small documents queued at once, drained by one and then by two worker processes
  (docs/s), with the web p95 of light API traffic before and during each run. ``--worker-nice N`` runs the
  workers at a lower CPU priority (as the Procfile runs its worker: nice 19), plus one more run with one
  worker at normal priority for comparison (docs/performance.md, "Ingestion burst").
  ``--web-cpus 0 --worker-cpus 1`` pins the web process and the workers to their own cores, as separate pods
  with CPU requests are on a cluster (each worker then encodes on one lane: EMBEDDING_ONNX_LANES defaults
  to the CPUs a process may use). The embedded PostgreSQL, Redis and the load client stay unpinned.
- interference (``--interference``): the same light API traffic with reference processes at the lowest CPU
  priority (nice 19) running beside the web instead of workers: two CPU-bound loops, then one and two loops
  copying 64 MB arrays (memory bandwidth), each between idle phases. It tells what any work on the same cores
  costs the web on this machine, whatever its priority, next to what ingestion costs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "load.json"
DATABASE = "docent_bench"
QUESTION = "How many days of paid leave do employees get, and how do they book travel?"

SETUP = """
import json, os
from decimal import Decimal
from accounts.models import User
from accounts.services import create_api_token
from assistant.llm.services import DeploymentSpec, configure_route
from ingestion.services import TextItem, ingest_text_documents
from ingestion.models import Document
args = json.loads(os.environ["BENCH_ARGS"])
configure_route(name="chat", chain=[DeploymentSpec(
    name="bench-model", provider="openai_compatible", model_id="gpt-4o-mini-2024-07-18",
    base_url=args["model_url"], timeout_seconds=120, max_output_tokens=1024,
    input_per_million_usd=Decimal("0.15"), output_per_million_usd=Decimal("0.60"))])
if not Document.objects.filter(source="bench").exists():
    texts = [
        ("Leave policy", "Employees receive 25 days of paid leave per year. Leave is booked in the HR portal."),
        ("Travel policy", "Business travel is booked through the travel portal two weeks before departure."),
        ("Expenses", "Expense reports are submitted within thirty days with a receipt for items above 25 euros."),
    ]
    ingest_text_documents([TextItem(title=t, text=(x + " ") * 8, external_id="bench") for t, x in texts],
                          owner=None, is_public=True)
    Document.objects.filter(title__in=[t for t, _ in texts]).update(source="bench")
tokens = []
for n in range(args["users"]):
    user, _ = User.objects.get_or_create(username=f"bench-{n}", defaults={"email": f"bench-{n}@example.com"})
    tokens.append(create_api_token(user=user, name="bench").raw)
curator = User.objects.get_or_create(username="bench-curator")[0]
print(json.dumps({"tokens": tokens}))
"""

QUEUE_DOCS = """
import json, os
from ingestion.services import Access, upload_document
from accounts.models import User
args = json.loads(os.environ["BENCH_ARGS"])
owner = User.objects.get(username="bench-curator")
ids = []
for n in range(args["docs"]):
    text = f"Note {args['tag']}-{n}: the {n % 17} service restarts on Tuesdays; check dashboard {n % 23}.\\n"
    job = upload_document(data=text.encode() * 3, filename=f"note-{args['tag']}-{n}.txt", owner=owner,
                          access=Access(is_public=True))
    ids.append(job.pk)
print(json.dumps({"first": min(ids), "last": max(ids)}))
"""

MODEL_SERVER = """
import sys, threading
from tests.fakes import llm_server
llm_server._Server.request_queue_size = 2048  # many streams connect at once
words = " ".join(f"word{n}" for n in range(int(sys.argv[2])))
server = llm_server.FakeLLMServer(int(sys.argv[1]))
server.set_default(llm_server.Behaviour(answer=words, token_delay=1.0 / float(sys.argv[3])))
server.__enter__()
print(server.port, flush=True)
threading.Event().wait()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": round(max(values), 1) if values else None,
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a Celery worker's pool), in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return round(total / 1024, 1)


class Stack:
    """The processes under test; each started here is stopped here, by its own pid."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.peak_rss: dict[str, float] = {}
        self.redis_port = free_port()
        self.env = dict(os.environ)
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "assistant.settings",
                "DOCENT_DEV": "1",
                "DEBUG": "0",
                "PYTHONUNBUFFERED": "1",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "EMBEDDED_PG_DATABASE": DATABASE,
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "EMBEDDING_BACKEND": args.embedding_backend,
                "MEDIA_ROOT": str(workdir / "media"),
                "LOG_LEVEL": "WARNING",
                # Limits raised for the bench: every bench user chats at once, many times.
                "LLM_RATE_LIMIT_PER_USER_PER_MINUTE": "100000",
                "LLM_RATE_LIMIT_PER_ENDPOINT_PER_MINUTE": "1000000",
                "INGESTION_MAX_CONCURRENT_JOBS": "8",
                "INGESTION_HEARTBEAT_TIMEOUT_SECONDS": "600",
                # A bounded pool: streams beyond it wait for a connection instead of being refused.
                "DB_POOL_MAX_SIZE": str(args.db_pool),
                "DB_POOL_TIMEOUT": "300",
            }
        )

    def start(self, name: str, command: list[str], cpus: set[int] | None = None, **env: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        if cpus:  # taskset (util-linux), not preexec_fn: this process runs threads
            command = ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus))), *command]
        proc = subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def sample_rss(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), rss_mb(proc.pid))

    def manage(self, code: str, payload: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(  # noqa: S603 - our own code
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**self.env, "BENCH_ARGS": json.dumps(payload)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise SystemExit(f"setup failed:\n{done.stdout}\n{done.stderr}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def cpu_list(text: str) -> set[int]:
    """``0`` or ``0,1``: the CPUs a process may run on (sched_setaffinity)."""
    return {int(part) for part in text.split(",") if part.strip()}


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout}s")


@dataclass
class ChatResult:
    ok: bool
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens: int = 0
    error: str = ""


@dataclass
class Run:
    results: list[ChatResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    peak_streams: int = 0


@dataclass
class Streams:
    """How many streams are open at once (the concurrency a run really reached)."""

    open: int = 0
    peak: int = 0

    def opened(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        self.open -= 1


async def one_chat(client: httpx.AsyncClient, url: str, token: str, conversation: int) -> ChatResult:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    event = ""
    try:
        async with client.stream(
            "POST", f"{url}/api/v1/conversations/{conversation}/messages/", json={"content": QUESTION}, headers=headers
        ) as response:
            if response.status_code != 200:
                return ChatResult(ok=False, error=f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    if event == "token":
                        # Tokens that piled up go out as one event: count the words ("word12 ") in it.
                        tokens += len(json.loads(line[5:])["text"].split())
                        if first is None:
                            first = time.perf_counter()
                    elif event == "error":
                        return ChatResult(ok=False, error=line[5:].strip()[:200])
                    elif event == "done":
                        done = time.perf_counter()
                        if first is None:
                            return ChatResult(ok=False, error="done without tokens")
                        return ChatResult(True, (first - started) * 1000, (done - started) * 1000, tokens)
    except httpx.HTTPError as exc:
        return ChatResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
    return ChatResult(ok=False, error="stream ended without done")


async def chat_run(
    url: str, tokens: list[str], conversations: list[int], stack: Stack, ramp_seconds: float = 0.0
) -> Run:
    """One question per user; user ``i`` starts at ``i * ramp_seconds / n`` (all at once without a ramp)."""
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens) + 10)
    timeout = httpx.Timeout(300, connect=60)
    sampling = True
    streams = Streams()

    async def sample() -> None:
        while sampling:
            stack.sample_rss()
            await asyncio.sleep(0.5)

    async def user(client: httpx.AsyncClient, n: int, token: str, chat: int) -> ChatResult:
        await asyncio.sleep(n * ramp_seconds / len(tokens))
        streams.opened()
        try:
            return await one_chat(client, url, token, chat)
        finally:
            streams.closed()

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        pairs = enumerate(zip(tokens, conversations, strict=True))
        results = await asyncio.gather(*(user(client, n, token, chat) for n, (token, chat) in pairs))
        wall = time.perf_counter() - started
        sampling = False
        await sampler
    return Run(results=list(results), wall_seconds=wall, peak_streams=streams.peak)


async def model_ttft(model_url: str, concurrency: int, ramp_seconds: float = 0.0) -> tuple[list[float], int]:
    """The model server's own TTFT (first content delta of a direct streaming call) with the same arrival
    pattern as the chats; each stream is read to its end, so as many are open at once. Returns the TTFTs and
    the peak number of open streams."""
    streams = Streams()

    async def one(client: httpx.AsyncClient, n: int) -> float | None:
        await asyncio.sleep(n * ramp_seconds / concurrency)
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
        started = time.perf_counter()
        first: float | None = None
        streams.opened()
        try:
            async with client.stream("POST", f"{model_url}/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if first is None and line.startswith("data:") and '"content": "word' in line:
                        first = (time.perf_counter() - started) * 1000
        finally:
            streams.closed()
        return first

    limits = httpx.Limits(max_connections=concurrency + 10)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300, connect=60)) as client:
        values = await asyncio.gather(*(one(client, n) for n in range(concurrency)))
    return [v for v in values if v is not None], streams.peak


def describe(run: Run, concurrency: int) -> dict[str, Any]:
    ok = [r for r in run.results if r.ok]
    errors = [r.error for r in run.results if not r.ok]
    return {
        "concurrency": concurrency,
        "peak_open_streams": run.peak_streams,
        "completed": len(ok),
        "errors": len(errors),
        "error_rate": round(len(errors) / max(len(run.results), 1), 4),
        "error_examples": sorted(set(errors))[:5],
        "wall_seconds": round(run.wall_seconds, 1),
        "chats_per_second": round(len(ok) / run.wall_seconds, 2) if run.wall_seconds else None,
        "tokens_per_second": round(sum(r.tokens for r in ok) / run.wall_seconds, 1) if run.wall_seconds else None,
        "ttft_ms": summary([r.ttft_ms for r in ok if r.ttft_ms is not None]),
        "total_ms": summary([r.total_ms for r in ok if r.total_ms is not None]),
    }


async def light_traffic(url: str, token: str, stop: asyncio.Event) -> list[float]:
    """Four clients in a loop on cheap API calls (who am I, list conversations): the web's own latency."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def loop(client: httpx.AsyncClient, path: str) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.get(f"{url}{path}", headers=headers)
            if response.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(loop(client, p) for p in ["/api/v1/me/", "/api/v1/conversations/"] * 2))
    return latencies


# Reference work for --interference: pure CPU (a Python loop, nothing in memory), and memory bandwidth (copying
# 64 MB, far beyond the caches), the two kinds of load an ingestion worker and its database backend put on a host.
INTERFERENCE = {
    "cpu": "while True: pass",
    "memory": "import numpy as np\na = np.ones(8 * 2**20); b = np.empty_like(a)\nwhile True: np.copyto(b, a)",
}


async def interference_run(stack: Stack, url: str, token: str, seconds: float) -> list[dict[str, Any]]:
    """Web latency idle, and with reference processes at nice 19 beside it (two CPU loops, one and two memory
    loops), each phase followed by an idle one so that drift shows."""
    phases: list[dict[str, Any]] = [{"load": "idle", "processes": 0, **summary(await measure_web(url, token, seconds))}]
    for kind, count in (("cpu", 2), ("memory", 1), ("memory", 2)):
        names = [f"interference-{kind}-{count}-{n}" for n in range(count)]
        for name in names:
            stack.start(name, ["nice", "-n", "19", sys.executable, "-c", INTERFERENCE[kind]])
        try:
            await asyncio.sleep(1)
            phases.append({"load": kind, "processes": count, **summary(await measure_web(url, token, seconds))})
        finally:
            for name in names:
                stack.stop(name)
        phases.append({"load": "idle", "processes": 0, **summary(await measure_web(url, token, seconds))})
    for phase in phases:
        print(json.dumps(phase), flush=True)
    return phases


async def measure_web(url: str, token: str, seconds: float) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(light_traffic(url, token, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


# Runs in one long-lived `manage.py shell` per ingestion run: a line of JSON in, a line of counts out. Spawning a
# Django process for every poll (every 5 s) cost about a second of CPU each time, on the cores the web and the
# workers share, and showed up as web latency "during ingestion".
COUNT_FINISHED = """
import datetime, json, sys
from ingestion.models import IngestionJob
done = ["ready", "failed"]
for line in sys.stdin:
    a = json.loads(line)
    since = datetime.datetime.fromtimestamp(a["since"], datetime.timezone.utc)
    batch = IngestionJob.objects.filter(pk__gte=a["first"], pk__lte=a["last"], status__in=done).count()
    every = IngestionJob.objects.filter(status__in=done, finished_at__gte=since).count()
    print(json.dumps({"batch": batch, "all": every}), flush=True)
"""


class FinishedCounter:
    """(jobs of this batch finished, jobs of any batch finished since ``since``): an earlier run's batch left in
    the queue is ahead of this one, so throughput counts every job the workers finished."""

    def __init__(self, stack: Stack) -> None:
        self._proc = subprocess.Popen(  # noqa: S603 - our own code
            [sys.executable, "manage.py", "shell", "-c", COUNT_FINISHED],
            cwd=ROOT,
            env=stack.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def count(self, first: int, last: int, since: float) -> tuple[int, int]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"first": first, "last": last, "since": since}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        while not line.startswith("{"):  # the shell's own notes ("N objects imported automatically")
            if not line:
                raise SystemExit("the counting process ended")
            line = self._proc.stdout.readline()
        counts = json.loads(line)
        return int(counts["batch"]), int(counts["all"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


async def ingestion_run(
    stack: Stack, url: str, token: str, workers: int, docs: int, cap: float, nice: int
) -> dict[str, Any]:
    counter = FinishedCounter(stack)
    counter.count(0, 0, time.time())  # Django is loaded before the web is measured
    baseline = await measure_web(url, token, 8)
    queued = stack.manage(QUEUE_DOCS, {"docs": docs, "tag": f"w{workers}-n{nice}-{int(time.time())}"})
    started = time.perf_counter()
    since = time.time()
    for n in range(workers):
        stack.start(
            f"worker-{workers}-{n}",
            [
                "nice", "-n", str(nice),
                sys.executable, "-m", "celery", "-A", "assistant", "worker", "-Q", "ingestion",
                "--concurrency", "1", "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
                "-n", f"bench{workers}-{n}@%h",
            ],
            cpus=stack.args.worker_cpus,
        )  # fmt: skip
    stop = asyncio.Event()
    during_task = asyncio.create_task(light_traffic(url, token, stop))
    batch = done = 0
    while time.perf_counter() - started < cap:
        await asyncio.sleep(1)  # a cheap poll (one query on the counting process's connection): seconds to ±1 s
        stack.sample_rss()
        batch, done = await asyncio.to_thread(counter.count, queued["first"], queued["last"], since)
        if batch >= docs:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    during = await during_task
    counter.close()
    for n in range(workers):
        stack.stop(f"worker-{workers}-{n}")
    return {
        "workers": workers,
        "worker_nice": nice,
        "worker_cpus": sorted(stack.args.worker_cpus) if stack.args.worker_cpus else "any",
        "web_cpus": sorted(stack.args.web_cpus) if stack.args.web_cpus else "any",
        "docs_queued": docs,
        "docs_finished": done,
        "batch_finished": batch,
        "seconds": round(elapsed, 1),
        "docs_per_second": round(done / elapsed, 2),
        "finished_within_cap": batch >= docs,
        "web_ms_before": summary(baseline),
        "web_ms_during": summary(during),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = ROOT / "var" / "bench-load"
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(args, workdir)
    results: dict[str, Any] = {}
    try:
        stack.start("redis", ["redis-server", "--port", str(stack.redis_port), "--save", "", "--appendonly", "no"])
        model_port = free_port()
        stack.start(
            "model",
            [sys.executable, "-c", MODEL_SERVER, str(model_port), str(args.tokens), str(args.tokens_per_second)],
        )
        model_url = f"http://127.0.0.1:{model_port}/v1"
        wait_http(f"http://127.0.0.1:{model_port}/")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=stack.env, check=True)
        users = max(args.chats, args.overhead_concurrency)
        setup = stack.manage(SETUP, {"model_url": model_url, "users": users})
        tokens: list[str] = setup["tokens"]
        web_port = free_port()
        if args.web_workers == 1:
            # What `make run` starts: one uvicorn process.
            stack.start(
                "web",
                [
                    sys.executable, "-m", "uvicorn", "assistant.asgi:application", "--host", "127.0.0.1",
                    "--port", str(web_port), "--log-level", "warning", "--no-access-log", "--backlog", "4096",
                ],
                cpus=args.web_cpus,
            )  # fmt: skip
        else:
            # What the image and deploy/k8s run: gunicorn with WEB_CONCURRENCY uvicorn workers.
            stack.start(
                "web",
                [
                    sys.executable, "-m", "gunicorn", "assistant.asgi:application", "-c", "deploy/gunicorn.conf.py",
                    "--bind", f"127.0.0.1:{web_port}", "--log-level", "warning", "--access-logfile", "/dev/null",
                    "--backlog", "4096",
                ],
                cpus=args.web_cpus,
                WEB_CONCURRENCY=str(args.web_workers),
            )  # fmt: skip
        url = f"http://127.0.0.1:{web_port}"
        wait_http(f"{url}/healthz")
        async with httpx.AsyncClient(timeout=120) as client:
            conversations = []
            for token in tokens:
                response = await client.post(
                    f"{url}/api/v1/conversations/", json={}, headers={"Authorization": f"Bearer {token}"}
                )
                response.raise_for_status()
                conversations.append(int(response.json()["id"]))
        # Warm-up: load the embedding model and open connections before anything is timed.
        await chat_run(url, tokens[:4], conversations[:4], stack)

        if not args.skip_chats:
            n = args.overhead_concurrency
            for key, ramp in (("chat_overhead", args.ramp_seconds), ("chat_overhead_burst", 0.0)):
                own, model_peak = await model_ttft(model_url, n, ramp)
                overhead_run = await chat_run(url, tokens[:n], conversations[:n], stack, ramp)
                at_n = describe(overhead_run, n)
                model = summary(own)
                overhead = {
                    q: round(at_n["ttft_ms"][q] - model[q], 1)
                    for q in ("p50", "p95")
                    if at_n["ttft_ms"][q] is not None and model[q] is not None
                }
                results[key] = {
                    "arrival": f"one user every {ramp / n * 1000:.0f} ms over {ramp:g} s" if ramp else "all at once",
                    **at_n,
                    "model_server_ttft_ms": model,
                    "model_server_peak_open_streams": model_peak,
                    "overhead_ttft_ms": overhead,
                }
                print(json.dumps(results[key], indent=1), flush=True)

            big = await chat_run(url, tokens[: args.chats], conversations[: args.chats], stack)
            results["chat_max"] = describe(big, args.chats)
            print(json.dumps(results["chat_max"], indent=1), flush=True)
            results["peak_rss_mb_chats"] = dict(stack.peak_rss)

        if args.docs:
            stack.peak_rss = {}
            ingest: list[dict[str, Any]] = []
            # One and two workers at --worker-nice; if that is not 0, one more worker at normal priority.
            runs = [(1, args.worker_nice), (2, args.worker_nice)] + ([(1, 0)] if args.worker_nice else [])
            for workers, nice in runs:
                ingest.append(await ingestion_run(stack, url, tokens[0], workers, args.docs, args.ingestion_cap, nice))
                print(json.dumps(ingest[-1], indent=1), flush=True)
            results["ingestion"] = ingest
            results["peak_rss_mb_ingestion"] = dict(stack.peak_rss)
        if args.interference:
            results["interference"] = await interference_run(stack, url, tokens[0], 20)
    finally:
        stack.stop_all()
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=500, help="concurrent streaming chats (the big run)")
    parser.add_argument("--overhead-concurrency", type=int, default=100)
    parser.add_argument(
        "--ramp-seconds", type=float, default=10.0, help="arrival of the overhead run's users (one answer's length)"
    )
    parser.add_argument("--worker-nice", type=int, default=0, help="CPU priority (nice) of ingestion workers")
    parser.add_argument("--web-cpus", type=cpu_list, default=None, help="CPUs of the web process, e.g. 0")
    parser.add_argument("--worker-cpus", type=cpu_list, default=None, help="CPUs of the ingestion workers, e.g. 1")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per answer")
    parser.add_argument("--tokens-per-second", type=float, default=30.0)
    parser.add_argument("--docs", type=int, default=2000, help="documents queued at once (0: skip ingestion)")
    parser.add_argument("--ingestion-cap", type=float, default=600, help="seconds per ingestion run at most")
    parser.add_argument("--embedding-backend", default="onnx-int8")
    parser.add_argument("--skip-chats", action="store_true", help="only the ingestion load")
    parser.add_argument(
        "--interference", action="store_true", help="web latency beside reference CPU and memory loads at nice 19"
    )
    parser.add_argument("--db-pool", type=int, default=40, help="DB_POOL_MAX_SIZE of each process (0: no pool)")
    parser.add_argument("--merge", action="store_true", help="keep the other sections of an existing load.json")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=1,
        help="1: one uvicorn process (make run); N: gunicorn with N uvicorn workers (deploy/gunicorn.conf.py)",
    )
    parser.add_argument(
        "--note",
        default="2-core machine; load client and model server on the same cores",
        help="what else ran on the machine (recorded with the load averages)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.time()
    results = asyncio.run(main(args))
    report = {
        "command": "python bench/load.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "note": args.note,
        },
        "settings": {
            "tokens": args.tokens,
            "tokens_per_second": args.tokens_per_second,
            "embedding_backend": args.embedding_backend,
            "web": "one uvicorn (ASGI) process"
            if args.web_workers == 1
            else f"gunicorn with {args.web_workers} uvicorn workers (deploy/gunicorn.conf.py)",
            "db_pool_max_size": args.db_pool,
            "ramp_seconds": args.ramp_seconds,
            "worker_nice": args.worker_nice,
            "web_cpus": sorted(args.web_cpus) if args.web_cpus else "any",
            "worker_cpus": sorted(args.worker_cpus) if args.worker_cpus else "any",
        },
        "duration_seconds": round(time.time() - started, 1),
        **results,
    }
    if args.merge and args.results.exists():
        previous = json.loads(args.results.read_text())
        previous.setdefault("runs", []).append({k: previous.get(k) for k in ("command", "machine", "duration_seconds")})
        report = {**previous, **report}
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.results}")
    machine = report["machine"]
    print(f"load average before {machine['load_average_before']}, after {machine['load_average_after']}")


if __name__ == "__main__":
    cli()
