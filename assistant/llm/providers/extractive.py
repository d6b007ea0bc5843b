"""The offline default: answer by quoting the most relevant sentences of the permitted passages, each with
its ``[n]`` citation. No model is called; sentences are scored with the retrieval embedding model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.llm.providers.base import DeploymentConfig, Usage, estimate_tokens
from assistant.llm.types import CompletionRequest, Passage
from assistant.stopwords import STOPWORDS
from retrieval.embeddings import get_embedder

LABEL = "Extractive answer (no generative model configured)"
NOTHING_FOUND = (
    "I could not find an answer to this in the documents you have access to. "
    "Try rephrasing the question or naming the document or topic."
)

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace and an
# upper-case letter, digit or opening quote; blank lines and list bullets also end one.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[A-Z0-9\"'(\[])|\n\s*\n|\n\s*(?=[-*•]\s)")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
MAX_SENTENCES = 5
MAX_WORDS = 140
MIN_WORDS = 4
MAX_SENTENCE_WORDS = 80
# Cosine similarity of MiniLM below which a sentence is not considered an answer at all.
ABSOLUTE_FLOOR = 0.18
# Sentences well below the best one are off-topic even when above the floor (MiniLM cosine scale).
MAX_GAP_TO_BEST = 0.22
# Weight of the share of the question's content words a sentence contains (helps names and numbers).
LEXICAL_WEIGHT = 0.08
MMR_LAMBDA = 0.72
NEAR_DUPLICATE = 0.9


@dataclass(frozen=True)
class Sentence:
    passage_rank: int
    position: int
    number: int
    text: str


def split_sentences(passages: Sequence[Passage]) -> list[Sentence]:
    """Every usable sentence of the passages, in reading order."""
    sentences: list[Sentence] = []
    for rank, passage in enumerate(passages):
        for position, raw in enumerate(_SENTENCE_END.split(passage.text)):
            text = " ".join(raw.split()).lstrip("-*• ").strip()
            words = text.split()
            if len(words) < MIN_WORDS:
                continue
            if len(words) > MAX_SENTENCE_WORDS:
                text = " ".join(words[:MAX_SENTENCE_WORDS]) + " …"
            sentences.append(Sentence(rank, position, passage.number, text))
    return sentences


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 2}


def select_sentences(question: str, sentences: Sequence[Sentence]) -> list[Sentence]:
    """Pick relevant, non-redundant sentences (maximal marginal relevance over embedding similarity, with a
    small bonus for sharing the question's content words), then put them back in a readable order."""
    if not sentences or not question.strip():
        return []
    embedder = get_embedder()
    vectors = embedder.embed_passages([s.text for s in sentences])
    query = embedder.embed_query(question)
    similarity = vectors @ query
    query_words = _content_words(question)
    overlap = np.array(
        [len(query_words & _content_words(s.text)) / max(1, len(query_words)) for s in sentences], dtype=np.float32
    )
    relevance = similarity + LEXICAL_WEIGHT * overlap
    best = float(relevance.max())
    if float(similarity.max()) < ABSOLUTE_FLOOR:
        return []
    floor = max(ABSOLUTE_FLOOR, best - MAX_GAP_TO_BEST)
    candidates = [i for i in range(len(sentences)) if relevance[i] >= floor]
    chosen: list[int] = []
    words = 0
    while candidates and len(chosen) < MAX_SENTENCES and words < MAX_WORDS:
        if chosen:
            redundancy = (vectors[candidates] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(candidates), dtype=np.float32)
        scores = MMR_LAMBDA * relevance[candidates] - (1 - MMR_LAMBDA) * redundancy
        pick = int(np.argmax(scores))
        index = candidates.pop(pick)
        if redundancy[pick] >= NEAR_DUPLICATE:
            continue
        length = len(sentences[index].text.split())
        if chosen and words + length > MAX_WORDS:
            continue
        chosen.append(index)
        words += length
    # Readable order: passages by their best chosen sentence, sentences in the order the passage has them.
    passage_best: dict[int, float] = {}
    for index in chosen:
        rank = sentences[index].passage_rank
        passage_best[rank] = max(passage_best.get(rank, -1.0), float(relevance[index]))
    chosen.sort(key=lambda i: (-passage_best[sentences[i].passage_rank], sentences[i].position))
    return [sentences[i] for i in chosen]


def _cite(sentence: Sentence) -> str:
    text = sentence.text
    end = ""
    if text[-1:] in ".!?":
        text, end = text[:-1], text[-1]
    return f"{text} [{sentence.number}]{end or '.'}"


def compose_answer(question: str, passages: Sequence[Passage]) -> str:
    """The extractive answer: chosen sentences grouped into one paragraph per passage."""
    chosen = select_sentences(question, split_sentences(passages))
    if not chosen:
        return NOTHING_FOUND
    paragraphs: list[list[str]] = []
    last_rank: int | None = None
    for sentence in chosen:
        if sentence.passage_rank != last_rank:
            paragraphs.append([])
            last_rank = sentence.passage_rank
        paragraphs[-1].append(_cite(sentence))
    return "\n\n".join(" ".join(paragraph) for paragraph in paragraphs)


class ExtractiveProvider:
    label: str | None = LABEL

    async def complete(self, config: DeploymentConfig, request: CompletionRequest, usage: Usage) -> str:
        # The embedding model is synchronous and CPU-bound: keep it off the event loop.
        answer = await asyncio.to_thread(compose_answer, request.question, request.passages)
        usage.input_tokens = estimate_tokens(request.question) + sum(estimate_tokens(p.text) for p in request.passages)
        usage.output_tokens = estimate_tokens(answer)
        usage.reported = True
        return answer

    async def stream(
        self, config: DeploymentConfig, request: CompletionRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        answer = await self.complete(config, request, usage)
        # Word by word, so the browser shows the same progressive rendering as for a generative model.
        for piece in re.findall(r"\S+\s*|\s+", answer):
            yield piece
