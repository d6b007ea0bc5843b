"""``manage.py bench_ingestion``: ingestion throughput per embedding backend, against raw model.encode.

For each backend, the files go through the production job code: an uploader thread uploads them one by one
while the queue is drained as one worker drains it (claim a batch of small jobs -> parse -> chunk -> embed
together -> write), in this process (the Celery task calls the same two functions). Then the same
chunks are embedded once more with the bare encoder; the ratio of the two throughputs says how much the rest
of the pipeline costs. Documents created by the run are deleted at the end.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from ingestion import pipeline
from ingestion.models import Document, IngestionJob
from ingestion.services import Access, UploadRejected, delete_document, upload_document
from retrieval.embeddings import EMBEDDER_BACKENDS, Embedder
from retrieval.models import Chunk

DEFAULT_CORPUS = Path("/usr/share/doc/postgresql-doc-15/html")
RESULTS_PATH = Path(settings.BASE_DIR) / "bench" / "results" / "ingestion.json"


class Command(BaseCommand):
    help = "Benchmark ingestion (docs/s, chunks/s, pipeline vs raw encode) for each embedding backend."
    # (rejected files, created document ids, seconds) of the last run's uploader thread
    _uploads: tuple[int, list[int], float] = (0, [], 0.0)

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--corpus", type=Path, default=DEFAULT_CORPUS, help="Folder of files (default: %(default)s)"
        )
        parser.add_argument("--limit", type=int, default=100, help="First N files, sorted by name (0 = all)")
        parser.add_argument("--backends", default="onnx-int8,onnx,torch", help="Comma-separated backends")
        parser.add_argument("--quality", type=Path, help="JSON of nDCG@10 per backend (from eval_retrieval runs)")
        parser.add_argument("--repeat", type=int, default=3, help="Rounds per backend; medians are reported")
        parser.add_argument("--output", type=Path, default=RESULTS_PATH)

    def handle(self, *args: Any, **options: Any) -> None:
        corpus: Path = options["corpus"]
        if not corpus.is_dir():
            raise CommandError(f"{corpus} is not a folder (apt-get install postgresql-doc-15 for the default).")
        paths = sorted(path for path in corpus.iterdir() if path.is_file() and path.suffix in {".html", ".htm"})
        paths = paths[: options["limit"]] if options["limit"] else paths
        files = [(path.name, path.read_bytes()) for path in paths]
        results: dict[str, Any] = {}
        _vacuum_after_cleanup()  # what an earlier run left behind is not this run's work either
        load_before = os.getloadavg()
        for backend in [name.strip() for name in options["backends"].split(",") if name.strip()]:
            if backend not in EMBEDDER_BACKENDS:
                raise CommandError(f"Unknown backend {backend!r}; choose from {sorted(EMBEDDER_BACKENDS)}")
            embedder = EMBEDDER_BACKENDS[backend]()
            embedder.embed_passages(["warm-up"] * 8)
            # Pipeline and raw encode take turns, and the median of each counts: on a shared machine a burst of
            # someone else's work then hits both sides alike instead of skewing one.
            rounds = [self._run(backend, embedder, files) for _ in range(options["repeat"])]
            results[backend] = _median_round(rounds)
            self.stdout.write(json.dumps({backend: results[backend]}))
        quality = json.loads(options["quality"].read_text()) if options["quality"] else {}
        for backend, ndcg in quality.items():
            if backend in results:
                results[backend]["ndcg_at_10"] = ndcg
        report = {
            "corpus": str(corpus),
            "files": len(files),
            "bytes": sum(len(data) for _, data in files),
            "chunk_params": pipeline.chunk_params().version,
            "embedding_batch_size": settings.EMBEDDING_BATCH_SIZE,
            "machine": f"{platform.machine()}, {_cpus()} CPUs (shared)",
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "embedding_onnx_lanes": settings.EMBEDDING_ONNX_LANES,
            "batching": {
                "max_jobs": settings.INGESTION_BATCH_MAX_JOBS,
                "max_bytes": settings.INGESTION_BATCH_MAX_BYTES,
            },
            "backends": results,
            "recommended_default": _recommend(results),
        }
        options["output"].parent.mkdir(parents=True, exist_ok=True)
        options["output"].write_text(json.dumps(report, indent=2) + "\n")
        self._table(report)

    def _run(self, backend: str, embedder: Embedder, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        from django.test.utils import override_settings

        # The job code asks get_embedder(); pin this backend for the run. DEBUG off, as on a production worker:
        # with it on (DOCENT_DEV=1), Django records every query and formats its SQL.
        with override_settings(EMBEDDING_BACKEND=backend, INGESTION_MAX_CONCURRENT_JOBS=10_000, DEBUG=False):
            start = time.perf_counter()
            # Uploads and the worker run at once, as a folder upload (`manage.py ingest`) beside a running
            # worker does: an uploader thread queues the files while this thread drains the queue the way a
            # worker does (claim a batch, run it and further batches, until nothing is queued; then wait for
            # the next upload).
            uploaded: queue.Queue[int | None] = queue.Queue()
            uploader = threading.Thread(target=self._upload_all, args=(files, uploaded), name="bench-uploader")
            uploader.start()
            job_ids, tasks = [], 0
            with tqdm(total=len(files), desc=backend, unit="doc") as bar:
                while (job_id := uploaded.get()) is not None:
                    job_ids.append(job_id)
                    try:
                        jobs = pipeline.claim_batch(job_id=job_id)
                    except pipeline.JobNotClaimable:
                        continue  # already ran in an earlier batch
                    results = pipeline.run_and_drain(
                        jobs=jobs, embedder=embedder, drain_seconds=settings.INGESTION_DRAIN_SECONDS
                    )
                    tasks += 1
                    bar.update(len(results))
            uploader.join()
            pipeline_seconds = time.perf_counter() - start
        rejected, created, upload_seconds = self._uploads
        failed = rejected + IngestionJob.objects.filter(pk__in=job_ids).exclude(status="ready").count()
        texts = list(Chunk.objects.filter(document_id__in=created).order_by("pk").values_list("text", flat=True))
        start = time.perf_counter()
        embedder.embed_passages(texts)
        raw_seconds = time.perf_counter() - start
        for document in Document.objects.filter(pk__in=created):
            delete_document(document=document)
        _vacuum_after_cleanup()
        chunks = len(texts)
        return {
            "model_id": embedder.model_id,
            "documents": len(files) - failed,
            "failed": failed,
            "worker_tasks": tasks,
            "chunks": chunks,
            "pipeline_seconds": round(pipeline_seconds, 2),
            "upload_seconds": round(upload_seconds, 2),
            "docs_per_second": round((len(files) - failed) / pipeline_seconds, 2),
            "chunks_per_second": round(chunks / pipeline_seconds, 2),
            "raw_encode_seconds": round(raw_seconds, 2),
            "raw_chunks_per_second": round(chunks / raw_seconds, 2) if raw_seconds else None,
            "pipeline_vs_raw_encode": round(raw_seconds / pipeline_seconds, 3),
        }

    def _upload_all(self, files: list[tuple[str, bytes]], uploaded: queue.Queue[int | None]) -> None:
        """Upload every file (sniff, store, rows, audit), putting each job's id on ``uploaded``; None at the end."""
        started, rejected, created = time.perf_counter(), 0, list[int]()
        try:
            for name, data in files:
                try:
                    job = upload_document(
                        data=data, filename=name, owner=None, access=Access(is_public=True),
                        source=f"bench:{name}", enqueue=False,
                    )  # fmt: skip
                except UploadRejected:
                    rejected += 1
                    continue
                created.append(job.version.document_id)
                uploaded.put(job.pk)
        finally:
            uploaded.put(None)
            connection.close()  # this thread's own connection
            self._uploads = (rejected, created, time.perf_counter() - started)

    def _table(self, report: dict[str, Any]) -> None:
        self.stdout.write(f"\n{report['files']} files from {report['corpus']} ({report['machine']})")
        self.stdout.write("| backend | docs/s | chunks/s | raw encode chunks/s | pipeline/raw | nDCG@10 |")
        self.stdout.write("|---|---|---|---|---|---|")
        for backend, row in report["backends"].items():
            self.stdout.write(
                f"| {backend} | {row['docs_per_second']} | {row['chunks_per_second']} | "
                f"{row['raw_chunks_per_second']} | {row['pipeline_vs_raw_encode']:.0%} | {row.get('ndcg_at_10', '-')} |"
            )
        self.stdout.write(f"Recommended default: {report['recommended_default']}")


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from several rounds: median pipeline and raw-encode times (each round's ratio is kept too)."""
    pipeline_seconds = statistics.median(row["pipeline_seconds"] for row in rounds)
    raw_seconds = statistics.median(row["raw_encode_seconds"] for row in rounds)
    row = dict(rounds[0])
    documents, chunks = row["documents"], row["chunks"]
    row.update(
        rounds=len(rounds),
        pipeline_seconds=pipeline_seconds,
        upload_seconds=statistics.median(row["upload_seconds"] for row in rounds),
        docs_per_second=round(documents / pipeline_seconds, 2),
        chunks_per_second=round(chunks / pipeline_seconds, 2),
        raw_encode_seconds=raw_seconds,
        raw_chunks_per_second=round(chunks / raw_seconds, 2) if raw_seconds else None,
        pipeline_vs_raw_encode=round(raw_seconds / pipeline_seconds, 3),
        pipeline_vs_raw_encode_per_round=[round_row["pipeline_vs_raw_encode"] for round_row in rounds],
    )
    return row


def _recommend(results: dict[str, Any]) -> str | None:
    """The fastest backend whose nDCG@10 is within 0.005 of torch's (only backends with a quality figure)."""
    baseline = results.get("torch", {}).get("ndcg_at_10")
    eligible = [
        (row["chunks_per_second"], backend)
        for backend, row in results.items()
        if baseline is not None and row.get("ndcg_at_10") is not None and baseline - row["ndcg_at_10"] <= 0.005
    ]
    return max(eligible)[1] if eligible else None


# The tables a round writes and its cleanup deletes from (retrieval_posting and retrieval_termstat are kept by
# the chunk table's triggers).
_ROUND_TABLES = (
    "retrieval_chunk", "retrieval_posting", "retrieval_termstat", "retrieval_aclkeycount",
    "ingestion_document", "ingestion_documentversion", "ingestion_ingestionjob",
)  # fmt: skip


def _vacuum_after_cleanup() -> None:
    """Vacuum what the round's cleanup deleted, now: left to autovacuum, vacuuming ~13k deleted chunks (the
    HNSW index's repair above all) and their postings ran during the next round and was billed to its
    pipeline, as work that round did not cause."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(_ROUND_TABLES)}")


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
