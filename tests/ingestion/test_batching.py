"""A worker batches small queued jobs: their chunks are embedded together, yet each job ends exactly as if it
had run alone (its own vectors, its own outcome), and the concurrency cap counts a batch as one run."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ingestion import pipeline
from ingestion.models import Document, IngestionJob
from ingestion.services import Access, add_document_version, delete_document, upload_document
from ingestion.storage import delete_blob
from ingestion.tasks import ingest_version_task
from retrieval.embeddings import HashingEmbedder, get_embedder
from retrieval.models import Chunk
from tests.ingestion import files

pytestmark = pytest.mark.django_db

TEXTS = [
    "# Travel\n\nBusiness travel is booked through the travel portal two weeks before departure.",
    "# Leave\n\nEmployees receive 25 days of paid leave per year, booked in the HR portal.\n\n"
    + "Unused days carry over until March. " * 40,
    "# Laptops\n\nNew engineers get a laptop on day one and a monitor in the first week.",
]


def queue(alice, name: str, data: bytes) -> IngestionJob:
    return upload_document(data=data, filename=name, owner=alice, access=Access(user_ids=(alice.pk,)), enqueue=False)


def assert_chunks_carry_their_own_vectors(job: IngestionJob, *, chunk_count: int) -> None:
    """Each chunk holds the vector of its own text (the real default model, embedded alone, for comparison)."""
    embedder = get_embedder()
    chunks = list(Chunk.objects.filter(version_id=job.version_id).order_by("ordinal"))
    assert len(chunks) == chunk_count > 0
    alone = embedder.embed_passages([chunk.text for chunk in chunks])
    stored = np.array([chunk.embedding for chunk in chunks], dtype=np.float32)
    assert np.all(np.sum(alone * stored, axis=1) > 0.99)
    assert {chunk.embedding_model for chunk in chunks} == {embedder.model_id}


def test_one_task_runs_queued_small_jobs_together_and_each_gets_its_own_vectors(alice):
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(TEXTS)]

    outcome = ingest_version_task.apply(args=(jobs[0].pk,)).get()

    assert outcome.endswith("3 job(s) in the run")
    rows = {job.pk: job for job in IngestionJob.objects.filter(pk__in=[job.pk for job in jobs])}
    assert {row.status for row in rows.values()} == {"ready"}
    assert len({row.run_id for row in rows.values()}) == 1
    # The other jobs' own task messages find them done and do nothing.
    assert ingest_version_task.apply(args=(jobs[1].pk,)).get() == "already ready"
    for job in jobs:
        assert_chunks_carry_their_own_vectors(job, chunk_count=rows[job.pk].chunk_count)


def test_a_bad_file_in_a_batch_fails_alone_and_a_missing_blob_goes_back_to_the_queue(alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"  # about outcomes per job; the real model runs in the test above
    good = queue(alice, "good.md", TEXTS[0].encode())
    broken = queue(alice, "broken.pdf", files.pdf_bytes()[:400])
    vanished = queue(alice, "vanished.md", TEXTS[2].encode())
    delete_blob(vanished.version.blob_key)

    jobs = pipeline.claim_batch(job_id=good.pk)
    assert [job.pk for job in jobs] == [good.pk, broken.pk, vanished.pk]
    results = pipeline.run_claimed_jobs(jobs=jobs, embedder=get_embedder())

    assert results[good.pk].outcome is pipeline.Outcome.READY
    assert results[broken.pk].outcome is pipeline.Outcome.FAILED
    assert results[vanished.pk].outcome is pipeline.Outcome.RETRY
    rows = {job.pk: job for job in IngestionJob.objects.all()}
    assert rows[good.pk].status == "ready" and Chunk.objects.filter(version_id=good.version_id).exists()
    assert rows[broken.pk].status == "failed" and "PDF" in rows[broken.pk].error
    assert rows[vanished.pk].status == "queued" and "Temporary problem" in rows[vanished.pk].error
    assert not Chunk.objects.filter(version_id__in=[broken.version_id, vanished.version_id]).exists()


def test_large_files_run_alone_and_a_batch_counts_once_against_the_cap(alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    settings.INGESTION_MAX_CONCURRENT_JOBS = 2
    settings.INGESTION_BATCH_MAX_JOBS = 2
    small = [queue(alice, f"s{n}.md", f"Small note {n} about lunch.".encode()) for n in range(4)]
    settings.INGESTION_BATCH_MAX_BYTES = 100
    big = queue(alice, "big.md", ("A long policy text. " * 20).encode())

    assert [job.pk for job in pipeline.claim_batch(job_id=big.pk)] == [big.pk]  # over the byte limit: alone
    first = pipeline.claim_batch(job_id=small[0].pk)
    assert [job.pk for job in first] == [small[0].pk, small[1].pk]
    # Two runs are alive now (the big job and one batch of two): the cap of 2 refuses a third run.
    with pytest.raises(pipeline.JobNotClaimable, match="concurrency cap"):
        pipeline.claim_batch(job_id=small[2].pk)
    assert IngestionJob.objects.get(pk=small[2].pk).status == "queued"


def test_a_document_deleted_while_its_batch_embeds_leaves_the_others_to_finish(alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(TEXTS)]
    claimed = pipeline.claim_batch(job_id=jobs[0].pk)
    delete_document(document=jobs[1].version.document)

    results = pipeline.run_claimed_jobs(jobs=claimed, embedder=get_embedder())

    assert results[jobs[1].pk].outcome is pipeline.Outcome.FAILED
    assert not Chunk.objects.filter(document_id=jobs[1].version.document_id).exists()
    for job in (jobs[0], jobs[2]):
        assert results[job.pk].outcome is pipeline.Outcome.READY
        assert IngestionJob.objects.get(pk=job.pk).status == "ready"
        assert Chunk.objects.filter(version_id=job.version_id).count() == results[job.pk].chunks > 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_drains_further_batches_writing_each_while_the_next_embeds(alice, settings):
    """Committed data, as in a worker: each batch is written by the writer thread on its own connection."""
    settings.INGESTION_BATCH_MAX_JOBS = 2
    settings.INGESTION_MAX_CONCURRENT_JOBS = 1  # a draining worker holds one slot, however many batches it takes
    texts = [*TEXTS, "# Parking\n\nStaff park in the north garage; visitors use level two.", "# Lunch\n\nSoup daily."]
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(texts)]

    outcome = ingest_version_task.apply(args=(jobs[0].pk,)).get()

    assert outcome.endswith("2 job(s) in the run")  # the task's own batch; the drain took the other three
    rows = {job.pk: job for job in IngestionJob.objects.filter(pk__in=[job.pk for job in jobs])}
    assert {row.status for row in rows.values()} == {"ready"}
    assert len({row.run_id for row in rows.values()}) == 1
    for job in jobs:
        assert_chunks_carry_their_own_vectors(job, chunk_count=rows[job.pk].chunk_count)


class _WaitsForTheNextRunToBeParsed:
    """Hashing vectors, but the first run's embedding ends only once the next run has been parsed: only a
    reader thread working while the encoder runs can let it finish (otherwise it fails after 30 s)."""

    def __init__(self, next_job_ids: list[int]) -> None:
        self._inner = HashingEmbedder(384)
        self._next_job_ids = next_job_ids
        self.model_id = self._inner.model_id
        self.dimensions = self._inner.dimensions
        self.next_run_parsed_while_embedding: bool | None = None

    def embed_passages(self, texts, *, on_progress=None):
        if self.next_run_parsed_while_embedding is None:
            deadline = time.monotonic() + 30
            parsed = IngestionJob.objects.filter(pk__in=self._next_job_ids, status="chunking")
            while parsed.count() < len(self._next_job_ids) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.next_run_parsed_while_embedding = parsed.count() == len(self._next_job_ids)
        return self._inner.embed_passages(texts, on_progress=on_progress)

    def embed_query(self, text):
        return self._inner.embed_query(text)


@pytest.mark.django_db(transaction=True)
def test_a_draining_worker_parses_the_next_batch_while_the_current_one_embeds(alice, settings):
    settings.INGESTION_BATCH_MAX_JOBS = 2
    texts = [*TEXTS, "# Parking\n\nStaff park in the north garage; visitors use level two."]
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(texts)]
    first_run = pipeline.claim_batch(job_id=jobs[0].pk)
    assert [job.pk for job in first_run] == [jobs[0].pk, jobs[1].pk]
    embedder = _WaitsForTheNextRunToBeParsed([jobs[2].pk, jobs[3].pk])

    results = pipeline.run_and_drain(jobs=first_run, embedder=embedder, drain_seconds=60)

    assert embedder.next_run_parsed_while_embedding is True
    assert {result.outcome for result in results.values()} == {pipeline.Outcome.READY}
    assert set(results) == {job.pk for job in jobs}
    for job in jobs:
        row = IngestionJob.objects.get(pk=job.pk)
        assert row.status == "ready" and row.chunk_count == Chunk.objects.filter(version_id=job.version_id).count() > 0


@pytest.mark.django_db(transaction=True)
def test_without_drain_time_a_task_runs_only_its_own_batch(alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    settings.INGESTION_BATCH_MAX_JOBS = 2
    settings.INGESTION_DRAIN_SECONDS = 0
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(TEXTS)]

    ingest_version_task.apply(args=(jobs[0].pk,)).get()

    statuses = dict(IngestionJob.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "status"))
    assert statuses == {jobs[0].pk: "ready", jobs[1].pk: "ready", jobs[2].pk: "queued"}


def test_requeue_run_puts_the_runs_unfinished_jobs_back_in_the_queue(alice, settings):
    settings.EMBEDDING_BACKEND = "hashing"
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(TEXTS)]
    claimed = pipeline.claim_batch(job_id=jobs[0].pk)
    pipeline.fail_job(job_id=jobs[0].pk, error="Processing took too long")

    assert claimed[0].run_id is not None
    requeued = pipeline.requeue_run(run_id=claimed[0].run_id)

    assert sorted(requeued) == [jobs[1].pk, jobs[2].pk]
    statuses = dict(IngestionJob.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "status"))
    assert statuses == {jobs[0].pk: "failed", jobs[1].pk: "queued", jobs[2].pk: "queued"}


def test_a_batch_written_together_gives_each_document_its_own_acl_and_respects_a_newer_live_version(
    alice, bob, charlie, engineering, settings
):
    settings.EMBEDDING_BACKEND = "hashing"  # about what is written; the real model runs in the first test
    public = upload_document(
        data=TEXTS[0].encode(), filename="travel.md", owner=alice, access=Access(is_public=True), enqueue=False
    )
    team = upload_document(
        data=TEXTS[1].encode(),
        filename="leave.md",
        owner=bob,
        access=Access(group_ids=(engineering.pk,)),
        enqueue=False,
    )
    private = upload_document(
        data=TEXTS[2].encode(), filename="laptops.md", owner=charlie, access=Access(), enqueue=False
    )
    # A newer version of the team document goes live first; the older one must not replace it.
    newer = add_document_version(
        document=team.version.document, data=b"# Leave\n\nThe new leave policy.", filename="leave.md"
    )
    pipeline.run_claimed_jobs(jobs=[pipeline.claim_job(job_id=newer.pk)], embedder=get_embedder())

    claimed = pipeline.claim_batch(job_id=public.pk)
    assert {job.pk for job in claimed} == {public.pk, team.pk, private.pk}
    results = pipeline.run_claimed_jobs(jobs=claimed, embedder=get_embedder())

    assert {results[job.pk].outcome for job in claimed} == {pipeline.Outcome.READY}
    expected_acl = {
        public.version.document_id: ["public", f"user:{alice.pk}"],
        team.version.document_id: [f"group:{engineering.pk}", f"user:{bob.pk}"],
        private.version.document_id: [f"user:{charlie.pk}"],
    }
    for document_id, acl in expected_acl.items():
        chunks = list(Chunk.objects.filter(document_id=document_id).order_by("ordinal"))
        assert chunks and all(chunk.acl == acl for chunk in chunks)
        assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    # The team document kept the newer version's chunks; the older job says why it was not used.
    assert set(Chunk.objects.filter(document_id=team.version.document_id).values_list("version_id", flat=True)) == {
        newer.version_id
    }
    assert Document.objects.get(pk=team.version.document_id).current_version_id == newer.version_id
    older = IngestionJob.objects.get(pk=team.pk)
    assert older.status == "ready" and older.chunk_count == 0 and "newer version" in older.error
    for job in (public, private):
        row = IngestionJob.objects.get(pk=job.pk)
        assert row.chunk_count == Chunk.objects.filter(version_id=job.version_id).count() > 0
        assert Document.objects.get(pk=job.version.document_id).current_version_id == job.version_id


class _NanForOnePassage:
    """The hashing stand-in, except that it returns NaN for passages holding a marker (a broken model does)."""

    def __init__(self, marker: str) -> None:
        self._inner = HashingEmbedder(384)
        self._marker = marker
        self.model_id = self._inner.model_id
        self.dimensions = self._inner.dimensions

    def embed_passages(self, texts, *, on_progress=None):
        vectors = self._inner.embed_passages(texts, on_progress=on_progress)
        vectors[[self._marker in text for text in texts]] = np.nan
        return vectors

    def embed_query(self, text):
        return self._inner.embed_query(text)


def test_rows_the_database_refuses_fail_their_job_alone_when_a_batch_is_written_together(alice):
    jobs = [queue(alice, f"{n}.md", text.encode()) for n, text in enumerate(TEXTS)]
    claimed = pipeline.claim_batch(job_id=jobs[0].pk)
    assert len(claimed) == 3

    # pgvector refuses NaN, so the run's single COPY fails, and the jobs are written one by one instead.
    results = pipeline.run_claimed_jobs(jobs=claimed, embedder=_NanForOnePassage("paid leave"))

    assert results[jobs[1].pk].outcome is pipeline.Outcome.FAILED
    failed = IngestionJob.objects.get(pk=jobs[1].pk)
    assert failed.status == "failed" and failed.error == "The document could not be saved (database error)."
    assert not Chunk.objects.filter(document_id=jobs[1].version.document_id).exists()
    for job in (jobs[0], jobs[2]):
        assert results[job.pk].outcome is pipeline.Outcome.READY
        assert IngestionJob.objects.get(pk=job.pk).status == "ready"
        assert Chunk.objects.filter(version_id=job.version_id).count() == results[job.pk].chunks > 0
