"""A worker batches small queued jobs: their chunks are embedded together, yet each job ends exactly as if it
had run alone (its own vectors, its own outcome), and the concurrency cap counts a batch as one run."""

from __future__ import annotations

import numpy as np
import pytest

from ingestion import pipeline
from ingestion.models import IngestionJob
from ingestion.services import Access, delete_document, upload_document
from ingestion.storage import delete_blob
from ingestion.tasks import ingest_version_task
from retrieval.embeddings import get_embedder
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
