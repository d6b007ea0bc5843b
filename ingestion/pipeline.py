"""The ingestion pipeline: parse -> chunk -> embed -> write, for one job or a batch of small ones, with job
state in the database.

Job state is claimed with a conditional UPDATE so that any worker on any machine may run or resume a job;
the heartbeat written at every stage lets the watchdog (and a redelivered task) tell a dead run from a slow
one. Writing is idempotent: chunks of a version are replaced in one transaction, never appended.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypedDict, TypeVar

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ingestion.chunking import ChunkDraft, ChunkParams, chunk_document
from ingestion.metrics import observe_job_end
from ingestion.models import Document, DocumentVersion, IngestionJob
from ingestion.parsers import PARSERS, ParseError, UnsupportedType, detect_type
from ingestion.storage import read_blob
from retrieval.access import acl_for_document
from retrieval.embeddings import Embedder, Vectors
from retrieval.services import DocumentChunks, NewChunk, replace_chunks_of_documents

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

Status = IngestionJob.Status
RUNNING = (Status.PARSING, Status.CHUNKING, Status.EMBEDDING)
# Progress at the start of each stage; embedding fills the span up to WRITING.
PARSING, CHUNKING, EMBEDDING, WRITING = 2, 10, 20, 95
# Arbitrary constant naming the advisory lock that serialises claims (for the concurrency cap).
_CLAIM_LOCK = 0x1D0C_E5E7


# Worth another try: the store or the database was briefly unreachable. A bad file never is.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    OperationalError,
    InterfaceError,
    BotoCoreError,
    ClientError,
)


class JobNotClaimable(Exception):
    """The job is finished, or is running elsewhere, or the concurrency cap is reached. ``retry_later``
    says whether the task should come back (running elsewhere / cap) or simply stop (finished)."""

    def __init__(self, reason: str, *, retry_later: bool) -> None:
        super().__init__(reason)
        self.retry_later = retry_later


def chunk_params() -> ChunkParams:
    return ChunkParams(max_tokens=settings.CHUNK_MAX_TOKENS, overlap_tokens=settings.CHUNK_OVERLAP_TOKENS)


@dataclass(frozen=True)
class Prepared:
    drafts: list[ChunkDraft]
    parser_version: str
    media_type: str


def parse_and_chunk(*, data: bytes, filename: str, params: ChunkParams) -> Prepared:
    """Sniff, parse and chunk a file. Raises ``ParseError`` (permanent) with a message for curators."""
    if not data:
        raise ParseError("The file is empty.")
    try:
        media_type = detect_type(data, filename)
    except UnsupportedType as exc:
        raise ParseError(str(exc)) from exc
    parser = PARSERS[media_type]
    parsed = parser.parse(data)
    if not parsed.has_text:
        raise ParseError("No text was found in this file (is it a scan without a text layer, or empty?).")
    drafts = chunk_document(parsed, params=params)
    return Prepared(drafts=drafts, parser_version=parser.version, media_type=media_type)


def embed_drafts(
    drafts: Sequence[ChunkDraft], *, embedder: Embedder, on_batch: Callable[[int], None] | None = None
) -> Vectors:
    """Embed the drafts in one call to the encoder, calling ``on_batch(done)`` at most every 8 x
    EMBEDDING_BATCH_SIZE texts and at the end (the jobs' heartbeat; 13 s between calls on the slowest
    backend, torch on 2 cores).

    One call, not a call per slice: the ONNX encoder's lanes then run without waiting for each other at the end
    of every slice. Texts go in shortest first (by the chunker's token count), so that an encoder working
    in slices (torch) pads little in each; vectors come back in the drafts' order.
    """
    step = max(settings.EMBEDDING_BATCH_SIZE, 1) * 8
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        if on_batch is not None and (done - reported >= step or done == len(drafts)):
            reported = done
            on_batch(done)

    order = sorted(range(len(drafts)), key=lambda index: drafts[index].token_count)
    vectors = np.zeros((len(drafts), embedder.dimensions), dtype=np.float32)
    vectors[order] = embedder.embed_passages([drafts[index].text for index in order], on_progress=progress)
    return vectors


def write_version_chunks(
    *, version: DocumentVersion, drafts: Sequence[ChunkDraft], vectors: Vectors, model_id: str, chunker_version: str
) -> tuple[int, bool]:
    """Make this version's chunks the document's live chunks, unless a newer version is already live.

    Runs in one transaction holding the document row lock, so an access change cannot interleave: the ACL
    written is the document's ACL at commit time. Returns (chunk count, whether the version went live); raises
    ``Document.DoesNotExist`` when the document is gone.
    """
    written = write_versions_chunks(
        items=[VersionChunks(version=version, drafts=drafts, vectors=vectors)],
        model_id=model_id,
        chunker_version=chunker_version,
    )
    if version.pk not in written:
        raise Document.DoesNotExist(f"Document {version.document_id} no longer exists.")
    return written[version.pk]


@dataclass(frozen=True)
class VersionChunks:
    version: DocumentVersion
    drafts: Sequence[ChunkDraft]
    vectors: Vectors


def write_versions_chunks(
    *, items: Sequence[VersionChunks], model_id: str, chunker_version: str
) -> dict[int, tuple[int, bool]]:
    """``write_version_chunks`` for versions of different documents, in one transaction and one COPY.

    Returns (chunk count, whether it went live) per version id; a version whose document is gone is left out.
    Document rows are locked in id order, so two writers never wait on each other in a cycle.
    """
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk__in={item.version.document_id for item in items})
        documents = {document.pk: document for document in locked.order_by("pk")}
        going_live = [item for item in items if _may_go_live(documents.get(item.version.document_id), item.version)]
        group_ids, user_ids = _access_of([item.version.document_id for item in going_live])
        replacements = []
        for item in going_live:
            document = documents[item.version.document_id]
            acl = acl_for_document(
                is_public=document.is_public,
                group_ids=group_ids.get(document.pk, []),
                user_ids=user_ids.get(document.pk, []),
                owner_id=document.owner_id,
            )
            chunks = [
                NewChunk(text=draft.text, embedding=vector, token_count=draft.token_count, locator=draft.locator)
                for draft, vector in zip(item.drafts, item.vectors, strict=True)
            ]
            replacements.append(
                DocumentChunks(document_id=document.pk, version_id=item.version.pk, acl=acl, chunks=chunks)
            )
        counts = replace_chunks_of_documents(
            documents=replacements, embedding_model=model_id, chunker_version=chunker_version
        )
        for item in going_live:
            document = documents[item.version.document_id]
            document.current_version = item.version
            document.save(update_fields=["current_version", "updated_at"])
    live = {item.version.pk for item in going_live}
    return {
        item.version.pk: (counts[item.version.document_id], True) if item.version.pk in live else (0, False)
        for item in items
        if item.version.document_id in documents
    }


def _may_go_live(document: Document | None, version: DocumentVersion) -> bool:
    """Not when the document is gone, nor when a newer version of it is already live."""
    if document is None:
        return False
    return document.current_version_id is None or document.current_version_id <= version.pk


def _access_of(document_ids: Sequence[int]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Group ids and user ids each document is shared with, in two queries for all of them."""
    group_ids: dict[int, list[int]] = {}
    user_ids: dict[int, list[int]] = {}
    groups = Document.groups.through.objects.filter(document_id__in=document_ids)
    for document_id, group_id in groups.values_list("document_id", "group_id"):
        group_ids.setdefault(document_id, []).append(group_id)
    users = Document.users.through.objects.filter(document_id__in=document_ids)
    for document_id, user_id in users.values_list("document_id", "user_id"):
        user_ids.setdefault(document_id, []).append(user_id)
    return group_ids, user_ids


# --- job state ----------------------------------------------------------------------------------------


def claim_job(*, job_id: int, run_id: uuid.UUID | None = None) -> IngestionJob:
    """Take the job for this process: queued, or running with a stale heartbeat (its worker died).

    Raises ``JobNotClaimable`` when it is finished, alive elsewhere, or the concurrency cap is reached.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS)
    # Most claims are a batched job's own task message arriving after its batch took it: one query answers those,
    # without the claim lock, the cap count and the update that a claim takes (the refusal is the one the full
    # path gives, except that a finished job is not deferred by the cap).
    seen = IngestionJob.objects.filter(pk=job_id).values_list("status", "heartbeat_at").first()
    if seen is not None:
        status, heartbeat_at = seen
        if status in RUNNING and heartbeat_at is not None and heartbeat_at >= stale:
            raise JobNotClaimable("running in another worker", retry_later=True)
        if status not in RUNNING and status != Status.QUEUED:
            raise JobNotClaimable(f"already {status}", retry_later=False)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A claim lost in a database crash is harmless (the job is claimed again), so it waits for no fsync.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK])
        alive = IngestionJob.objects.filter(status__in=RUNNING, heartbeat_at__gte=stale).exclude(pk=job_id)
        if run_id is not None:
            alive = alive.exclude(run_id=run_id)  # a worker draining the queue already holds its slot
        # The cap counts runs, not jobs: a batch of small jobs is one run on one worker.
        if alive.values("run_id").distinct().count() >= settings.INGESTION_MAX_CONCURRENT_JOBS:
            raise JobNotClaimable("concurrency cap reached", retry_later=True)
        claimed = (
            IngestionJob.objects.filter(pk=job_id)
            .filter(Q(status=Status.QUEUED) | Q(status__in=RUNNING, heartbeat_at__lt=stale))
            .update(
                status=Status.PARSING,
                progress=PARSING,
                attempts=F("attempts") + 1,
                error="",
                started_at=now,
                heartbeat_at=now,
                run_id=run_id or uuid.uuid4(),
            )
        )
    job = IngestionJob.objects.select_related("version").get(pk=job_id)
    if not claimed:
        if job.status in RUNNING:
            raise JobNotClaimable("running in another worker", retry_later=True)
        raise JobNotClaimable(f"already {job.status}", retry_later=False)
    return job


def claim_batch(*, job_id: int, run_id: uuid.UUID | None = None) -> list[IngestionJob]:
    """Claim the job and, if its file is small, other small queued jobs to run with it (first the job asked for).

    Embedding a few chunks per document leaves the encoder's batches mostly empty; a batch of documents fills
    them. The other jobs' own task messages find them finished (or running, and look again later), so a job
    still runs exactly once. Raises ``JobNotClaimable`` as ``claim_job`` does for the first job.
    """
    run_id = run_id or uuid.uuid4()
    lead = claim_job(job_id=job_id, run_id=run_id)
    limit = settings.INGESTION_BATCH_MAX_BYTES
    if settings.INGESTION_BATCH_MAX_JOBS <= 1 or lead.version.size_bytes > limit:
        return [lead]
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # SKIP LOCKED: another worker building its batch at the same moment takes different jobs.
        candidates = list(
            IngestionJob.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Status.QUEUED, version__size_bytes__lte=limit)
            .order_by("pk")
            .values_list("pk", "version__size_bytes")[: settings.INGESTION_BATCH_MAX_JOBS - 1]
        )
        total, extra_ids = lead.version.size_bytes, []
        for pk, size in candidates:
            if total + size > limit:
                break
            total += size
            extra_ids.append(pk)
        IngestionJob.objects.filter(pk__in=extra_ids, status=Status.QUEUED).update(
            status=Status.PARSING,
            progress=PARSING,
            attempts=F("attempts") + 1,
            error="",
            started_at=now,
            heartbeat_at=now,
            run_id=run_id,
        )
    extras = IngestionJob.objects.select_related("version").filter(pk__in=extra_ids, run_id=run_id).order_by("pk")
    return [lead, *extras]


def claim_next_batch(*, run_id: uuid.UUID) -> list[IngestionJob]:
    """For a worker that has just embedded a run: the oldest queued small job, with others batched in as
    ``claim_batch`` does, under the same run ID. Empty when nothing small is queued (or others took it)."""
    limit = settings.INGESTION_BATCH_MAX_BYTES
    queued = IngestionJob.objects.filter(status=Status.QUEUED, version__size_bytes__lte=limit)
    for job_id in queued.order_by("pk").values_list("pk", flat=True)[:4]:
        try:
            return claim_batch(job_id=job_id, run_id=run_id)
        except (JobNotClaimable, IngestionJob.DoesNotExist):
            continue  # claimed by another worker (or deleted) since the query: try the next
    return []


def requeue_run(*, run_id: uuid.UUID) -> list[int]:
    """Put the run's jobs that are still running back in the queue (after a time limit stopped the run)."""
    job_ids = list(IngestionJob.objects.filter(run_id=run_id, status__in=RUNNING).values_list("pk", flat=True))
    for job_id in job_ids:
        requeue_job(job_id=job_id, error="")
    return job_ids


def advance_jobs(*, job_ids: Sequence[int], status: str, progress: int) -> None:
    """Record stage and progress, and beat the heart. Only a running job moves (a failed one stays failed).

    Committed without waiting for the WAL flush: progress is worth no fsync (a few per document, which
    dominated the pipeline's own cost on small files); a crash can only lose the latest beat, which the
    watchdog tolerates.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        IngestionJob.objects.filter(pk__in=job_ids, status__in=RUNNING).update(
            status=status, progress=min(progress, 100), heartbeat_at=timezone.now()
        )


def fail_job(*, job_id: int, error: str) -> None:
    IngestionJob.objects.filter(pk=job_id).exclude(status=Status.READY).update(
        status=Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def requeue_job(*, job_id: int, error: str) -> None:
    """Put a job that hit a transient error back to queued, so its retried task can claim it again."""
    IngestionJob.objects.filter(pk=job_id, status__in=RUNNING).update(status=Status.QUEUED, error=error[:2000])


def requeue_or_fail(*, job: IngestionJob, exc: Exception) -> bool:
    """After a transient error: back to the queue (True), or failed once its attempts are used up (False)."""
    if job.attempts >= settings.INGESTION_MAX_ATTEMPTS:
        fail_job(job_id=job.pk, error=f"Gave up after {job.attempts} attempts: {type(exc).__name__}.")
        observe_job_end(started_at=job.started_at, outcome="failed")
        return False
    requeue_job(job_id=job.pk, error=f"Temporary problem ({type(exc).__name__}); retrying.")
    logger.warning("ingestion job %s hit a transient error, retrying: %r", job.pk, exc)
    return True


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"  # for good: a bad file, or attempts used up; the job row says why
    RETRY = "retry"  # back in the queue after a transient error


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome
    chunks: int = 0
    error: Exception | None = None


def run_claimed_jobs(*, jobs: Sequence[IngestionJob], embedder: Embedder) -> dict[int, JobResult]:
    """Run the pipeline for claimed jobs, embedding all their chunks together; one result per job id.

    A job's bad file or transient error touches that job only: the others go on (see ``_write_all`` for how
    the chunks are written). ``SoftTimeLimitExceeded`` (and other unexpected errors) propagate.
    """
    results, run = _prepare_run(jobs)
    embedded = _embed_run(run, embedder=embedder)
    if embedded is not None:
        results.update(_write_all(**embedded))
    return results


def run_and_drain(*, jobs: Sequence[IngestionJob], embedder: Embedder, drain_seconds: float) -> dict[int, JobResult]:
    """Run claimed jobs, then go on with queued small jobs (``claim_next_batch``) until none is left or
    ``drain_seconds`` have passed; one result per job id.

    While a run is embedded, a reader thread claims and parses the next run and a writer thread writes the
    previous one, each on its own database connection, so the encoder never waits for parsing or for the
    database (on the same cores, as in the embedded setup, they still share the CPU: docs/performance.md,
    Ingestion). At most one run is read ahead and one written behind; a run's jobs stay running (with their
    heartbeat) until their write commits. If the task's time limit interrupts the encoder, the read and the
    write in flight still complete before the exception leaves; the runs not written are left running for
    ``requeue_run``.
    """
    if not jobs:
        return {}
    run_id = jobs[0].run_id
    deadline = time.monotonic() + drain_seconds
    # Inside a caller's transaction, another connection could not see its rows: work in the caller's.
    overlap = not connection.in_atomic_block

    def next_run() -> tuple[dict[int, JobResult], _PreparedRun] | None:
        if not run_id or time.monotonic() >= deadline:
            return None
        claimed = claim_next_batch(run_id=run_id)
        return _prepare_run(claimed) if claimed else None

    results: dict[int, JobResult] = {}
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingestion-reader") as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingestion-writer") as writer,
    ):
        pending: Future[dict[int, JobResult]] | None = None
        current: tuple[dict[int, JobResult], _PreparedRun] | None = _prepare_run(jobs)
        while current is not None:
            failed, run = current
            results.update(failed)
            ahead = reader.submit(_in_own_connection, next_run) if overlap else None
            embedded = _embed_run(run, embedder=embedder)
            if pending is not None:
                results.update(pending.result())
                pending = None
            if embedded is not None and overlap:
                pending = writer.submit(_in_own_connection, functools.partial(_write_all, **embedded))
            elif embedded is not None:
                results.update(_write_all(**embedded))
            current = ahead.result() if ahead is not None else next_run()
        if pending is not None:
            results.update(pending.result())
    return results


class _PreparedRun(TypedDict):
    prepared: list[tuple[IngestionJob, Prepared]]
    params: ChunkParams


class _Embedded(TypedDict):
    prepared: list[tuple[IngestionJob, Prepared]]
    vectors: dict[int, Vectors]
    model_id: str
    params: ChunkParams


def _prepare_run(jobs: Sequence[IngestionJob]) -> tuple[dict[int, JobResult], _PreparedRun]:
    """Parse and chunk the jobs: the results of jobs that ended early, and the run to embed."""
    results: dict[int, JobResult] = {}
    params = chunk_params()
    prepared: list[tuple[IngestionJob, Prepared]] = []
    for job in jobs:
        try:
            prepared.append((job, _prepare(job=job, params=params)))
        except ParseError as exc:
            fail_job(job_id=job.pk, error=str(exc))
            observe_job_end(started_at=job.started_at, outcome="failed")
            results[job.pk] = JobResult(Outcome.FAILED, error=exc)
        except TRANSIENT_ERRORS as exc:
            retry = requeue_or_fail(job=job, exc=exc)
            results[job.pk] = JobResult(Outcome.RETRY if retry else Outcome.FAILED, error=exc)
    if prepared:
        _record_parsed(prepared)
    return results, _PreparedRun(prepared=prepared, params=params)


def _embed_run(run: _PreparedRun, *, embedder: Embedder) -> _Embedded | None:
    """Embed a prepared run's chunks together (None when no job of it is left)."""
    prepared = run["prepared"]
    if not prepared:
        return None
    job_ids = [job.pk for job, _ in prepared]
    drafts = [draft for _, ready in prepared for draft in ready.drafts]
    total = max(len(drafts), 1)
    advance_jobs(job_ids=job_ids, status=Status.EMBEDDING, progress=EMBEDDING)
    vectors = embed_drafts(
        drafts,
        embedder=embedder,
        on_batch=lambda done: advance_jobs(
            job_ids=job_ids, status=Status.EMBEDDING, progress=EMBEDDING + (WRITING - EMBEDDING) * done // total
        ),
    )
    own_vectors, offset = {}, 0
    for job, ready in prepared:
        own_vectors[job.pk] = vectors[offset : offset + len(ready.drafts)]
        offset += len(ready.drafts)
    return _Embedded(prepared=prepared, vectors=own_vectors, model_id=embedder.model_id, params=run["params"])


