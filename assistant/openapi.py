"""The error contract of the REST API, documented once for every operation (drf-spectacular hook).

Every endpoint can answer 401 (no or bad token), 403 (not allowed), 429 (rate limited) and 503 (a dependency
is down, see ``views.server_error``); endpoints that take input can answer 400 (malformed or invalid), 413
(body too large) and 415 (wrong content type); endpoints with an id in the path can answer 404. All are
JSON objects with a ``detail`` message (validation errors name the offending fields instead).
"""

from __future__ import annotations

from typing import Any

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
