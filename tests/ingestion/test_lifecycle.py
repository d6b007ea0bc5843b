"""Demo corpus, the ingest command, new versions, the watchdog and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from assistant.demo import DEMO_DOCUMENTS, load_demo_documents, load_demo_users
from ingestion import pipeline
from ingestion.models import Document, DocumentVersion, IngestionJob
from ingestion.services import Access, purge_expired_documents, requeue_stuck_jobs, upload_document
from retrieval.access import acl_keys_for_user
from retrieval.models import Chunk
from tests.ingestion.helpers import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _hashing(settings):
    # About lifecycle and access, not embeddings (the real model runs in test_api / test_worker).
    settings.EMBEDDING_BACKEND = "hashing"


def test_demo_corpus_loads_idempotently_with_its_access_rules():
    users = {user.username: user for user in load_demo_users(password="pw")}
    load_demo_documents()
    load_demo_documents()
    assert Document.objects.count() == len(DEMO_DOCUMENTS) == 11
    assert DocumentVersion.objects.count() == 11
    for document in Document.objects.all():
        assert run_job(document.pk).status == "ready", document.title
    salary = Document.objects.get(source__endswith="salary-bands.md")
    runbook = Document.objects.get(source__endswith="deploy-runbook.md")
    handbook = Document.objects.get(source__endswith="handbook-welcome.md")
    for chunk in Chunk.objects.filter(document=salary):
        for name in ("alice", "bob", "charlie", "audrey", "admin"):
            assert not set(chunk.acl) & set(acl_keys_for_user(users[name])), name
    for chunk in Chunk.objects.filter(document=runbook):
        assert set(chunk.acl) & set(acl_keys_for_user(users["alice"]))
        assert not set(chunk.acl) & set(acl_keys_for_user(users["charlie"]))
    assert all("public" in c.acl for c in Chunk.objects.filter(document=handbook))
    pdf_chunks = Chunk.objects.filter(document__source__endswith="benefits-overview.pdf")
    pdf_pages = {c.locator.get("page") for c in pdf_chunks}
    assert pdf_pages == {1, 2, 3, 4}


def test_ingest_command_queues_folders_and_adds_versions_only_for_changed_files(tmp_path, engineering):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nFirst text.")
    (folder / "b.txt").write_text("Second text.")
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    call_command("ingest", str(folder), "--groups", "engineering", verbosity=0)
    assert Document.objects.count() == 2  # the PNG was refused
    for document in Document.objects.all():
        run_job(document.pk)
    a = Document.objects.get(source=str((folder / "a.md").resolve()))
    old_chunks = list(Chunk.objects.filter(document=a).values_list("pk", flat=True))
    assert all(c.acl == [f"group:{engineering.pk}"] for c in Chunk.objects.filter(document=a))

    call_command("ingest", str(folder), "--groups", "engineering", verbosity=0)
    assert DocumentVersion.objects.count() == 2  # nothing changed, nothing new

    (folder / "a.md").write_text("# A\n\nRevised text.")
    call_command("ingest", str(folder), "--groups", "engineering", verbosity=0)
    assert DocumentVersion.objects.filter(document=a).count() == 2
    # The new version is queued: the old chunks stay live until it is ready (never zero chunks).
    assert list(Chunk.objects.filter(document=a).values_list("pk", flat=True)) == old_chunks
    run_job(a.pk)
    a.refresh_from_db()
    texts = list(Chunk.objects.filter(document=a).values_list("text", flat=True))
    assert texts == ["A\n\nRevised text."]
    assert set(Chunk.objects.filter(document=a).values_list("version_id", flat=True)) == {a.current_version_id}


def test_watchdog_requeues_a_job_whose_heartbeat_stopped_and_fails_it_after_max_attempts(alice, settings):
    job = upload_document(data=b"Some text here.", filename="a.txt", owner=alice, access=Access())
    claimed = pipeline.claim_job(job_id=job.pk)
    assert claimed.status == "parsing" and claimed.attempts == 1
    # Alive: left alone, and a second claim (a redelivered task) is refused for later.
    assert requeue_stuck_jobs() == ([], [])
    with pytest.raises(pipeline.JobNotClaimable) as refused:
        pipeline.claim_job(job_id=job.pk)
    assert refused.value.retry_later
    # Its worker died: the heartbeat goes stale.
    later = timezone.now() + timedelta(seconds=settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert requeue_stuck_jobs(now=later) == ([job.pk], [])
    assert IngestionJob.objects.get(pk=job.pk).status == "queued"
    assert run_job(job.version.document_id).status == "ready"

    settings.INGESTION_MAX_ATTEMPTS = 1
    stuck = upload_document(data=b"Other text here.", filename="b.txt", owner=alice, access=Access())
    pipeline.claim_job(job_id=stuck.pk)
    assert requeue_stuck_jobs(now=later) == ([], [stuck.pk])
    failed = IngestionJob.objects.get(pk=stuck.pk)
    assert failed.status == "failed" and "stopped responding" in failed.error


def test_concurrency_cap_defers_claims(alice, settings):
    settings.INGESTION_MAX_CONCURRENT_JOBS = 1
    first = upload_document(data=b"First text.", filename="a.txt", owner=alice, access=Access())
    second = upload_document(data=b"Second text.", filename="b.txt", owner=alice, access=Access())
    pipeline.claim_job(job_id=first.pk)
    with pytest.raises(pipeline.JobNotClaimable, match="concurrency cap") as refused:
        pipeline.claim_job(job_id=second.pk)
    assert refused.value.retry_later
    assert IngestionJob.objects.get(pk=second.pk).status == "queued"


def test_a_claim_of_a_finished_or_live_job_is_refused_with_one_query(alice, settings, django_assert_num_queries):
    """A batched job's own task message usually arrives after its batch ran it: refused at once, without the
    claim lock or the cap count, and a finished job is refused for good even while the cap is reached."""
    done = upload_document(data=b"Finished text.", filename="a.txt", owner=alice, access=Access())
    assert run_job(done.version.document_id).status == "ready"
    live = upload_document(data=b"Running text.", filename="b.txt", owner=alice, access=Access())
    pipeline.claim_job(job_id=live.pk)
    settings.INGESTION_MAX_CONCURRENT_JOBS = 1  # the live job holds the only slot
    with django_assert_num_queries(1), pytest.raises(pipeline.JobNotClaimable, match="already ready") as finished:
        pipeline.claim_job(job_id=done.pk)
    assert not finished.value.retry_later
    with django_assert_num_queries(1), pytest.raises(pipeline.JobNotClaimable, match="another worker") as running:
        pipeline.claim_job(job_id=live.pk)
    assert running.value.retry_later
    assert IngestionJob.objects.get(pk=live.pk).attempts == 1


def test_retention_deletes_expired_documents_with_their_chunks_and_files(alice, django_capture_on_commit_callbacks):
    keep = upload_document(data=b"Keep me.", filename="keep.txt", owner=alice, access=Access(), retention_days=30)
    expire = upload_document(data=b"Expire me.", filename="old.txt", owner=alice, access=Access(), retention_days=1)
    forever = upload_document(data=b"Forever.", filename="forever.txt", owner=alice, access=Access())
    for job in (keep, expire, forever):
        run_job(job.version.document_id)
    key = expire.version.blob_key
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired_documents(now=timezone.now() + timedelta(days=2)) == 1
    assert set(Document.objects.values_list("pk", flat=True)) == {keep.version.document_id, forever.version.document_id}
    assert not Chunk.objects.filter(document_id=expire.version.document_id).exists()
    assert not default_storage.exists(key)
    assert default_storage.exists(keep.version.blob_key)
