"""The context budget: offline token counts, passages and history fitted into the window, old turns condensed."""

from __future__ import annotations

from assistant.context import count_messages, count_tokens, plan_context
from assistant.llm.types import ChatMessage, Passage


def passage(number: int, words: int) -> Passage:
    return Passage(number, number, 1, f"Doc {number}", " ".join(["policy"] * words))


def test_token_counts_come_from_an_offline_tokenizer() -> None:
    assert count_tokens("") == 0
    short, long = count_tokens("Expense reports are due."), count_tokens("Expense reports are due. " * 50)
    assert 0 < short < long
    assert long > 50 * 5  # a long text is never truncated at the embedding model's 256 tokens


def test_long_history_is_trimmed_and_summarized_never_sent_whole() -> None:
    history = []
    for i in range(40):
        history.append(ChatMessage("user", f"Question number {i} about the travel policy and expense rules?"))
        history.append(ChatMessage("assistant", f"Answer {i}: travel is booked through the portal [1]. " * 8))
    plan = plan_context(
        system_prompt="You are Docent.",
        template_overhead="{passages} {question}",
        question="And what about hotels?",
        passages=[passage(1, 60), passage(2, 60)],
        history=history,
        previous_summary="",
        window_tokens=2048,
        max_output_tokens=400,
    )
    assert plan.used_tokens <= plan.budget_tokens
    assert 0 < len(plan.history) < len(history) and plan.dropped_turns > 0
    assert plan.history[0].role == "user"
    assert plan.history[-1] == history[-1]  # the most recent turns are kept whole
    # Dropped turns are condensed, most recent ones first to survive when even the summary is too long.
    dropped = history[: len(history) - len(plan.history)]
    last_dropped_question = next(m for m in reversed(dropped) if m.role == "user")
    assert f"User asked: {last_dropped_question.content}" in plan.history_summary
    assert "User asked: Question number 0 " not in plan.history_summary
    assert len(plan.passages) == 2
    assert count_messages(plan.history) + count_tokens(plan.history_summary) < count_messages(history)


def test_passages_are_dropped_lowest_ranked_first_when_they_alone_overflow() -> None:
    plan = plan_context(
        system_prompt="You are Docent.",
        template_overhead="{passages} {question}",
        question="What is the policy?",
        passages=[passage(i, 180) for i in range(1, 9)],
        history=[],
        previous_summary="",
        window_tokens=1200,
        max_output_tokens=300,
    )
    assert 0 < len(plan.passages) < 8
    assert [p.number for p in plan.passages] == list(range(1, len(plan.passages) + 1))
    assert plan.dropped_passages == 8 - len(plan.passages)
    assert plan.used_tokens <= plan.budget_tokens
