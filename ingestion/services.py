"""Writes for documents: upload, new versions, access changes, deletion, retention, synchronous text ingest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import User
from ingestion.models import Document, DocumentVersion, IngestionJob
from ingestion.parsers import PARSERS, ParseError, UnsupportedType, detect_type
from ingestion.parsers.base import decode_text
from ingestion.pipeline import RUNNING, chunk_params, embed_drafts, parse_and_chunk, write_version_chunks
from ingestion.signals import document_access_changed, document_deleted, document_uploaded
from ingestion.storage import delete_blob, save_blob
from retrieval.access import acl_for_document
from retrieval.embeddings import get_embedder
from retrieval.services import set_document_acl

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("docent.audit.ingestion")


class UploadRejected(ValueError):
    """The upload can be refused before any work is queued; the message is shown to the uploader."""


class UploadTooLarge(UploadRejected):
    pass


class UploadEmpty(UploadRejected):
    pass


class UploadUnreadable(UploadRejected):
    """A supported type, but the bytes are not valid for it (e.g. text that is not UTF-8)."""


class UploadUnsupported(UploadRejected):
    """The bytes are not a format Docent reads (whatever the file name says)."""


@dataclass(frozen=True)
class Access:
    """Who may read a document besides its owner."""

    is_public: bool = False
    group_ids: tuple[int, ...] = ()
    user_ids: tuple[int, ...] = ()


def check_upload(*, data: bytes, filename: str) -> str:
    """What can be known before queueing: size, emptiness, and a supported type. Returns the media type."""
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    if len(data) > limit:
        raise UploadTooLarge(f"The file is larger than the {settings.MAX_UPLOAD_MB} MB upload limit.")
    if not data.strip():
        raise UploadEmpty("The file is empty.")
    try:
        media_type = detect_type(data, filename)
    except UnsupportedType as exc:
        raise UploadUnsupported(str(exc)) from exc
    if media_type.startswith("text/"):
        # Cheap to know now, so say it now rather than on a failed job.
        try:
            decode_text(data)
        except ParseError as exc:
            raise UploadUnreadable(str(exc)) from exc
    return media_type


def upload_document(
    *,
    data: bytes,
    filename: str,
    title: str = "",
    owner: User | None,
    access: Access,
    source: str = "upload",
    retention_days: int | None = None,
    enqueue: bool = True,
) -> IngestionJob:
    """Store the file, create the document, its first version and a queued job; enqueue the job on commit
    (``enqueue=False``: the caller runs the job itself, as the benchmark does).

    Raises ``UploadRejected`` (nothing stored) for what is knowable now; parse problems surface on the job.
    """
    media_type = check_upload(data=data, filename=filename)
    key = save_blob(data=data, filename=filename)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                title=(title or _title_from_name(filename))[:500],
                source=source[:1000],
                owner=owner,
                is_public=access.is_public,
                retention_days=retention_days,
            )
            # A new document has no shares yet: add (one INSERT, none when empty), not set (which reads first).
            if access.group_ids:
                document.groups.add(*access.group_ids)
            if access.user_ids:
                document.users.add(*access.user_ids)
            job = _create_version_and_job(
                document=document, key=key, data=data, filename=filename, media_type=media_type, enqueue=enqueue
            )
            document_uploaded.send(sender=Document, document=document, actor=owner, version_id=job.version_id)
    except BaseException:
        delete_blob(key)
        raise
    audit_logger.info("document %s uploaded by %s", document.pk, getattr(owner, "pk", None))
    return job


def add_document_version(*, document: Document, data: bytes, filename: str) -> IngestionJob:
    """Queue a new version of an existing document. Its chunks replace the old ones only once it is ready.

    Idempotent on content: uploading the same bytes again returns the existing version's job (re-queued if
    it had failed).
    """
    media_type = check_upload(data=data, filename=filename)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = IngestionJob.objects.filter(version__document=document, version__sha256=sha256).first()
    if existing is not None:
        if existing.status == IngestionJob.Status.FAILED:
            IngestionJob.objects.filter(pk=existing.pk).update(status=IngestionJob.Status.QUEUED, error="")
            transaction.on_commit(lambda: _enqueue(existing.pk))
        return existing
    key = save_blob(data=data, filename=filename)
    try:
        with transaction.atomic():
            job = _create_version_and_job(
                document=document, key=key, data=data, filename=filename, media_type=media_type
            )
    except BaseException:
        delete_blob(key)
        raise
    return job


def ingest_file(*, path: Path, access: Access, owner: User | None) -> IngestionJob:
    """Queue a file from disk, keyed by its absolute path (``Document.source``): a new file makes a
    document, a changed one a new version, an unchanged one nothing new (its existing job is returned).
    Access is applied to an existing document too, so re-running with other access rules updates it."""
    source = str(path.resolve())
    data = path.read_bytes()
    existing = Document.objects.filter(source=source).first()
    if existing is None:
        return upload_document(data=data, filename=path.name, owner=owner, access=access, source=source)
    current = Access(
        is_public=existing.is_public,
        group_ids=tuple(sorted(existing.groups.values_list("id", flat=True))),
        user_ids=tuple(sorted(existing.users.values_list("id", flat=True))),
    )
    wanted = Access(
        is_public=access.is_public, group_ids=tuple(sorted(access.group_ids)), user_ids=tuple(sorted(access.user_ids))
    )
    if current != wanted:
        set_document_access(document=existing, access=wanted)
    return add_document_version(document=existing, data=data, filename=path.name)


def _create_version_and_job(
    *, document: Document, key: str, data: bytes, filename: str, media_type: str, enqueue: bool = True
) -> IngestionJob:
    version = DocumentVersion.objects.create(
        document=document,
        blob_key=key,
        original_name=filename[:500],
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        detected_type=media_type,
        parser_version=PARSERS[media_type].version,
    )
    job = IngestionJob.objects.create(version=version)
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    # Imported here because the tasks module imports this one (tasks call services).
    from ingestion.tasks import ingest_version_task

    try:
        ingest_version_task.delay(job_id)
    except KombuOperationalError as exc:
        # The broker is down: the job row stays queued (committed) and the watchdog sends it again later.
        logger.warning(
            "ingestion job %s could not be sent to the broker (%r); the watchdog will resend it", job_id, exc
        )


@transaction.atomic
def set_document_access(*, document: Document, access: Access, actor: User | None = None) -> list[str]:
    """Change who may read a document; its chunks' ACLs change in the same transaction (no re-embedding).

    Holds the document row lock, so a job finishing at the same moment writes either the old or the new
    ACL and then this change applies to its chunks too. Returns the new ACL.
    """
    locked = Document.objects.select_for_update().get(pk=document.pk)
    locked.is_public = access.is_public
    locked.save(update_fields=["is_public", "updated_at"])
    locked.groups.set(access.group_ids)
    locked.users.set(access.user_ids)
    acl = acl_for_document(
        is_public=access.is_public, group_ids=access.group_ids, user_ids=access.user_ids, owner_id=locked.owner_id
    )
    set_document_acl(document_id=locked.pk, acl=acl)
    document_access_changed.send(sender=Document, document=locked, actor=actor, acl=acl)
    audit_logger.info("document %s access set to %s", locked.pk, acl)
    return acl


def delete_document(*, document: Document, actor: User | None = None) -> None:
    """Delete a document with its versions, jobs and chunks (one transaction), then its stored files.

    Files are deleted after commit: a failed transaction must not leave rows pointing at missing files.
    """
    keys = list(DocumentVersion.objects.filter(document=document).values_list("blob_key", flat=True))
    document_id = document.pk
    with transaction.atomic():
        Document.objects.filter(pk=document_id).update(current_version=None)
        Document.objects.filter(pk=document_id).delete()
        transaction.on_commit(lambda: _delete_blobs(keys))
        document_deleted.send(
            sender=Document, document_id=document_id, title=document.title, actor=actor, files=len(keys)
        )
    audit_logger.info("document %s deleted by %s (%s files)", document_id, getattr(actor, "pk", None), len(keys))


def _delete_blobs(keys: list[str]) -> None:
    for key in keys:
        delete_blob(key)


def purge_expired_documents(*, now: datetime | None = None) -> int:
    """Delete every document older than its ``retention_days``. Returns how many were deleted."""
    expires_at = ExpressionWrapper(
        F("created_at") + F("retention_days") * Value(timedelta(days=1)), output_field=DateTimeField()
    )
    expired = Document.objects.filter(retention_days__isnull=False).alias(expires_at=expires_at)
    count = 0
    for document in expired.filter(expires_at__lte=now or timezone.now()):
        delete_document(document=document)
        count += 1
    return count


def requeue_stuck_jobs(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """The watchdog: running jobs whose heartbeat stopped are re-queued, or failed after too many attempts;
    jobs queued for longer than INGESTION_QUEUED_RESEND_SECONDS are sent to the broker again.

    Returns (re-queued job ids, failed job ids). The re-queued ones get a fresh task on commit.
    """
    stale = (now or timezone.now()) - timedelta(seconds=settings.INGESTION_HEARTBEAT_TIMEOUT_SECONDS)
    requeued: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        stuck = IngestionJob.objects.select_for_update(skip_locked=True).filter(
            status__in=RUNNING, heartbeat_at__lt=stale
        )
        for job in stuck:
            if job.attempts >= settings.INGESTION_MAX_ATTEMPTS:
                job.status = IngestionJob.Status.FAILED
                job.error = f"The job stopped responding {job.attempts} times and was given up."
                job.finished_at = timezone.now()
                job.save(update_fields=["status", "error", "finished_at"])
                failed.append(job.pk)
            else:
                job.status = IngestionJob.Status.QUEUED
                job.save(update_fields=["status"])
                requeued.append(job.pk)
        # Queued jobs whose message may be lost (broker down when sent, or Redis restarted without its
        # data) are sent again. A duplicate is harmless: the claim lets only one delivery run the job.
        resend_before = (now or timezone.now()) - timedelta(seconds=settings.INGESTION_QUEUED_RESEND_SECONDS)
        waiting = (
            IngestionJob.objects.select_for_update(skip_locked=True)
            .filter(
                Q(heartbeat_at__lt=resend_before) | Q(heartbeat_at__isnull=True, created_at__lt=resend_before),
                status=IngestionJob.Status.QUEUED,
            )
            .exclude(pk__in=requeued)
        )
        resent = list(waiting.values_list("pk", flat=True))
        IngestionJob.objects.filter(pk__in=resent).update(heartbeat_at=timezone.now())  # last sent
        requeued += resent
        for job_id in requeued:
            transaction.on_commit(lambda job_id=job_id: _enqueue(job_id))  # type: ignore[misc]
    if requeued or failed:
        logger.warning("watchdog re-queued %s and failed %s stuck ingestion jobs", requeued, failed)
    return requeued, failed


# --- synchronous ingestion of texts (evaluation, demo, tests) -------------------------------------------


@dataclass(frozen=True)
class TextItem:
    """A text to ingest directly. ``external_id`` goes into ``Document.source`` so callers can map back."""

    title: str
    text: str
    external_id: str = ""
    filename: str = "document.txt"


def ingest_text_documents(
    items: Sequence[TextItem],
    *,
    owner: User | None = None,
    is_public: bool = True,
    group_ids: Iterable[int] = (),
    user_ids: Iterable[int] = (),
) -> list[Document]:
    """Store each text as a blob and run parse -> chunk -> embed -> write in this process, now.

    Embeddings are batched across all the documents (the encoder is the bottleneck). Every document comes
    back ``ready`` with its chunks live, in the order given. A text that cannot be parsed raises
    ``ParseError`` before anything is written.
    """
    access = Access(is_public=is_public, group_ids=tuple(group_ids), user_ids=tuple(user_ids))
    params = chunk_params()
    prepared = []
    for item in items:
        data = item.text.encode("utf-8")
        result = parse_and_chunk(data=data, filename=item.filename, params=params)
        prepared.append((item, data, result))
    embedder = get_embedder()
    vectors = embed_drafts([draft for _, _, result in prepared for draft in result.drafts], embedder=embedder)
    documents: list[Document] = []
    offset = 0
    for item, data, result in prepared:
        key = save_blob(data=data, filename=item.filename)
        with transaction.atomic():
            document = Document.objects.create(
                title=item.title[:500] or "Untitled", source=item.external_id[:1000], owner=owner, is_public=is_public
            )
            if access.group_ids:
                document.groups.set(access.group_ids)
            if access.user_ids:
                document.users.set(access.user_ids)
            version = DocumentVersion.objects.create(
                document=document,
                blob_key=key,
                original_name=item.filename,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                detected_type=result.media_type,
                parser_version=result.parser_version,
            )
            drafts = result.drafts
            count, _ = write_version_chunks(
                version=version,
                drafts=drafts,
                vectors=vectors[offset : offset + len(drafts)],
                model_id=embedder.model_id,
                chunker_version=params.version,
            )
            now = timezone.now()
            IngestionJob.objects.create(
                version=version,
                status=IngestionJob.Status.READY,
                progress=100,
                attempts=1,
                chunk_count=count,
                started_at=now,
                heartbeat_at=now,
                finished_at=now,
            )
        offset += len(drafts)
        documents.append(document)
    return documents


def ingest_text_document(
    item: TextItem,
    *,
    owner: User | None = None,
    is_public: bool = True,
    group_ids: Iterable[int] = (),
    user_ids: Iterable[int] = (),
) -> Document:
    """One text, synchronously; see :func:`ingest_text_documents`."""
    return ingest_text_documents([item], owner=owner, is_public=is_public, group_ids=group_ids, user_ids=user_ids)[0]


def _title_from_name(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip() or "Untitled"
