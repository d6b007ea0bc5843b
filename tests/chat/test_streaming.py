"""Relaying a chat turn's events: tokens that pile up while the client is being written to go out as one."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import pytest
from asgiref.sync import async_to_sync

from assistant.services import AnswerDone, AnswerToken, ChatEvent
from assistant.streaming import coalesced


async def _answer(words: list[str], pause: float, log: list[str]) -> AsyncIterator[ChatEvent]:
    try:
        for word in words:
            await asyncio.sleep(pause)
            yield AnswerToken(word)
        log.append("finished")
    except asyncio.CancelledError:
        log.append("cancelled")  # where answer_question stores the partial answer
        raise


def test_a_paced_answer_goes_out_token_by_token() -> None:
    async def run() -> list[str]:
        return [
            event.text
            async for event in coalesced(_answer(["a ", "b ", "c"], 0.02, []))
            if isinstance(event, AnswerToken)
        ]

    assert async_to_sync(run)() == ["a ", "b ", "c"]


def test_tokens_that_arrive_while_the_client_is_slow_are_merged_in_order() -> None:
    async def run() -> list[str]:
        texts = []
        async for event in coalesced(_answer([f"w{n} " for n in range(20)], 0, [])):
            assert isinstance(event, AnswerToken)
            texts.append(event.text)
            await asyncio.sleep(0.05)  # a slow write: the turn goes on meanwhile
        return texts

    texts = async_to_sync(run)()
    assert "".join(texts) == "".join(f"w{n} " for n in range(20))
    assert len(texts) < 20


def test_closing_the_stream_cancels_the_turn_and_waits_for_it() -> None:
    log: list[str] = []

    async def run() -> None:
        stream = coalesced(_answer(["a "] * 100, 0.01, log))
        async for _ in stream:
            break
        await cast(AsyncGenerator[ChatEvent, None], stream).aclose()  # the client went away

    async_to_sync(run)()
    assert log == ["cancelled"]


def test_a_failure_of_the_turn_reaches_the_caller() -> None:
    async def failing() -> AsyncIterator[ChatEvent]:
        yield AnswerToken("a")
        raise RuntimeError("boom")

    async def run() -> None:
        async for _ in coalesced(failing()):
            pass

    with pytest.raises(RuntimeError, match="boom"):
        async_to_sync(run)()


async def _timed(stream: AsyncIterator[ChatEvent]) -> list[tuple[float, ChatEvent]]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    return [(loop.time() - started, event) async for event in stream]


def test_with_a_flush_interval_the_first_token_goes_at_once_and_the_rest_in_batches() -> None:
    words = [f"w{n} " for n in range(30)]  # 30 tokens, one every 10 ms: 0.3 s

    timed = async_to_sync(_timed)(coalesced(_answer(words, 0.01, []), flush_interval=0.2))
    texts = [event.text for _, event in timed if isinstance(event, AnswerToken)]
    assert "".join(texts) == "".join(words)
    assert texts[0] == "w0 " and timed[0][0] < 0.1, "the first token is not held back"
    assert 2 <= len(texts) <= 6, texts  # about one event per 0.2 s instead of 30
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(timed)]
    assert min(gaps) >= 0.19


def test_with_a_flush_interval_other_events_are_not_held_back() -> None:
    async def answer() -> AsyncIterator[ChatEvent]:
        yield AnswerToken("a ")
        await asyncio.sleep(0.01)
        yield AnswerToken("b ")
        await asyncio.sleep(0.6)  # "b " goes out at 0.5 s, the next token could not before 1 s
        yield AnswerDone(1, 1, "a b", "complete", "", [], [], "m", "chat")

    timed = async_to_sync(_timed)(coalesced(answer(), flush_interval=0.5))
    assert [type(event).__name__ for _, event in timed] == ["AnswerToken", "AnswerToken", "AnswerDone"]
    assert 0.49 <= timed[1][0] < 0.6, "the second token waited for the interval"
    assert timed[2][0] < 0.9, "the done event went out as soon as it came"
