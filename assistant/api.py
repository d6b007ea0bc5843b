"""The chat REST API under /api/v1/: conversations, messages (JSON or Server-Sent Events), feedback, citations.

Only the owner of a conversation can see or change it; anyone else gets 404, as for a missing one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from assistant import selectors, services
from assistant.audit.models import Action
from assistant.audit.services import record_event
from assistant.guards.injection import neutralize, screen_title
from assistant.highlight import highlight_passage
from assistant.llm.ratelimit import check_rate_limit, too_many_requests
from assistant.models import Conversation, Message
from assistant.serializers import (
    CitedPassageOut,
    ConversationCreateIn,
    ConversationDetailOut,
    ConversationOut,
    ConversationRenameIn,
    FeedbackIn,
    MessageIn,
)
from assistant.services import AnswerDone, AnswerFailed, AnswerToken, ChatEvent, PassageShown, QuestionRejected
from assistant.streaming import (
    ERROR_STATUS,
    NotAuthenticated,
    authenticate,
    coalesced,
    error_response,
    release_db_connection,
    sse_event,
    sse_response,
    wants_event_stream,
)


def _user(request: Request) -> User:
    # IsAuthenticated (the API's default permission) has already turned anonymous requests away.
    assert isinstance(request.user, User)
    return request.user


def _conversation_or_404(request: Request, conversation_id: int) -> Conversation:
    conversation = selectors.get_conversation_for_user(request.user, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


@extend_schema(
    methods=["GET"], responses=ConversationOut(many=True), summary="Your conversations (optional ?q= search)"
)
@extend_schema(methods=["POST"], request=ConversationCreateIn, responses={201: ConversationOut})
@api_view(["GET", "POST"])
def conversations(request: Request) -> Response:
    if request.method == "POST":
        data = ConversationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        channel = "web" if request.successful_authenticator.__class__.__name__ == "SessionAuthentication" else "api"
        conversation = services.create_conversation(
            owner=_user(request), title=data.validated_data["title"], channel=channel
        )
        return Response(ConversationOut(conversation).data, status=status.HTTP_201_CREATED)
    rows = selectors.conversations_for_user(request.user, query=request.query_params.get("q", ""))[:200]
    return Response(ConversationOut(rows, many=True).data)


def conversation_detail_data(user: User, conversation: Conversation) -> dict[str, Any]:
    messages = selectors.messages_of(conversation)
    chunk_ids = [c.chunk_id for m in messages for c in m.citations.all()]
    context = {
        "messages": messages,
        "visible_chunk_ids": selectors.visible_chunk_ids(user, chunk_ids),
        "user_id": user.pk,
    }
    return ConversationDetailOut(conversation, context=context).data


@extend_schema(methods=["GET"], responses=ConversationDetailOut)
@extend_schema(methods=["PATCH"], request=ConversationRenameIn, responses=ConversationOut)
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "PATCH", "DELETE"])
def conversation_detail(request: Request, conversation_id: int) -> Response:
    conversation = _conversation_or_404(request, conversation_id)
    if request.method == "PATCH":
        data = ConversationRenameIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.rename_conversation(conversation=conversation, title=data.validated_data["title"])
        return Response(ConversationOut(conversation).data)
    if request.method == "DELETE":
        services.delete_conversation(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(conversation_detail_data(_user(request), conversation))


@extend_schema(request=FeedbackIn, responses={200: FeedbackIn})
@api_view(["POST"])
def feedback(request: Request, message_id: int) -> Response:
    message = selectors.get_message_for_user(request.user, message_id)
    if message is None or message.role != Message.Role.ASSISTANT:
        raise NotFound("No such answer.")
    data = FeedbackIn(data=request.data)
    data.is_valid(raise_exception=True)
    row = services.record_feedback(
        message=message,
        user=_user(request),
        rating=data.validated_data["rating"],
        comment=data.validated_data["comment"],
    )
    return Response({"rating": row.rating, "comment": row.comment})


def _document_url(document_id: int) -> str:
    return reverse("document-detail", args=[document_id])


@extend_schema(responses=CitedPassageOut, summary="A cited passage, if you may still read it")
@api_view(["GET"])
def citation_detail(request: Request, citation_id: int) -> Response:
    passage = selectors.get_cited_passage(request.user, citation_id)
    if passage is None:
        raise NotFound("No such citation.")
    answer = Message.objects.filter(citations__pk=citation_id).values_list("content", flat=True).first() or ""
    # The passage as the model saw it: planted instructions stay replaced by the injection screen's marker.
    text = neutralize(passage.text).text if passage.available else ""
    segments = highlight_passage(text, answer, passage.number) if passage.available else []
    record_event(
        action=Action.CITATION_OPENED,
        actor=request.user,
        target_type="citation",
        target_id=citation_id,
        details={"available": passage.available},
        chunk_ids=[passage.chunk_id],
        document_ids=[passage.document_id],
    )
    body = {
        "id": passage.citation_id,
        "number": passage.number,
        "chunk_id": passage.chunk_id,
        "document_id": passage.document_id,
        "title": screen_title(passage.title) if passage.title else passage.title,
        "locator": passage.locator,
        "available": passage.available,
        "segments": [{"text": s.text, "highlight": s.highlight} for s in segments],
        "document_url": _document_url(passage.document_id) if passage.available else None,
    }
    return Response(CitedPassageOut(body).data)


# --- posting a question: JSON, or an SSE stream of the answer ----------------------------------------------


def passage_data(event: PassageShown) -> dict[str, Any]:
    return {
        "number": event.number,
        "chunk_id": event.chunk_id,
        "document_id": event.document_id,
        "title": event.title,
        "locator": event.locator,
        "snippet": event.snippet,
    }


async def _sse(events: AsyncIterator[ChatEvent]) -> AsyncIterator[bytes]:
    streaming = False
    async for event in coalesced(events, flush_interval=settings.CHAT_STREAM_FLUSH_MS / 1000):
        if isinstance(event, AnswerToken):
            if not streaming:
                streaming = True
                await release_db_connection()
            yield sse_event("token", {"text": event.text})
        elif isinstance(event, PassageShown):
            yield sse_event("citation", passage_data(event))
        elif isinstance(event, AnswerDone):
            yield sse_event("done", _done_data(event))
        elif isinstance(event, AnswerFailed):
            yield sse_event("error", {"type": event.error_class, "message": event.message, "id": event.message_id})


def _done_data(event: AnswerDone) -> dict[str, Any]:
    return {
        "id": event.message_id,
        "question_id": event.question_id,
        "content": event.content,
        "status": event.status,
        "label": event.label,
        "cited": event.cited,
        "invalid_citations": event.invalid_citations,
        "model_id": event.model_id,
        "route": event.route,
    }


async def _json(events: AsyncIterator[ChatEvent]) -> JsonResponse:
    passages: list[dict[str, Any]] = []
    async for event in events:
        if isinstance(event, PassageShown):
            passages.append(passage_data(event))
        elif isinstance(event, AnswerDone):
            body = _done_data(event)
            body["citations"] = [{**p, "cited": p["number"] in event.cited} for p in passages]
            return JsonResponse(body, status=201)
        elif isinstance(event, AnswerFailed):
            body = {"detail": event.message, "error": event.error_class, "id": event.message_id}
            return JsonResponse(body, status=ERROR_STATUS.get(event.error_class, 503))
    raise RuntimeError("answer_question ended without a result")  # pragma: no cover - a bug, not a user error


@csrf_exempt  # the authentication classes enforce CSRF for session users, exactly as DRF views do
@require_POST
async def post_message(request: HttpRequest, conversation_id: int) -> HttpResponseBase:
    """Answer a question: JSON by default, Server-Sent Events (``citation``, ``token``, ``done``, ``error``)
    when the client sends ``Accept: text/event-stream``."""
    try:
        user = await authenticate(request)
    except NotAuthenticated as exc:
        return error_response(exc.status, exc.detail)
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return error_response(400, "The body must be JSON.")
    data = MessageIn(data=payload if isinstance(payload, dict) else {})
    try:
        data.is_valid(raise_exception=True)
    except ValidationError as exc:
        return JsonResponse(exc.detail, status=400, safe=False)
    conversation = await sync_to_async(selectors.get_conversation_for_user)(user, conversation_id)
    if conversation is None:
        return error_response(404, "No such conversation.")
    decision = await check_rate_limit(endpoint="chat-messages", user_id=user.pk)
    if not decision.allowed:
        return too_many_requests(decision)
    events = services.answer_question(
        user=user,
        conversation=conversation,
        question=data.validated_data["content"],
        regenerate=data.validated_data["regenerate"],
        request_id=request.headers.get("X-Request-ID", "")[:64],
    )
    try:
        first = await anext(events)
    except QuestionRejected as exc:
        return error_response(400, str(exc))
    events = _prepend(first, events)
    if wants_event_stream(request):
        return sse_response(_sse(events))
    return await _json(events)


async def _prepend(first: ChatEvent, rest: AsyncIterator[ChatEvent]) -> AsyncIterator[ChatEvent]:
    yield first
    async for event in rest:
        yield event
