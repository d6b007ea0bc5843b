"""The gateway's request and stream-event types: the contract between chat and the LLM gateway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal


@dataclass(frozen=True)
class Passage:
    """A retrieved passage shown to the model, numbered as the answer cites it: ``[number]``."""

    number: int
    chunk_id: int
    document_id: int
    title: str
    text: str
    locator: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """What chat asks of a route. Generative providers read ``messages``; the extractive provider reads
    ``question`` and ``passages`` (which the messages also carry, fenced as data)."""

    route: str
    messages: Sequence[ChatMessage]
    question: str
    passages: Sequence[Passage] = ()
    max_output_tokens: int | None = None
    temperature: float | None = None
    user_id: int | None = None
    request_id: str = ""
    prompt_version_id: int | None = None


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class DoneEvent:
    model_id: str
    deployment: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    fallback_used: bool = False
    label: str | None = None  # shown above the answer, e.g. "Extractive answer (no generative model configured)"
    # Set when the stream broke after the first token: the answer is partial and ends with a note saying so.
    error_class: str | None = None


@dataclass(frozen=True)
class ErrorEvent:
    """A failure, already turned into words for the user; ``error_class`` is logged and counted."""

    error_class: str
    message: str


StreamEvent = TokenEvent | DoneEvent | ErrorEvent


@dataclass(frozen=True)
class CompletionResult:
    """A whole answer from :func:`assistant.llm.gateway.complete`; ``error`` is set when it failed (then
    ``text`` holds whatever arrived before the failure, possibly nothing)."""

    text: str
    done: DoneEvent | None
    error: ErrorEvent | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.done is not None