def _in_own_connection(work: Callable[[], _T]) -> _T:
    """Run ``work`` in a pool thread, then close that thread's database connection (the next task opens one)."""
    try:
        return work()
    finally:
        connection.close()


def _write_all(
    *, prepared: list[tuple[IngestionJob, Prepared]], vectors: dict[int, Vectors], model_id: str, params: ChunkParams
) -> dict[int, JobResult]:
    """Write every job's chunks in one transaction (one commit to wait for, not one per document), and if the
    documents are all different, with one COPY (``write_versions_chunks``). Should the database refuse that
    (one job's rows), or a document appear twice, each job is written in its own savepoint instead, so that
    a database error in one leaves the others."""
    results: dict[int, JobResult] = {}
    try:
        with transaction.atomic():
            written = _write_together(
                prepared=prepared, vectors=vectors, model_id=model_id, params=params, results=results
            )
            if written is None:
                written = _write_one_by_one(
                    prepared=prepared, vectors=vectors, model_id=model_id, params=params, results=results
                )
    except TRANSIENT_ERRORS as exc:
        for job, _ in prepared:
            retry = requeue_or_fail(job=job, exc=exc)
            results[job.pk] = JobResult(Outcome.RETRY if retry else Outcome.FAILED, error=exc)
        return results
    for job, _ in prepared:
        if job.pk in written:
            logger.info("ingestion job %s ready: %s chunks", job.pk, written[job.pk])
            observe_job_end(started_at=job.started_at, outcome="ready")
            results[job.pk] = JobResult(Outcome.READY, chunks=written[job.pk])
        else:
            observe_job_end(started_at=job.started_at, outcome="failed")
    return results


