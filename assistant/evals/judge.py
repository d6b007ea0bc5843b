"""Optional LLM-as-judge: grades an answer against the expected facts through the gateway's ``guard`` route.

Used only when that route has a generative deployment configured and enabled; the extractive fallback cannot
judge, so without one the eval run simply has no judge score."""

from __future__ import annotations

import re
from collections.abc import Sequence

from asgiref.sync import async_to_sync

from assistant.llm import gateway
from assistant.llm.models import Deployment, Provider
from assistant.llm.types import ChatMessage, CompletionRequest

ROUTE = "guard"
_SCORE = re.compile(r"SCORE:\s*([01](?:\.\d+)?)")

INSTRUCTIONS = (
    "You grade answers of a company knowledge assistant. Given a question, the facts a correct answer must "
    "state, and the answer, reply with one line 'SCORE: x' where x is between 0 and 1: the share of the facts "
    "the answer states correctly, minus anything it states that contradicts them. Reply with nothing else."
)


def available() -> bool:
    return (
        Deployment.objects.filter(route__name=ROUTE, route__enabled=True, enabled=True)
        .exclude(provider=Provider.EXTRACTIVE)
        .exists()
    )


def parse_score(text: str) -> float | None:
    match = _SCORE.search(text)
    if match is None:
        return None
    return min(1.0, max(0.0, float(match.group(1))))


def grade(*, question: str, answer: str, facts: Sequence[str]) -> float | None:
    """The judge's score for one answer, or None when the judge failed or answered out of format."""
    facts_text = "\n".join(f"- {fact}" for fact in facts) or "- (none listed: judge relevance and grounding)"
    prompt = f"Question:\n{question}\n\nFacts:\n{facts_text}\n\nAnswer:\n{answer}"
    request = CompletionRequest(
        route=ROUTE,
        messages=[ChatMessage(role="system", content=INSTRUCTIONS), ChatMessage(role="user", content=prompt)],
        question=prompt,
        max_output_tokens=20,
        temperature=0.0,
    )
    result = async_to_sync(gateway.complete)(request)
    if not result.ok or result.done is None or result.done.deployment == "extractive":
        return None
    return parse_score(result.text)
