"""Routes of the chat app: the chat page, the chat API and the OpenAI-compatible endpoint."""

from __future__ import annotations

from django.urls import path

from assistant import api, openai_compat, views

urlpatterns = [
    path("", views.home, name="home"),
    path("api/v1/conversations/", api.conversations, name="api-conversations"),
    path("api/v1/conversations/<int:conversation_id>/", api.conversation_detail, name="api-conversation"),
    path("api/v1/conversations/<int:conversation_id>/messages/", api.post_message, name="api-messages"),
    path("api/v1/messages/<int:message_id>/feedback/", api.feedback, name="api-feedback"),
    path("api/v1/citations/<int:citation_id>/", api.citation_detail, name="api-citation"),
    path("v1/chat/completions", openai_compat.chat_completions, name="openai-chat-completions"),
    path("v1/models", openai_compat.models, name="openai-models"),
]
