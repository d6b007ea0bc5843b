"""Which sentences of a cited passage support the answer: they are highlighted when the passage is opened."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.stopwords import STOPWORDS

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z0-9]+")
# Share of a passage sentence's content words that must appear in the answer's sentences citing it.
OVERLAP_TO_HIGHLIGHT = 0.6


@dataclass(frozen=True)
class Segment:
    text: str
    highlight: bool


def _words(text: str) -> set[str]:
    # A four-letter prefix is a crude stemmer: "filed" and "file", "approves" and "approval" match.
    return {w[:4] for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def citing_sentences(answer: str, number: int) -> list[str]:
    """The sentences of ``answer`` that carry the marker ``[number]``."""
    marker = f"[{number}]"
    return [s for s in _SENTENCE_SPLIT.split(answer) if marker in s]


def highlight_passage(passage: str, answer: str, number: int) -> list[Segment]:
    """The passage cut into sentences (whitespace kept, so joining them gives the passage back), each marked
    when most of its content words are in the answer's sentences that cite it."""
    support = set().union(*(_words(s) for s in citing_sentences(answer, number))) if answer else set()
    segments: list[Segment] = []
    position = 0
    for match in _SENTENCE_SPLIT.finditer(passage + "\n\n"):
        sentence = passage[position : match.start()]
        gap = passage[match.start() : match.end()] if match.end() <= len(passage) else passage[match.start() :]
        words = _words(sentence)
        hit = bool(words) and len(words & support) / len(words) >= OVERLAP_TO_HIGHLIGHT
        if sentence:
            segments.append(Segment(sentence, hit))
        if gap:
            segments.append(Segment(gap, False))
        position = match.end()
        if position >= len(passage):
            break
    return segments