def _write_together(
    *,
    prepared: list[tuple[IngestionJob, Prepared]],
    vectors: dict[int, Vectors],
    model_id: str,
    params: ChunkParams,
    results: dict[int, JobResult],
) -> dict[int, int] | None:
    """One COPY for all the jobs; chunk count per job written. None (and nothing written) when the jobs must
    be written one by one. A job whose document was deleted while it ran goes to ``results`` as failed."""
    document_ids = [job.version.document_id for job, _ in prepared]
    if len(set(document_ids)) < len(document_ids):
        return None  # two versions of a document: the order of their writes decides which goes live
    try:
        with transaction.atomic():
            outcome = write_versions_chunks(
                items=[
                    VersionChunks(version=job.version, drafts=ready.drafts, vectors=vectors[job.pk])
                    for job, ready in prepared
                ],
                model_id=model_id,
                chunker_version=params.version,
            )
    except TRANSIENT_ERRORS:
        raise  # the connection is gone: the whole write transaction with it
    except DatabaseError:
        logger.warning("a run's chunks could not be written together; writing its jobs one by one", exc_info=True)
        return None
    written: dict[int, int] = {}
    for job, _ in prepared:
        if job.version_id in outcome:
            count, live = outcome[job.version_id]
            _mark_ready(job=job, count=count, live=live)
            written[job.pk] = count
        else:
            gone = Document.DoesNotExist(f"Document {job.version.document_id} no longer exists.")
            results[job.pk] = JobResult(Outcome.FAILED, error=gone)  # deleted while it ran: nothing to write
    return written


