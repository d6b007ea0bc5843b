"""An OpenAI-compatible endpoint, so existing clients can use Docent as a permission-aware model.

``POST /v1/chat/completions`` (streaming or not) answers the last user message with the same grounded flow as
the chat page (``answer_question``), searching only what the token's user may read. Earlier user/assistant
messages of the request are the conversation history; client system messages are ignored (Docent's own
prompt applies). Citations are appended to the answer text as::

    <answer with [1] markers>

    Sources:
    [1] <document title> (page 4, section 2.1) — document <id>

and given as structured data in a ``citations`` field of the response (of the last chunk when streaming).
Each request is stored as a conversation of channel ``openai``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from assistant import services
from assistant.llm.ratelimit import check_rate_limit
from assistant.llm.types import ChatMessage
from assistant.prompts import format_locator
from assistant.services import AnswerDone, AnswerFailed, AnswerToken, ChatEvent, PassageShown, QuestionRejected
from assistant.streaming import ERROR_STATUS, NotAuthenticated, authenticate, release_db_connection, sse_response

MODEL_NAME = "docent"


def _error(status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None) -> JsonResponse:
    return JsonResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status)


def _text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def sources_block(passages: list[dict[str, Any]], cited: list[int]) -> str:
    """The documented citation appendix: the cited passages (all shown ones when none was cited)."""
    listed = [p for p in passages if p["number"] in cited] or passages
    if not listed:
        return ""
    lines = []
    for p in listed:
        where = format_locator(p["locator"])
        lines.append(
            f"[{p['number']}] {p['title']}" + (f" ({where})" if where else "") + f" — document {p['document_id']}"
        )
    return "\n\nSources:\n" + "\n".join(lines)


def _citation_data(event: PassageShown) -> dict[str, Any]:
    return {
        "number": event.number,
        "chunk_id": event.chunk_id,
        "document_id": event.document_id,
        "title": event.title,
        "locator": event.locator,
    }


def _parse(body: bytes) -> tuple[str, list[ChatMessage], bool] | JsonResponse:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return _error(400, "The body must be JSON.")
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list) or not payload["messages"]:
        return _error(400, "'messages' must be a non-empty list.", code="invalid_messages")
    turns: list[ChatMessage] = []
    for item in payload["messages"]:
        if not isinstance(item, dict):
            return _error(400, "Each message must be an object.", code="invalid_messages")
        role = item.get("role")
        if role in ("user", "assistant"):
            turns.append(ChatMessage(role=role, content=_text_of(item.get("content"))))
    if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
        return _error(400, "The last message must be a user message with text.", code="invalid_messages")
    return turns[-1].content, turns[:-1], bool(payload.get("stream", False))


@csrf_exempt  # token clients; session users are held to CSRF by the authentication classes
@require_POST
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    try:
        user = await authenticate(request)
    except NotAuthenticated as exc:
        return _error(exc.status, exc.detail, kind="authentication_error" if exc.status == 401 else "permission_error")
    parsed = _parse(request.body)
    if isinstance(parsed, JsonResponse):
        return parsed
    question, history, stream = parsed
    decision = await check_rate_limit(endpoint="openai-chat-completions", user_id=user.pk)
    if not decision.allowed:
        refused = _error(429, "Too many requests.", kind="rate_limit_error", code="rate_limited")
        refused["Retry-After"] = str(decision.retry_after_seconds)
        return refused
    conversation = await sync_to_async(services.create_conversation)(owner=user, title=question[:80], channel="openai")
    events = services.answer_question(user=user, conversation=conversation, question=question, history=history)
    created = int(time.time())
    try:
        first = await anext(events)
    except QuestionRejected as exc:
        return _error(400, str(exc))
    events = _prepend(first, events)
    if stream:
        return sse_response(_stream(events, created=created))
    return await _complete(events, created=created, user=user)


async def _prepend(first: ChatEvent, rest: AsyncIterator[ChatEvent]) -> AsyncIterator[ChatEvent]:
    yield first
    async for event in rest:
        yield event


async def _complete(events: AsyncIterator[ChatEvent], *, created: int, user: User) -> JsonResponse:
    passages: list[dict[str, Any]] = []
    async for event in events:
        if isinstance(event, PassageShown):
            passages.append(_citation_data(event))
        elif isinstance(event, AnswerFailed):
            status = ERROR_STATUS.get(event.error_class, 503)
            return _error(status, event.message, kind="docent_error", code=event.error_class)
        elif isinstance(event, AnswerDone):
            content = event.content + sources_block(passages, event.cited)
            return JsonResponse(
                {
                    "id": f"chatcmpl-docent-{event.message_id}",
                    "object": "chat.completion",
                    "created": created,
                    "model": MODEL_NAME,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": event.input_tokens,
                        "completion_tokens": event.output_tokens,
                        "total_tokens": event.input_tokens + event.output_tokens,
                    },
                    "citations": [{**p, "cited": p["number"] in event.cited} for p in passages],
                    "docent": {"status": event.status, "label": event.label, "message_id": event.message_id},
                }
            )
    raise RuntimeError("answer_question ended without a result")  # pragma: no cover


def _chunk(chunk_id: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_NAME,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


async def _stream(events: AsyncIterator[ChatEvent], *, created: int) -> AsyncIterator[bytes]:
    chunk_id = f"chatcmpl-docent-{created}-{id(events):x}"
    passages: list[dict[str, Any]] = []
    streaming = False
    yield _chunk(chunk_id, created, {"role": "assistant", "content": ""})
    async for event in events:
        if isinstance(event, PassageShown):
            passages.append(_citation_data(event))
        elif isinstance(event, AnswerToken):
            if not streaming:
                streaming = True
                await release_db_connection()
            yield _chunk(chunk_id, created, {"content": event.text})
        elif isinstance(event, AnswerFailed):
            error = {"message": event.message, "type": "docent_error", "code": event.error_class}
            yield f"data: {json.dumps({'error': error})}\n\n".encode()
            return
        elif isinstance(event, AnswerDone):
            yield _chunk(chunk_id, created, {"content": sources_block(passages, event.cited)})
            citations = [{**p, "cited": p["number"] in event.cited} for p in passages]
            yield _chunk(chunk_id, created, {}, "stop", citations=citations)
    yield b"data: [DONE]\n\n"


@require_GET
async def models(request: HttpRequest) -> HttpResponseBase:
    try:
        await authenticate(request)
    except NotAuthenticated as exc:
        return _error(exc.status, exc.detail, kind="authentication_error")
    model = {"id": MODEL_NAME, "object": "model", "created": 1767225600, "owned_by": "docent"}
    return JsonResponse({"object": "list", "data": [model]})
