"""Run one gateway call in a separate process (``python -m tests.llm.gateway_call``) and print its outcome as
JSON: used to show that circuit-breaker state is shared between processes."""

from __future__ import annotations

import json
import sys

import django


def main() -> None:
    django.setup()
    from asgiref.sync import async_to_sync

    from assistant.llm.gateway import complete
    from assistant.llm.types import ChatMessage, CompletionRequest

    request_id = sys.argv[1] if len(sys.argv) > 1 else "child"
    request = CompletionRequest(
        route="chat", messages=[ChatMessage("user", "How many days?")], question="How many days?", request_id=request_id
    )
    result = async_to_sync(complete)(request)
    print(
        json.dumps(
            {
                "deployment": result.done.deployment if result.done else None,
                "error": result.error.error_class if result.error else None,
            }
        )
    )


if __name__ == "__main__":
    main()
