"""Writes for chat: the grounded chat turn, conversations and feedback.

``answer_question`` is the chat-turn flow of DESIGN.md: retrieval (permission-aware) → relevance gate →
prompt assembly from the labelled prompt version with passages fenced as data → context budget → LLM
gateway → citation check → persistence of the answer, the passages shown and what produced it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from assistant.audit import context as audit_context
from assistant.audit.chat import record_answer, record_question
from assistant.context import plan_context
from assistant.guards.output_checks import BLOCKED_MESSAGE, OutputGuard
from assistant.guards.passages import screen_hits
from assistant.guards.redaction import OutboundRedactor
from assistant.llm import gateway
from assistant.llm.types import ChatMessage, CompletionRequest, DoneEvent, ErrorEvent, Passage, TokenEvent
from assistant.models import Citation, Conversation, Feedback, Message, PromptVersion
from assistant.observability.metrics import FEEDBACK
from assistant.observability.request_id import current_request_id
from assistant.observability.turns import outcome_fields, stage, start_turn
from assistant.prompts import INSTRUCTION_HIERARCHY, get_prompt_version, render_messages
from retrieval.embeddings import get_embedder
from retrieval.search import ChunkHit, SearchResults, search

logger = logging.getLogger(__name__)

NOTHING_FOUND = (
    "I could not find anything about this in the documents you have access to, so I will not guess. "
    "Try rephrasing the question, or name the document, team or topic it is about."
)
STOPPED_NOTE = "(Stopped.)"
DEFAULT_TITLE = "New conversation"
_MARKER = re.compile(r"\[(\d{1,3})\]")


class QuestionRejected(ValueError):
    """The question cannot be answered as asked (empty, too long, nothing to regenerate)."""


# --- events of a chat turn (the views turn them into SSE, JSON or OpenAI chunks) --------------------------


@dataclass(frozen=True)
class PassageShown:
    number: int
    chunk_id: int
    document_id: int
    title: str
    locator: dict[str, Any]
    snippet: str


@dataclass(frozen=True)
class AnswerToken:
    text: str


@dataclass(frozen=True)
class AnswerDone:
    message_id: int
    question_id: int
    content: str
    status: str
    label: str
    cited: list[int]
    invalid_citations: list[int]
    model_id: str
    route: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class AnswerFailed:
    error_class: str
    message: str
    message_id: int | None


ChatEvent = PassageShown | AnswerToken | AnswerDone | AnswerFailed


# --- conversations and feedback ----------------------------------------------------------------------------


def create_conversation(*, owner: User, title: str = "", channel: str = "web") -> Conversation:
    return Conversation.objects.create(owner=owner, title=(title.strip() or DEFAULT_TITLE)[:200], channel=channel)


def rename_conversation(*, conversation: Conversation, title: str) -> Conversation:
    title = title.strip()
    if not title:
        raise ValueError("A title cannot be empty.")
    conversation.title = title[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def delete_conversation(*, conversation: Conversation) -> None:
    """Delete the conversation with its messages, citations and feedback."""
    conversation.delete()


def record_feedback(*, message: Message, user: User, rating: int, comment: str = "") -> Feedback:
    """One rating per user and answer; giving it again replaces the earlier one."""
    if message.role != Message.Role.ASSISTANT:
        raise ValueError("Only answers can be rated.")
    if rating not in (Feedback.Rating.UP, Feedback.Rating.DOWN):
        raise ValueError("The rating must be 1 (helpful) or -1 (not helpful).")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, user=user, defaults={"rating": rating, "comment": comment.strip()[:2000]}
    )
    FEEDBACK.labels("up" if rating == Feedback.Rating.UP else "down").inc()
    return feedback


# --- the chat turn -------------------------------------------------------------------------------------------


@dataclass
class _Turn:
    question: Message
    prompt: PromptVersion
    history: list[ChatMessage]
    summary: str
    route: str
    user: User
    where: audit_context.RequestContext


@transaction.atomic
def _start_turn(
    *,
    user: User,
    conversation: Conversation,
    question: str,
    regenerate: bool,
    history_override: Sequence[ChatMessage] | None,
    prompt_label: str | None = None,
    route: str | None = None,
    where: audit_context.RequestContext,
) -> _Turn:
    """Persist the question (or find the one to regenerate) and load what the prompt needs."""
    prompt = get_prompt_version(name=settings.CHAT_PROMPT_NAME, label=prompt_label or settings.CHAT_PROMPT_LABEL)
    previous = list(conversation.messages.order_by("created_at", "pk"))
    if regenerate:
        asked = [m for m in previous if m.role == Message.Role.USER]
        if not asked:
            raise QuestionRejected("There is no question to answer again.")
        question_message = asked[-1]
        # The new answer replaces the old one(s) to that question.
        Message.objects.filter(reply_to=question_message).delete()
        previous = [m for m in previous if m.created_at < question_message.created_at]
    else:
        question_message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=question)
        if conversation.title == DEFAULT_TITLE:
            conversation.title = " ".join(question.split())[:80]
            conversation.save(update_fields=["title", "updated_at"])
    if history_override is not None:
        history = list(history_override)
    else:
        history = [
            ChatMessage(role="user" if m.role == Message.Role.USER else "assistant", content=m.content)
            for m in previous
            if m.role == Message.Role.USER or m.status == Message.Status.COMPLETE
        ]
    record_question(
        user=user,
        conversation_id=conversation.pk,
        message_id=question_message.pk,
        question=question_message.content,
        regenerate=regenerate,
        request=where,
    )
    return _Turn(
        question=question_message,
        prompt=prompt,
        history=history,
        summary=conversation.summary,
        route=route or prompt.route,
        user=user,
        where=where,
    )


def _relevance(question: str, hits: Sequence[ChunkHit]) -> list[float]:
    """Cosine similarity of each passage to the question (the search score is a rank fusion, not absolute).

    Dense and hybrid searches return it with each hit (from the stored chunk embedding); only hits without it
    (a lexical-only search) are embedded here.
    """
    missing = [hit for hit in hits if hit.similarity is None]
    computed: dict[int, float] = {}
    if missing:
        embedder = get_embedder()
        vectors = embedder.embed_passages([hit.text for hit in missing])
        similarities = np.asarray(vectors @ embedder.embed_query(question))
        computed = {hit.chunk_id: float(value) for hit, value in zip(missing, similarities, strict=True)}
    return [hit.similarity if hit.similarity is not None else computed[hit.chunk_id] for hit in hits]


def is_relevant(hit: ChunkHit, similarity: float) -> bool:
    """Shown to the model: semantically close, or somewhat close *and* sharing a keyword with the question.

    Similarity alone cannot tell "Can I carry over unused PTO?" (0.23, a keyword match) from "What's the weather
    tomorrow?" (0.22, none) on the demo corpus; the keyword requirement can.
    """
    if similarity >= settings.CHAT_MIN_RELEVANCE:
        return True
    return hit.lexical_rank is not None and similarity >= settings.CHAT_MIN_RELEVANCE_WITH_KEYWORD


def check_citations(text: str, numbers: set[int]) -> tuple[str, list[int], list[int]]:
    """Remove ``[n]`` markers that match no shown passage. Returns the text, cited and invalid numbers."""
    cited: list[int] = []
    invalid: list[int] = []

    def replace(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number in numbers:
            if number not in cited:
                cited.append(number)
            return match.group(0)
        if number not in invalid:
            invalid.append(number)
        return ""

    return _MARKER.sub(replace, text), cited, invalid


@dataclass
class _Outcome:
    text: str = ""
    done: DoneEvent | None = None
    error: ErrorEvent | None = None
    status: str = Message.Status.COMPLETE
    passages: list[tuple[Passage, float]] = field(default_factory=list)
    version_of: dict[int, int] = field(default_factory=dict)
    retrieval_settings: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None
    flags: dict[int, list[str]] = field(default_factory=dict)
    guard: OutputGuard | None = None


@transaction.atomic
def _finish_turn(*, conversation: Conversation, turn: _Turn, outcome: _Outcome, request_id: str) -> AnswerDone:
    """Persist the answer with the passages shown, its citations and what produced it."""
    numbers = {passage.number for passage, _ in outcome.passages}
    with stage("checks"):
        content, cited, invalid = check_citations(outcome.text, numbers)
    content = content.strip()
    if outcome.status == Message.Status.STOPPED:
        content = f"{content}\n\n{STOPPED_NOTE}".strip()
    if outcome.error is not None and not content:
        content = outcome.error.message
    blocked = outcome.guard.blocked if outcome.guard is not None else ""
    if blocked:
        content = BLOCKED_MESSAGE
    done = outcome.done
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=content,
        status=outcome.status,
        reply_to=turn.question,
        prompt_version=turn.prompt,
        route=turn.route,
        model_id=done.model_id if done else "",
        deployment=done.deployment if done else "",
        label=(done.label or "") if done else "",
        error_class=outcome.error.error_class if outcome.error else ("output_blocked" if blocked else ""),
        input_tokens=done.input_tokens if done else 0,
        output_tokens=done.output_tokens if done else 0,
        retrieval_settings=outcome.retrieval_settings,
        invalid_citations=invalid,
        request_id=request_id,
    )
    Citation.objects.bulk_create(
        Citation(
            message=message,
            number=passage.number,
            chunk_id=passage.chunk_id,
            document_id=passage.document_id,
            version_id=outcome.version_of.get(passage.chunk_id),
            title=passage.title,
            locator=passage.locator,
            score=score,
            cited=passage.number in cited,
        )
        for passage, score in outcome.passages
    )
    update = ["updated_at"]
    if outcome.summary is not None and outcome.summary != conversation.summary:
        conversation.summary = outcome.summary
        update.append("summary")
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=update)
    if invalid:
        logger.warning("answer_citations_invalid message=%s numbers=%s", message.pk, invalid)
    if blocked:
        logger.warning("answer_blocked message=%s reason=%s request_id=%s", message.pk, blocked, request_id)
    record_answer(
        user=turn.user,
        conversation_id=conversation.pk,
        message_id=message.pk,
        question=turn.question.content,
        answer=content,
        status=message.status,
        passages=[passage for passage, _ in outcome.passages],
        version_of=outcome.version_of,
        flags=outcome.flags,
        prompt_version_id=turn.prompt.pk,
        model_id=message.model_id,
        route=message.route,
        blocked=blocked,
        removed_links=outcome.guard.removed_links if outcome.guard is not None else [],
        request=turn.where,
    )
    return AnswerDone(
        message_id=message.pk,
        question_id=turn.question.pk,
        content=content,
        status=message.status,
        label=message.label,
        cited=cited,
        invalid_citations=invalid,
        model_id=message.model_id,
        route=message.route,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
    )


async def answer_question(
    *,
    user: User,
    conversation: Conversation,
    question: str,
    regenerate: bool = False,
    history: Sequence[ChatMessage] | None = None,
    request_id: str = "",
    prompt_label: str | None = None,
    route: str | None = None,
) -> AsyncIterator[ChatEvent]:
    """Answer ``question`` in ``conversation`` (which the caller has checked ``user`` owns), as events.

    Guarantees: only passages ``user`` may read are retrieved and shown; below the relevance threshold no
    model is asked and the answer says nothing was found; every ``[n]`` kept in the stored answer maps to a
    passage that was shown; the stored citations are exactly the passages shown to the model; the answer
    records the prompt version, route, model id and retrieval settings; an answer stopped by the client is
    stored as far as it got. ``history`` replaces the stored history (the OpenAI-compatible endpoint).
    ``prompt_label`` and ``route`` override the configured label and the prompt's route (eval runs).
    """
    where = audit_context.current()
    request_id = request_id or current_request_id() or where.request_id or uuid.uuid4().hex
    where = audit_context.RequestContext(ip=where.ip, user_agent=where.user_agent, request_id=request_id)
    timer = start_turn(request_id=request_id, user_id=user.pk)
    try:
        with timer.stage("guard"):
            question = question.strip()
            if not question and not regenerate:
                raise QuestionRejected("Ask a question first.")
            if len(question) > settings.CHAT_MAX_QUESTION_CHARS:
                raise QuestionRejected(f"Questions are limited to {settings.CHAT_MAX_QUESTION_CHARS} characters.")
        with timer.stage("persistence"):
            turn = await sync_to_async(_start_turn)(
                user=user,
                conversation=conversation,
                question=question,
                regenerate=regenerate,
                history_override=history,
                prompt_label=prompt_label,
                route=route,
                where=where,
            )
    except QuestionRejected:
        timer.note(status="rejected", error_class="question_rejected")
        timer.finish()
        raise
    timer.note(request_id=request_id, prompt_version=turn.prompt.pk, route=turn.route, channel=conversation.channel)
    question = turn.question.content
    outcome = _Outcome()
    finished = False
    try:
        with timer.stage("retrieval"):
            results: SearchResults = await sync_to_async(search)(user=user, query=question, k=settings.CHAT_RETRIEVAL_K)
            scores = await asyncio.to_thread(_relevance, question, results)
        outcome.retrieval_settings = {
            **results.describe(),
            "min_relevance": settings.CHAT_MIN_RELEVANCE,
            "min_relevance_with_keyword": settings.CHAT_MIN_RELEVANCE_WITH_KEYWORD,
            "relevance": [round(s, 4) for s in scores],
            "retrieved_chunk_ids": [hit.chunk_id for hit in results],
        }
        relevant = [(hit, s) for hit, s in zip(results, scores, strict=True) if is_relevant(hit, s)]
        # Injection screen: planted instructions replaced by a marker, flagged passages ranked lower.
        screened = screen_hits(relevant, keep=is_relevant)
        outcome.flags = {s.hit.chunk_id: s.flags for s in screened if s.flags}
        relevant = [(s.hit, s.score) for s in screened]
        timer.note(passages_retrieved=len(results), empty_retrieval=not relevant)
        if not relevant:
            outcome.status = Message.Status.NOTHING_FOUND
            outcome.text = NOTHING_FOUND
            yield AnswerToken(NOTHING_FOUND)
            with timer.stage("persistence"):
                done = await sync_to_async(_finish_turn)(
                    conversation=conversation, turn=turn, outcome=outcome, request_id=request_id
                )
            finished = True
            yield done
            return

        passages = [
            Passage(
                number=i,
                chunk_id=hit.chunk_id,
                document_id=hit.document_id,
                title=hit.title,
                text=hit.text,
                locator=dict(hit.locator),
            )
            for i, (hit, _) in enumerate(relevant, start=1)
        ]
        prompt = turn.prompt
        prompt_started = time.perf_counter()
        plan = await asyncio.to_thread(
            plan_context,
            system_prompt=prompt.system_template + INSTRUCTION_HIERARCHY,
            template_overhead=prompt.user_template,
            question=question,
            passages=passages,
            history=turn.history,
            previous_summary=turn.summary,
            window_tokens=prompt.context_window_tokens,
            max_output_tokens=prompt.max_output_tokens,
        )
        outcome.summary = plan.history_summary
        outcome.retrieval_settings["context"] = {
            "budget_tokens": plan.budget_tokens,
            "used_tokens": plan.used_tokens,
            "dropped_turns": plan.dropped_turns,
            "dropped_passages": plan.dropped_passages,
        }
        score_of = {hit.chunk_id: s for hit, s in relevant}
        outcome.passages = [(p, score_of[p.chunk_id]) for p in plan.passages]
        outcome.version_of = {hit.chunk_id: hit.version_id for hit, _ in relevant}
        snippets = {hit.chunk_id: hit.snippet for hit, _ in relevant}
        shown = plan.passages
        for passage in shown:
            yield PassageShown(
                number=passage.number,
                chunk_id=passage.chunk_id,
                document_id=passage.document_id,
                title=passage.title,
                locator=passage.locator,
                snippet=snippets.get(passage.chunk_id, ""),
            )
        rendered = render_messages(
            version=prompt,
            question=question,
            passages=shown,
            history=plan.history,
            history_summary=plan.history_summary,
        )
        timer.add("prompt", time.perf_counter() - prompt_started)
        timer.note(
            passages_shown=len(shown),
            context_truncated=bool(plan.dropped_passages or plan.dropped_turns),
            context_tokens=plan.used_tokens,
        )
        outcome.guard = OutputGuard(
            canary=rendered.canary,
            system_prompt=rendered.messages[0].content,
            allowed_hosts=list(settings.CHAT_ALLOWED_LINK_HOSTS),
        )
        messages, outbound_question, outbound_passages = rendered.messages, question, list(shown)
        outbound = OutboundRedactor()
        if settings.REDACT_OUTBOUND:
            # PII and secrets leave as numbered placeholders; the answer gets the values back below.
            messages = [ChatMessage(role=m.role, content=outbound.redact(m.content)) for m in messages]
            outbound_question = outbound.redact(question)
            outbound_passages = [replace(p, text=outbound.redact(p.text)) for p in shown]
        restorer = outbound.restore_stream()
        request = CompletionRequest(
            route=turn.route,
            messages=messages,
            question=outbound_question,
            passages=outbound_passages,
            max_output_tokens=prompt.max_output_tokens,
            temperature=prompt.temperature,
            user_id=user.pk,
            request_id=request_id,
            prompt_version_id=prompt.pk,
        )
        guard = outcome.guard
        timer.generation_start()
        async for event in gateway.stream_completion(request):
            if isinstance(event, TokenEvent):
                timer.token()
                # Placeholders restored, then the output checks: only what passes them is shown and stored.
                safe = guard.feed(restorer.feed(event.text))
                if safe:
                    outcome.text += safe
                    yield AnswerToken(safe)
            elif isinstance(event, DoneEvent):
                outcome.done = event
            elif isinstance(event, ErrorEvent):
                outcome.error = event
                outcome.status = Message.Status.ERROR
        timer.generation_end()
        with timer.stage("checks"):
            rest = guard.feed(restorer.finish()) + guard.finish()
        if rest:
            outcome.text += rest
            yield AnswerToken(rest)
        with timer.stage("persistence"):
            done = await sync_to_async(_finish_turn)(
                conversation=conversation, turn=turn, outcome=outcome, request_id=request_id
            )
        finished = True
        if outcome.error is not None:
            yield AnswerFailed(outcome.error.error_class, outcome.error.message, done.message_id)
        else:
            yield done
    except (asyncio.CancelledError, GeneratorExit):
        if not finished:
            # The client went away (stop button, closed tab): keep what was answered so far.
            outcome.status = Message.Status.STOPPED
            await asyncio.shield(
                sync_to_async(_finish_turn)(
                    conversation=conversation, turn=turn, outcome=outcome, request_id=request_id
                )
            )
        raise
    finally:
        timer.note(status=outcome.status, **outcome_fields(outcome.done, outcome.error))
        timer.finish()
