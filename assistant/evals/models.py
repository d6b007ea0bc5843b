"""The answer-quality loop: eval cases (what a good answer looks like, as whom), runs and per-case results."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EvalCase(models.Model):
    """One question, asked as one user, with what the answer must and must not contain.

    ``kind`` decides how the case is scored: ``answer`` (the expected documents are retrieved and cited, the
    expected facts appear), ``permission`` (asked as a user who may not read the expected documents: none of
    them may surface, nor any must-not-contain string) and ``refusal`` (nothing relevant exists: no answer).
    """

    class Kind(models.TextChoices):
        ANSWER = "answer"
        PERMISSION = "permission"
        REFUSAL = "refusal"

    suite = models.SlugField(max_length=64, default="demo", help_text="The eval set this case belongs to.")
    key = models.SlugField(max_length=100, help_text="Stable name of the case within its suite.")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ANSWER)
    question = models.TextField()
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    expected_documents = models.JSONField(
        default=list, blank=True, help_text="Document titles or file names (e.g. pto-policy.md)."
    )
    expected_facts = models.JSONField(default=list, blank=True, help_text="Strings a good answer contains.")
    must_not_contain = models.JSONField(default=list, blank=True, help_text="Strings no answer may contain.")
    active = models.BooleanField(default=True)
    notes = models.CharField(max_length=500, blank=True)
    # Set when the case was made from a thumbs-down answer.
    source_message = models.ForeignKey(
        "assistant.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["suite", "key"]
        constraints = [models.UniqueConstraint(fields=["suite", "key"], name="evals_case_unique_key")]

    def __str__(self) -> str:
        return f"{self.suite}/{self.key}"


class EvalRun(models.Model):
    """One run of a suite against one prompt version (and route). Scores are means over applicable cases,
    from 0 to 1; a score is null when no case of the run measures it."""

    class Status(models.TextChoices):
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    suite = models.SlugField(max_length=64)
    suite_hash = models.CharField(max_length=64, help_text="Hash of the cases run: the eval set's version.")
    prompt_version = models.ForeignKey("assistant.PromptVersion", on_delete=models.PROTECT, related_name="eval_runs")
    prompt_label = models.CharField(max_length=50, blank=True)
    route = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    case_count = models.PositiveIntegerField(default=0)
    passed_count = models.PositiveIntegerField(default=0)
    retrieval_hit_rate = models.FloatField(null=True, blank=True)
    citation_precision = models.FloatField(null=True, blank=True)
    fact_recall = models.FloatField(null=True, blank=True)
    refusal_correctness = models.FloatField(null=True, blank=True)
    permission_correctness = models.FloatField(null=True, blank=True)
    judge_score = models.FloatField(null=True, blank=True, help_text="LLM-as-judge (guard route), when configured.")
    score = models.FloatField(null=True, blank=True, help_text="Mean of the scores above: what the release gate uses.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["prompt_version", "-started_at"], name="evals_run_version_recent")]

    def __str__(self) -> str:
        return f"{self.suite} on {self.prompt_version} ({self.started_at:%Y-%m-%d %H:%M})"


class EvalResult(models.Model):
    """How one case fared in one run, with what was shown and answered (for review)."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.SET_NULL, null=True, related_name="results")
    case_key = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=EvalCase.Kind.choices)
    passed = models.BooleanField()
    answer_status = models.CharField(max_length=20)
    answer = models.TextField(blank=True)
    retrieved_documents = models.JSONField(default=list, blank=True)
    cited_documents = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict, blank=True)
    failures = models.JSONField(default=list, blank=True, help_text="Why the case failed, one line per check.")
    latency_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run_id", "case_key"]

    def __str__(self) -> str:
        return f"{self.case_key}: {'pass' if self.passed else 'fail'}"
