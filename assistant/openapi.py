"""The OpenAPI schema's additions (drf-spectacular post-processing hooks).

1. ``add_async_endpoints``: posting a question (JSON or an SSE stream) and the OpenAI-compatible endpoint are
   async Django views, which drf-spectacular does not see; this hook adds them so the schema covers the whole
   REST API. The schemas below are what the views return (tests validate live responses against them).
2. ``document_error_responses``: the error contract of the REST API, documented once for every operation.
   Every endpoint can answer 401 (no or bad token), 403 (not allowed), 429 (rate limited) and 503 (a
   dependency is down, see ``views.server_error``); endpoints that take input can answer 400 (malformed or
   invalid), 413 (body too large) and 415 (wrong content type); endpoints with an id in the path can answer
   404. All are JSON objects with a ``detail`` message (validation errors name the offending fields instead).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

_INTEGERS = {"type": "array", "items": {"type": "integer"}}
_ERROR = {
    "type": "object",
    "description": "A readable `detail` (with the error class and the stored message id when the answer failed), "
    "or (400) the invalid fields with their messages.",
    "properties": {
        "detail": {"type": "string"},
        "error": {"type": "string"},
        "id": {"type": "integer", "nullable": True},
    },
    "additionalProperties": True,
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "MessageIn": {
        "type": "object",
        "description": "`content` may be empty only with `regenerate: true` (the last question is asked again).",
        "properties": {
            "content": {
                "type": "string",
                "minLength": 1,
                "maxLength": settings.CHAT_MAX_QUESTION_CHARS,
                "pattern": "^[^\\u0000]*\\S[^\\u0000]*$",
            },
            "regenerate": {"type": "boolean", "default": False},
        },
        "required": ["content"],
    },
    "AnswerPassage": {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "chunk_id": {"type": "integer"},
            "document_id": {"type": "integer"},
            "title": {"type": "string"},
            "locator": {"type": "object", "additionalProperties": {}},
            "snippet": {"type": "string"},
            "cited": {"type": "boolean"},
        },
        "required": ["number", "chunk_id", "document_id", "title", "locator", "snippet", "cited"],
    },
    "Answer": {
        "type": "object",
        "description": "The stored answer; `citations` are exactly the passages shown to the model.",
        "properties": {
            "id": {"type": "integer"},
            "question_id": {"type": "integer"},
            "content": {"type": "string"},
            "status": {"type": "string", "enum": ["complete", "nothing_found", "stopped", "error"]},
            "label": {"type": "string"},
            "cited": _INTEGERS,
            "invalid_citations": _INTEGERS,
            "model_id": {"type": "string"},
            "route": {"type": "string"},
            "citations": {"type": "array", "items": {"$ref": "#/components/schemas/AnswerPassage"}},
        },
        "required": ["id", "question_id", "content", "status", "cited", "citations"],
    },
    "AnswerError": _ERROR,
    "ChatCompletionRequest": {
        "type": "object",
        "properties": {
            "model": {"type": "string", "description": "Ignored: Docent answers with its configured route."},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                        "content": {"type": "string"},
                    },
                    "description": "The last message must be a user message with text (400 otherwise).",
                    "required": ["role", "content"],
                },
            },
            "stream": {"type": "boolean", "default": False},
        },
        "required": ["messages"],
    },
    "ChatCompletion": {
        "type": "object",
        "description": "OpenAI's chat.completion object; the cited sources are appended to the message text "
        "and listed in `citations`.",
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object"}},
            "usage": {"type": "object"},
            "citations": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["id", "object", "choices"],
    },
    "OpenAIError": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}},
        "required": ["error"],
    },
}

_SSE_ANSWER = (
    "With `Accept: text/event-stream`: Server-Sent Events `citation` (one per passage shown), `token` "
    "(`{text}`), then `done` (the answer without `citations`) or `error` (`{type, message, id}`)."
)
_SECURITY: list[dict[str, list[str]]] = [{"apiToken": []}, {"cookieAuth": []}]


def _json(ref: str, description: str = "") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/conversations/{conversation_id}/messages/": {
        "post": {
            "operationId": "v1_conversations_messages_create",
            "summary": "Ask a question in one of your conversations",
            "description": "Answers from the passages you may read, with citations. " + _SSE_ANSWER,
            "tags": ["v1"],
            "parameters": [{"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MessageIn"}}},
            },
            "security": _SECURITY,
            "responses": {
                "201": {
                    "description": "The answer",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                "400": _json("#/components/schemas/AnswerError", "Not a question (empty, too long, not JSON)"),
                "401": _json("#/components/schemas/AnswerError", "Not signed in"),
                "403": _json("#/components/schemas/AnswerError", "Forbidden (CSRF for session users)"),
                "404": _json("#/components/schemas/AnswerError", "Not one of your conversations"),
                "413": _json("#/components/schemas/AnswerError", "The conversation no longer fits the model"),
                "429": _json("#/components/schemas/AnswerError", "Rate limited or budget exhausted"),
                "503": _json("#/components/schemas/AnswerError", "No model available right now"),
            },
        }
    },
    "/v1/chat/completions": {
        "post": {
            "operationId": "openai_chat_completions",
            "summary": "OpenAI-compatible chat completions (personal API token)",
            "description": "The last user message is answered with permission-aware retrieval. With `stream: "
            "true`, `chat.completion.chunk` events end with `data: [DONE]`.",
            "tags": ["openai"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
            },
            "security": _SECURITY,
            "responses": {
                "200": {
                    "description": "The completion",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **{
                    code: _json("#/components/schemas/OpenAIError", text)
                    for code, text in {
                        "400": "Invalid request",
                        "401": "Missing or invalid token",
                        "403": "Forbidden",
                        "429": "Rate limited",
                        "503": "No model available",
                    }.items()
                },
            },
        }
    },
    "/v1/models": {
        "get": {
            "operationId": "openai_models_list",
            "summary": "OpenAI-compatible model list",
            "tags": ["openai"],
            "security": _SECURITY,
            "responses": {
                "200": {"description": "Docent as one model", "content": {"application/json": {"schema": {}}}},
                "401": _json("#/components/schemas/OpenAIError", "Missing or invalid token"),
            },
        }
    },
}


def add_async_endpoints(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: add the async endpoints and their schemas."""
    result.setdefault("paths", {}).update(PATHS)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    return result


ERROR_SCHEMA_NAME = "Error"
_ERROR_SCHEMA = {
    "type": "object",
    "description": "A readable ``detail`` message, or (400) the invalid fields with their messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_ALWAYS = {"401": "Not signed in, or the token is invalid.", "403": "Not allowed.", "429": "Rate limited."}
_WITH_INPUT = {"400": "Malformed or invalid input.", "413": "Body too large.", "415": "Unsupported content type."}
_UNAVAILABLE = {"503": "A dependency (database, storage) is unavailable; retry after ``Retry-After`` seconds."}


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: add the standard error responses an operation does not document itself."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = _ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(_ALWAYS) | _UNAVAILABLE
            if method in {"post", "put", "patch"} or operation.get("parameters"):
                errors |= _WITH_INPUT
            if "{" in path:
                errors["404"] = "No such object, or not visible to you."
            for status, description in errors.items():
                operation["responses"].setdefault(status, {"description": description, "content": reference})
    return result
