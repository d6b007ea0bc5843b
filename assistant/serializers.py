"""Input and output shapes of the chat API (explicit, one per operation)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from assistant.models import Conversation, Message


class ConversationCreateIn(serializers.Serializer):
    # Not trimmed here, so that the documented maxLength holds for what is sent; the service trims.
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", trim_whitespace=False)


class ConversationRenameIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)


class ConversationOut(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "channel", "created_at", "updated_at"]


class MessageIn(serializers.Serializer):
    content = serializers.CharField(
        max_length=settings.CHAT_MAX_QUESTION_CHARS, required=False, allow_blank=True, default=""
    )
    regenerate = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["regenerate"] and not attrs["content"].strip():
            raise serializers.ValidationError({"content": "Ask a question first."})
        return attrs


class FeedbackIn(serializers.Serializer):
    rating = serializers.ChoiceField(choices=[1, -1])
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CitationOut(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    number = serializers.IntegerField()
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    locator = serializers.DictField()
    cited = serializers.BooleanField()
    available = serializers.BooleanField()


class MessageOut(serializers.ModelSerializer):
    citations = serializers.SerializerMethodField()
    feedback = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "status",
            "label",
            "model_id",
            "route",
            "created_at",
            "citations",
            "feedback",
        ]

    def get_citations(self, message: Message) -> list[dict[str, Any]]:
        visible: set[int] = self.context["visible_chunk_ids"]
        return [
            {
                "id": c.pk,
                "number": c.number,
                "chunk_id": c.chunk_id,
                "document_id": c.document_id,
                # A passage the user may no longer read is listed as unavailable, without its title.
                "title": c.title if c.chunk_id in visible else "",
                "locator": c.locator if c.chunk_id in visible else {},
                "cited": c.cited,
                "available": c.chunk_id in visible,
            }
            for c in message.citations.all()
        ]

    def get_feedback(self, message: Message) -> dict[str, Any] | None:
        user_id = self.context["user_id"]
        mine = [f for f in message.feedback.all() if f.user_id == user_id]
        return {"rating": mine[0].rating, "comment": mine[0].comment} if mine else None


class ConversationDetailOut(ConversationOut):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationOut.Meta):
        fields = [*ConversationOut.Meta.fields, "messages"]

    def get_messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        return MessageOut(self.context["messages"], many=True, context=self.context).data  # type: ignore[return-value]


class SegmentOut(serializers.Serializer):
    text = serializers.CharField()
    highlight = serializers.BooleanField()


class CitedPassageOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    locator = serializers.DictField()
    available = serializers.BooleanField()
    segments = SegmentOut(many=True)
    document_url = serializers.CharField(allow_null=True)