def _write_one_by_one(
    *,
    prepared: list[tuple[IngestionJob, Prepared]],
    vectors: dict[int, Vectors],
    model_id: str,
    params: ChunkParams,
    results: dict[int, JobResult],
) -> dict[int, int]:
    """Each job in its own savepoint, documents in id order; failures go to ``results``."""
    written: dict[int, int] = {}
    for job, ready in sorted(prepared, key=lambda pair: (pair[0].version.document_id, pair[0].pk)):
        try:
            with transaction.atomic():
                written[job.pk] = _finish(
                    job=job, prepared=ready, vectors=vectors[job.pk], model_id=model_id, params=params
                )
        except TRANSIENT_ERRORS:
            raise  # the connection is gone: the whole write transaction with it
        except Document.DoesNotExist as exc:
            results[job.pk] = JobResult(Outcome.FAILED, error=exc)  # deleted while it ran: nothing to write
        except DatabaseError as exc:
            logger.exception("ingestion job %s could not be written", job.pk)
            fail_job(job_id=job.pk, error="The document could not be saved (database error).")
            results[job.pk] = JobResult(Outcome.FAILED, error=exc)
    return written


def _prepare(*, job: IngestionJob, params: ChunkParams) -> Prepared:
    version = job.version
    data = read_blob(version.blob_key)
    return parse_and_chunk(data=data, filename=version.original_name, params=params)


