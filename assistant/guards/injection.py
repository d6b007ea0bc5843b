"""Prompt-injection screening of retrieved passages (and of document titles).

Layered with the prompt's own defenses (passages fenced as data with a per-request nonce, never in the system
message, an instruction hierarchy stated in the system message; see ``assistant.prompts``):

1. :func:`clean_text` strips what a reader never sees but a model does: invisible and bidirectional-control
   Unicode, Unicode tag characters, HTML comments and tags, Markdown images, and imitations of our fence.
2. :func:`scan` flags instruction-like sentences (reason codes in :data:`PATTERNS`).
3. :func:`neutralize` replaces each flagged sentence by a visible marker, so that a planted instruction is never
   shown to the model or the user as text to act on; a flagged passage is also ranked lower (``DOWN_WEIGHT``).

It is a heuristic: it catches the known phrasings (the red-team suite in ``tests/redteam/`` plants them), not
every possible one. The output checks (``assistant.guards.output_checks``) are the next layer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MARKER = "[Docent removed text that looked like an instruction to the assistant]"
# Relevance of a flagged passage is multiplied by this: it is shown only when it is clearly on topic.
DOWN_WEIGHT = 0.6

# Zero-width characters, bidi controls, word joiners, BOM, soft hyphen, and the Unicode "tag" block.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\U000e0000-\U000e007f]"
)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>")
_MD_IMAGE = re.compile(r"!\[([^\]]{0,300})\]\([^)]{0,2000}\)")
_FENCE_IMITATION = re.compile(r"=+\s*PASSAGES[-\w]*\s*=*|<\|[a-z_]+\|>|\[/?INST\]", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")

_ADDRESSEE = r"(?:assistant|a\.?i\.?|chat ?bot|bot|model|llm|language model|docent|gpt|claude|you)"
PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,60}\b(?:instructions?|rules|prompts?|"
        r"directions|guidelines|guardrails|polic(?:y|ies)|context)\b",
        re.IGNORECASE,
    ),
    "role_change": re.compile(
        r"\b(?:you are now|from now on,? you|act as|pretend (?:to be|you are)|new (?:instructions?|persona)|"
        r"developer mode|jailbreak|do anything now)\b",
        re.IGNORECASE,
    ),
    "prompt_extraction": re.compile(
        r"\b(?:reveal|print|show|repeat|output|disclose|leak|tell)\b[^.\n]{0,40}\b(?:system (?:prompt|message)|"
        r"your (?:instructions|rules|prompt)|hidden (?:instructions|prompt)|initial prompt)\b",
        re.IGNORECASE,
    ),
    "role_marker": re.compile(r"(?:^|\n)\s*(?:system|assistant|developer)\s*:|###\s*(?:system|instruction)", re.I),
    "addressed_directive": re.compile(
        rf"\b(?:(?:attention|note to|dear|hey)\s+{_ADDRESSEE}|{_ADDRESSEE}s?\s+(?:reading|processing|summari[sz]ing)"
        rf"|if you are an? {_ADDRESSEE}|when (?:you|the {_ADDRESSEE}) (?:answer|reply|respond|summari[sz]e))",
        re.IGNORECASE,
    ),
    "output_directive": re.compile(
        r"\b(?:reply|respond|answer|say|print|output|write|append|end (?:your|the) (?:answer|reply))\b[^.\n]{0,30}"
        r"\b(?:only|exactly|verbatim|the (?:word|phrase|code|string|following))\b",
        re.IGNORECASE,
    ),
    "exfiltration_link": re.compile(
        r"!\[[^\]]*\]\(|\b(?:include|append|add|render|embed|insert)\b[^.\n]{0,40}\b(?:image|link|url|markdown)\b",
        re.IGNORECASE,
    ),
}
# Sentences starting with one of these are removed from a passage that has any flag: a planted instruction
# often continues over a second, innocent-looking imperative sentence.
_IMPERATIVE = re.compile(
    r"^\s*(?:(?:please|then|and|now|also|finally),?\s+)*(?:reply|respond|answer|say|print|output|write|append|include|repeat|reveal|tell|"
    r"ignore|disregard|forget|send|visit|click|add|insert|render|embed|begin|start|end)\b",
    re.IGNORECASE,
)


def clean_text(text: str) -> str:
    """``text`` without invisible characters, HTML comments and tags, Markdown images or fence imitations."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _HTML_COMMENT.sub(" ", text)
    text = _MD_IMAGE.sub(lambda m: m.group(1), text)
    text = _HTML_TAG.sub(" ", text)
    return _FENCE_IMITATION.sub(" ", text)


def scan(text: str) -> list[str]:
    """The reason codes of :data:`PATTERNS` that match ``text`` (empty: nothing suspicious)."""
    return [reason for reason, pattern in PATTERNS.items() if pattern.search(text)]


@dataclass(frozen=True)
class Screened:
    text: str
    flags: list[str]

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def neutralize(text: str) -> Screened:
    """Clean ``text`` and replace every instruction-like sentence with :data:`MARKER`."""
    cleaned = clean_text(text)
    flags = scan(cleaned)
    if not flags:
        return Screened(text=cleaned, flags=[])
    pieces: list[str] = []
    position = 0
    for match in _SENTENCE.finditer(cleaned):
        pieces.append(cleaned[position : match.start()])  # the line breaks between sentences
        position = match.end()
        sentence = match.group(0)
        if scan(sentence) or _IMPERATIVE.match(sentence):
            previous = next((piece for piece in reversed(pieces) if piece.strip()), "")
            if not previous.strip().startswith(MARKER):
                lead = sentence[: len(sentence) - len(sentence.lstrip())]
                pieces.append(lead + MARKER + ("\n" if sentence.endswith("\n") else ""))
        else:
            pieces.append(sentence)
    pieces.append(cleaned[position:])
    return Screened(text="".join(pieces).strip(), flags=flags)


def screen_title(title: str) -> str:
    """A document title as the model and the user see it: a title that reads as an instruction (PDF metadata
    is a favourite hiding place) is replaced."""
    screened = neutralize(title)
    return "Untitled document (title withheld)" if screened.flagged else screened.text
