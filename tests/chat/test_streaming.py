"""Relaying a chat turn's events: tokens that pile up while the client is being written to go out as one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import pytest
from asgiref.sync import async_to_sync

from assistant.services import AnswerToken, ChatEvent
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