def _record_parsed(prepared: list[tuple[IngestionJob, Prepared]]) -> None:
    """Each version's detected type and parser, and its job's progress, in two statements for the whole run."""
    versions = []
    for job, ready in prepared:
        job.version.parser_version = ready.parser_version
        job.version.detected_type = ready.media_type
        versions.append(job.version)
    DocumentVersion.objects.bulk_update(versions, ["parser_version", "detected_type"])
    advance_jobs(job_ids=[job.pk for job, _ in prepared], status=Status.CHUNKING, progress=CHUNKING)


def _finish(*, job: IngestionJob, prepared: Prepared, vectors: Vectors, model_id: str, params: ChunkParams) -> int:
    """Write one job's chunks and mark it ready (the caller holds the transaction)."""
    count, live = write_version_chunks(
        version=job.version, drafts=prepared.drafts, vectors=vectors, model_id=model_id, chunker_version=params.version
    )
    _mark_ready(job=job, count=count, live=live)
    return count


def _mark_ready(*, job: IngestionJob, count: int, live: bool) -> None:
    IngestionJob.objects.filter(pk=job.pk).update(
        status=Status.READY,
        progress=100,
        chunk_count=count,
        error="" if live else "A newer version of this document was already live; this one was not used.",
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
    )


def stale_document_ids(*, model_id: str, chunker_version: str) -> list[int]:
    """Documents with live chunks embedded by another model or cut by another chunker version."""
    from retrieval.models import Chunk

    stale = Chunk.objects.exclude(embedding_model=model_id, chunker_version=chunker_version)
    return sorted(set(stale.values_list("document_id", flat=True)))


def reembed_document(*, document_id: int, embedder: Embedder) -> int:
    """Rebuild a document's live chunks from its current version's stored file, with this embedder and the
    configured chunker. Commits per document, so an interrupted run resumes where it stopped."""
    document = Document.objects.select_related("current_version").get(pk=document_id)
    version = document.current_version
    if version is None:
        return 0
    params = chunk_params()
    prepared = parse_and_chunk(data=read_blob(version.blob_key), filename=version.original_name, params=params)
    vectors = embed_drafts(prepared.drafts, embedder=embedder)
    count, _ = write_version_chunks(
        version=version,
        drafts=prepared.drafts,
        vectors=vectors,
        model_id=embedder.model_id,
        chunker_version=params.version,
    )
    return count
