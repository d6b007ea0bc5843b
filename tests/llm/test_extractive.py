"""The offline extractive provider, through the gateway, with the real embedding model on a real text."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync

from assistant.llm.gateway import complete, stream_completion
from assistant.llm.models import LLMCall
from assistant.llm.providers.extractive import LABEL, NOTHING_FOUND
from assistant.llm.types import ChatMessage, CompletionRequest, DoneEvent, Passage, TokenEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Excerpts in the style of a real staff handbook (three documents, as retrieval would rank them).
PASSAGES = [
    Passage(
        number=1,
        chunk_id=101,
        document_id=11,
        title="Staff handbook: leave",
        text=(
            "Annual leave. Full-time employees receive 25 days of paid annual leave per calendar year, "
            "in addition to public holidays. Part-time employees receive leave in proportion to their "
            "contracted hours. Up to five unused days may be carried over into the first quarter of the next "
            "year; any other unused days lapse on 31 December. Leave requests are made in the HR portal and "
            "need your manager's approval at least two weeks before the first day of leave. "
            "The canteen on the ground floor serves lunch from noon until two o'clock."
        ),
    ),
    Passage(
        number=2,
        chunk_id=102,
        document_id=12,
        title="Staff handbook: sickness",
        text=(
            "Sick leave. If you are ill, tell your manager before 10 a.m. on the first day of absence. "
            "From the fourth calendar day of sickness a doctor's certificate is required. "
            "Sick days do not count against your annual leave."
        ),
    ),
    Passage(
        number=3,
        chunk_id=103,
        document_id=13,
        title="Travel policy",
        text=(
            "Economy class is booked for all flights under six hours. Hotel costs are reimbursed up to 150 euros "
            "per night in most cities. Expense reports are filed within 30 days of the end of the trip."
        ),
    ),
]


def _request(question: str, passages: list[Passage] | tuple[Passage, ...] = tuple(PASSAGES)) -> CompletionRequest:
    return CompletionRequest(
        route="chat",
        messages=[ChatMessage("user", question)],
        question=question,
        passages=passages,
        user_id=None,
        request_id="extractive-test",
    )


def test_answer_quotes_the_relevant_sentences_with_their_citations() -> None:
    result = async_to_sync(complete)(_request("How many days of annual leave do full-time employees get?"))

    assert result.ok and result.done is not None
    assert result.done.label == LABEL
    assert result.text.startswith("Full-time employees receive 25 days of paid annual leave")
    assert "[1]" in result.text
    # Off-topic sentences of the same passage and other passages are left out.
    assert "canteen" not in result.text
    assert "Economy class" not in result.text
    # Every sentence carries a citation, and every citation is one of the passages given.
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", result.text) if s]
    assert all(re.search(r"\[\d+\]", sentence) for sentence in sentences)
    assert set(re.findall(r"\[(\d+)\]", result.text)) <= {"1", "2", "3"}
    assert len(result.text.split()) < 200


def test_sentences_keep_the_order_they_have_in_their_passage() -> None:
    result = async_to_sync(complete)(_request("Can I carry unused leave over, and how do I request leave?"))

    carried = result.text.find("carried over")
    requested = result.text.find("HR portal")
    assert carried != -1 and requested != -1
    assert carried < requested  # as in the handbook, not by score


def test_answer_draws_on_several_passages_when_the_question_spans_them() -> None:
    result = async_to_sync(complete)(_request("What do I do when I am sick, and does it use up annual leave?"))

    assert "[2]" in result.text
    assert "doctor's certificate" in result.text or "before 10 a.m." in result.text
    assert "Hotel" not in result.text


def test_unrelated_question_says_nothing_was_found() -> None:
    result = async_to_sync(complete)(_request("What is the boiling point of liquid nitrogen in kelvin?"))
    assert result.text == NOTHING_FOUND

    empty = async_to_sync(complete)(_request("How many days of leave do I get?", passages=()))
    assert empty.text == NOTHING_FOUND


def test_stream_yields_the_same_answer_token_by_token_and_records_usage() -> None:
    request = _request("Where do I request leave?")

    async def collect() -> list[object]:
        return [event async for event in stream_completion(request)]

    events = async_to_sync(collect)()
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) > 5
    assert isinstance(events[-1], DoneEvent) and events[-1].deployment == "chat-extractive"
    assert "HR portal" in "".join(t.text for t in tokens)
    row = LLMCall.objects.get(request_id="extractive-test")
    assert (row.route, row.provider, row.outcome, row.cost_usd) == ("chat", "extractive", "ok", 0)
    assert row.latency_ms is not None and row.ttft_ms is not None
