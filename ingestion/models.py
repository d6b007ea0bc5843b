"""Documents, their versions (one per uploaded file), and the jobs that turn a version into chunks."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class Document(models.Model):
    """A logical document with its access rules. Its current chunks come from ``current_version``."""

    title = models.CharField(max_length=500)
    source = models.CharField(max_length=1000, blank=True, help_text="Where it came from: a path, URL or 'upload'.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_documents", null=True, blank=True
    )
    is_public = models.BooleanField(default=False, help_text="Readable by every employee.")
    groups = models.ManyToManyField(Group, blank=True, related_name="documents")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="shared_documents")
    current_version = models.ForeignKey(
        "DocumentVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    retention_days = models.PositiveIntegerField(null=True, blank=True, help_text="Delete this many days after upload.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class DocumentVersion(models.Model):
    """One uploaded file of a document: the blob in object storage and what was detected about it."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    blob_key = models.CharField(max_length=1000, help_text="Key of the raw file in object storage.")
    original_name = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    detected_type = models.CharField(max_length=100, blank=True, help_text="Media type sniffed from the bytes.")
    parser_version = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["document", "sha256"], name="unique_content_per_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.pk} ({self.original_name})"


class IngestionJob(models.Model):
    """The state of turning one version into chunks; claimed with a conditional UPDATE by any worker."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        PARSING = "parsing"
        CHUNKING = "chunking"
        EMBEDDING = "embedding"
        READY = "ready"
        FAILED = "failed"

    version = models.OneToOneField(DocumentVersion, on_delete=models.CASCADE, related_name="job")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    error = models.TextField(blank=True, help_text="What went wrong, in words a curator understands.")
    attempts = models.PositiveSmallIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    run_id = models.UUIDField(
        null=True, blank=True, help_text="The worker run that claimed it last (one run may take a batch of jobs)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"
