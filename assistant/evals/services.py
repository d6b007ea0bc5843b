"""Writes of the answer-quality loop: load an eval set, run it through the real chat pipeline, turn a
thumbs-down answer into a case."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import PurePosixPath

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from assistant.evals import judge
from assistant.evals.loader import CaseData
from assistant.evals.models import EvalCase, EvalResult, EvalRun
from assistant.evals.scoring import CaseScore, CaseSpec, Observed, aggregate, score_case
from assistant.models import Conversation, Feedback
from assistant.observability.request_id import bind_request
from assistant.prompts import get_prompt_version
from assistant.services import (
    AnswerDone,
    AnswerFailed,
    ChatEvent,
    PassageShown,
    answer_question,
    create_conversation,
    delete_conversation,
)
from ingestion.models import Document
from retrieval.models import Chunk

logger = logging.getLogger("assistant.evals")


class EvalUserMissing(LookupError):
    """A case runs as a user that does not exist (load the demo data first for the demo set)."""


@transaction.atomic
def load_eval_cases(*, cases: Sequence[CaseData], suite: str) -> int:
    """Create or update the suite's cases by key (the file is the source of truth for the keys it lists;
    cases added in the admin stay). Returns the number of cases written."""
    usernames = {case.run_as for case in cases}
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    missing = sorted(usernames - users.keys())
    if missing:
        raise EvalUserMissing(f"eval cases run as unknown users: {missing}")
    for case in cases:
        EvalCase.objects.update_or_create(
            suite=suite,
            key=case.key,
            defaults={
                "kind": case.kind,
                "question": case.question,
                "run_as": users[case.run_as],
                "expected_documents": list(case.expected_documents),
                "expected_facts": list(case.expected_facts),
                "must_not_contain": list(case.must_not_contain),
                "notes": case.notes,
                "active": True,
            },
        )
    return len(cases)


def create_case_from_feedback(*, feedback: Feedback, suite: str = "feedback") -> EvalCase:
    """A case from a thumbs-down answer: the same question, asked as the same user. Idempotent per message.

    What a good answer holds is not known yet: a reviewer adds expected documents and facts in the admin;
    until then the case checks that the question is answered and that the disliked answer is not repeated."""
    message = feedback.message
    question = message.reply_to.content if message.reply_to else ""
    key = f"feedback-{message.pk}"
    case, _ = EvalCase.objects.get_or_create(
        suite=suite,
        key=key,
        defaults={
            "kind": EvalCase.Kind.ANSWER,
            "question": question,
            "run_as": message.conversation.owner,
            "notes": f"From thumbs-down on message {message.pk}: {feedback.comment}"[:500],
            "source_message": message,
        },
    )
    return case


# --- running ------------------------------------------------------------------------------------------------


def suite_hash(cases: Sequence[EvalCase]) -> str:
    """The eval set's version: a hash of what its cases ask and expect."""
    payload = [
        [c.key, c.kind, c.question, c.run_as_id, c.expected_documents, c.expected_facts, c.must_not_contain]
        for c in sorted(cases, key=lambda c: c.key)
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def resolve_documents(names: Sequence[str]) -> frozenset[int]:
    """Document ids for expected names: a document's title or the file name at the end of its source."""
    if not names:
        return frozenset()
    wanted = {name.casefold() for name in names}
    ids = set()
    for pk, title, source in Document.objects.values_list("pk", "title", "source"):
        if title.casefold() in wanted or PurePosixPath(source).name.casefold() in wanted:
            ids.add(pk)
    return frozenset(ids)


async def _collect(
    *, user: User, conversation: Conversation, question: str, prompt_label: str, route: str | None, request_id: str
) -> list[ChatEvent]:
    return [
        event
        async for event in answer_question(
            user=user,
            conversation=conversation,
            question=question,
            prompt_label=prompt_label,
            route=route,
            request_id=request_id,
        )
    ]


def ask_case(*, case: EvalCase, prompt_label: str, route: str | None) -> tuple[Observed, int]:
    """Ask the case's question as its user through ``answer_question`` (the real pipeline: permission-aware
    retrieval, relevance gate, prompt, gateway, citation check). Returns what was observed and the latency."""
    conversation = create_conversation(owner=case.run_as, title=f"Eval {case.key}", channel="api")
    request_id = f"eval-{uuid.uuid4().hex[:20]}"
    bind_request(request_id, eval_case=case.key)
    started = time.perf_counter()
    try:
        events = async_to_sync(_collect)(
            user=case.run_as,
            conversation=conversation,
            question=case.question,
            prompt_label=prompt_label,
            route=route,
            request_id=request_id,
        )
    finally:
        latency_ms = round((time.perf_counter() - started) * 1000)
        # The answer lives on in the EvalResult; the conversation would only clutter the user's history.
        delete_conversation(conversation=conversation)
    shown = {e.number: e for e in events if isinstance(e, PassageShown)}
    status, answer, cited_numbers = "error", "", []
    for event in events:
        if isinstance(event, AnswerDone):
            status, answer, cited_numbers = event.status, event.content, event.cited
        elif isinstance(event, AnswerFailed):
            status, answer = "error", event.message
    cited_passages = [shown[n] for n in cited_numbers if n in shown]
    texts = dict(Chunk.objects.filter(pk__in=[p.chunk_id for p in cited_passages]).values_list("pk", "text"))
    observed = Observed(
        status=status,
        answer=answer,
        retrieved_documents=tuple(p.document_id for p in shown.values()),
        cited=tuple((p.document_id, texts.get(p.chunk_id, "")) for p in cited_passages),
    )
    return observed, latency_ms


def run_eval_suite(
    *,
    suite: str,
    prompt_label: str | None = None,
    route: str | None = None,
    started_by: User | None = None,
    use_judge: bool = True,
) -> EvalRun:
    """Run every active case of ``suite`` against the prompt version ``prompt_label`` points at (default: the
    label chat answers with) and store the run with one result per case.

    Guarantees: each case runs as its own user through the real pipeline, so permission cases exercise the
    real ACLs; the run records the prompt version, route and the eval set's hash; scores are means over the
    cases they apply to (see ``scoring.score_case``)."""
    label = prompt_label or settings.CHAT_PROMPT_LABEL
    version = get_prompt_version(name=settings.CHAT_PROMPT_NAME, label=label)
    cases = list(EvalCase.objects.filter(suite=suite, active=True).select_related("run_as").order_by("key"))
    run = EvalRun.objects.create(
        suite=suite,
        suite_hash=suite_hash(cases),
        prompt_version=version,
        prompt_label=label,
        route=route or version.route,
        started_by=started_by,
        case_count=len(cases),
    )
    judging = use_judge and judge.available()
    all_scores: list[dict[str, float]] = []
    try:
        for case in cases:
            observed, latency_ms = ask_case(case=case, prompt_label=label, route=route)
            scored: CaseScore = score_case(
                CaseSpec(
                    kind=case.kind,
                    expected_documents=resolve_documents(case.expected_documents),
                    expected_facts=tuple(case.expected_facts),
                    must_not_contain=tuple(case.must_not_contain),
                ),
                observed,
            )
            if judging and case.kind == EvalCase.Kind.ANSWER and observed.status == "complete":
                verdict = judge.grade(question=case.question, answer=observed.answer, facts=case.expected_facts)
                if verdict is not None:
                    scored.scores["judge"] = verdict
            all_scores.append(scored.scores)
            EvalResult.objects.create(
                run=run,
                case=case,
                case_key=case.key,
                kind=case.kind,
                passed=scored.passed,
                answer_status=observed.status,
                answer=observed.answer,
                retrieved_documents=sorted(set(observed.retrieved_documents)),
                cited_documents=sorted({document_id for document_id, _ in observed.cited}),
                scores=scored.scores,
                failures=scored.failures,
                latency_ms=latency_ms,
            )
            if scored.passed:
                run.passed_count += 1
    except BaseException:
        run.status = EvalRun.Status.FAILED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at", "passed_count"])
        raise
    for name, value in aggregate(all_scores).items():
        setattr(run, name, value)
    run.status = EvalRun.Status.FINISHED
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "eval.run_finished",
        extra={"suite": suite, "run_id": run.pk, "prompt_version": version.pk, "score": run.score},
    )
    return run
