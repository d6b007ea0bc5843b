"""Reads of documents for a user. Every read that starts from user input goes through these."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from ingestion.models import Document, DocumentVersion, IngestionJob
from retrieval.access import acl_for_document, acl_keys_for_user

# Curators (the "curator" role holds every ingestion permission) manage every document's metadata and
# access; reading a document's *content* still goes through the chunk ACLs in retrieval.
MANAGE_PERMISSION = "ingestion.change_document"
UPLOAD_PERMISSION = "ingestion.add_document"


def can_upload(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(UPLOAD_PERMISSION))


def can_manage_document(user: User | AnonymousUser, document: Document) -> bool:
    """Change access or delete: the owner, or anyone holding the manage permission (curators)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return document.owner_id == user.pk or user.has_perm(MANAGE_PERMISSION)


def documents_for_user(user: User | AnonymousUser) -> QuerySet[Document]:
    """Documents the user may see listed: public, owned, shared with them or their groups (or all, for
    curators)."""
    if not user.is_authenticated or not user.is_active:
        return Document.objects.none()
    documents = Document.objects.all()
    if user.has_perm(MANAGE_PERMISSION):
        return documents
    group_ids = list(user.groups.values_list("id", flat=True))
    visible = Q(is_public=True) | Q(owner_id=user.pk) | Q(users__id=user.pk) | Q(groups__id__in=group_ids)
    return documents.filter(pk__in=Document.objects.filter(visible).values("pk"))


def can_read_document(user: User | AnonymousUser, document: Document) -> bool:
    """May the user read the document's content (open or download it)? The same keys as the chunk ACLs:
    curators see every document listed, but read only what is shared with them."""
    acl = acl_for_document(
        is_public=document.is_public,
        group_ids=document.groups.values_list("id", flat=True),
        user_ids=document.users.values_list("id", flat=True),
        owner_id=document.owner_id,
    )
    return bool(set(acl) & set(acl_keys_for_user(user)))


def get_document_for_user(*, user: User | AnonymousUser, document_id: int) -> Document:
    """The document if the user may see it; ``Document.DoesNotExist`` otherwise (same as missing, so that
    outsiders learn nothing about a document's existence)."""
    return documents_for_user(user).get(pk=document_id)


@dataclass(frozen=True)
class DocumentStatus:
    """What the API and the page show about a document's processing."""

    status: str  # queued | processing | ready | failed
    stage: str  # the job's own state: queued, parsing, chunking, embedding, ready, failed
    progress: int
    error: str
    chunk_count: int


_API_STATUS = {
    IngestionJob.Status.QUEUED: "queued",
    IngestionJob.Status.PARSING: "processing",
    IngestionJob.Status.CHUNKING: "processing",
    IngestionJob.Status.EMBEDDING: "processing",
    IngestionJob.Status.READY: "ready",
    IngestionJob.Status.FAILED: "failed",
}


def with_status(documents: QuerySet[Document]) -> QuerySet[Document]:
    """Prefetch what ``document_status`` needs, in a fixed number of queries for any number of documents."""
    latest_versions = DocumentVersion.objects.select_related("job").order_by("-pk")
    # Chunks the injection screen flagged at ingestion (issue 8), shown to curators on /documents/.
    flagged = Count("chunks", filter=~Q(chunks__injection_flags=[]), distinct=True)
    return documents.annotate(live_chunks=Count("chunks", distinct=True), flagged_chunks=flagged).prefetch_related(
        Prefetch("versions", queryset=latest_versions, to_attr="versions_newest_first"), "groups", "users"
    )


def document_status(document: Document) -> DocumentStatus:
    """Status of the newest version's job; ``chunk_count`` counts the chunks live now (maybe an older
    version's, while a new one is processing)."""
    versions = getattr(document, "versions_newest_first", None)
    newest = versions[0] if versions else document.versions.select_related("job").order_by("-pk").first()
    live = getattr(document, "live_chunks", None)
    chunk_count = live if live is not None else document.chunks.count()
    job = getattr(newest, "job", None) if newest is not None else None
    if job is None:
        return DocumentStatus("ready" if chunk_count else "queued", "queued", 0, "", chunk_count)
    return DocumentStatus(
        _API_STATUS[IngestionJob.Status(job.status)], job.status, job.progress, job.error, chunk_count
    )
