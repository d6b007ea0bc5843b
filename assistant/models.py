"""Chat: conversations, messages, the passages each answer cited, feedback; and versioned prompts."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PromptVersion(models.Model):
    """One immutable version of a prompt: its text and the model settings it was written for.

    Rows are never updated (a database trigger refuses it, migration 0002); a change is a new version, and
    a release is moving a :class:`PromptLabel`.
    """

    name = models.CharField(max_length=100, default="chat", help_text="The prompt's name, e.g. 'chat'.")
    version = models.PositiveIntegerField()
    system_template = models.TextField(help_text="The system message. Never shown to users.")
    user_template = models.TextField(
        help_text="The user turn: must contain {passages} and {question}. Passages are fenced as data here."
    )
    route = models.CharField(max_length=100, default="chat", help_text="The LLM gateway route answering with it.")
    temperature = models.FloatField(default=0.1)
    max_output_tokens = models.PositiveIntegerField(default=700)
    context_window_tokens = models.PositiveIntegerField(
        default=8192, help_text="The model's window; prompt, passages, history and answer must fit in it."
    )
    commit_message = models.CharField(max_length=500, help_text="Why this version exists.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="unique_prompt_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class PromptLabel(models.Model):
    """A label (``production``, ``staging``...) pointing at one version of a prompt. Moving it is a release."""

    name = models.CharField(max_length=100, default="chat")
    label = models.CharField(max_length=50)
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        ordering = ["name", "label"]
        constraints = [models.UniqueConstraint(fields=["name", "label"], name="unique_prompt_label")]

    def __str__(self) -> str:
        return f"{self.name}@{self.label}"


class PromptLabelMove(models.Model):
    """The history of label moves: who released or rolled back which version, when, and why."""

    name = models.CharField(max_length=100)
    label = models.CharField(max_length=50)
    from_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="+")
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    moved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-moved_at"]

    def __str__(self) -> str:
        return f"{self.name}@{self.label} -> v{self.to_version_id}"


class Conversation(models.Model):
    class Channel(models.TextChoices):
        WEB = "web"
        API = "api"
        OPENAI = "openai"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, default="New conversation")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    # Older turns that no longer fit the context budget, condensed (see assistant.context).
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conversation_owner_recent")]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        NOTHING_FOUND = "nothing_found"
        STOPPED = "stopped"
        ERROR = "error"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETE)
    reply_to = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies")
    # What produced an answer (DESIGN.md invariant 3).
    prompt_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, null=True, blank=True)
    route = models.CharField(max_length=100, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    deployment = models.CharField(max_length=200, blank=True)
    retrieval_settings = models.JSONField(default=dict, blank=True)
    label = models.CharField(max_length=200, blank=True, help_text="Shown above the answer, e.g. extractive.")
    error_class = models.CharField(max_length=50, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Markers the model wrote that matched no shown passage: removed from ``content``, kept here for review.
    invalid_citations = models.JSONField(default=list, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk}"


class Citation(models.Model):
    """A passage shown to the model for one answer, numbered as the answer cites it.

    ``chunk_id`` is kept as a plain number: chunks are replaced when a document is re-ingested, and the record
    of what was shown must survive that. Access is re-checked against the live chunk whenever it is shown.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    number = models.PositiveSmallIntegerField()
    chunk_id = models.BigIntegerField()
    document_id = models.BigIntegerField()
    version_id = models.BigIntegerField(null=True, blank=True)
    title = models.CharField(max_length=500)
    locator = models.JSONField(default=dict, blank=True)
    score = models.FloatField(default=0.0)
    cited = models.BooleanField(default=False, help_text="The answer refers to it with [number].")

    class Meta:
        ordering = ["message_id", "number"]
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="unique_citation_number")]

    def __str__(self) -> str:
        return f"[{self.number}] chunk {self.chunk_id}"


class Feedback(models.Model):
    class Rating(models.IntegerChoices):
        DOWN = -1
        UP = 1

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="one_feedback_per_user")]

    def __str__(self) -> str:
        return f"{self.rating:+d} on {self.message_id}"
