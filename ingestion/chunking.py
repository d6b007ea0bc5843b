"""Token-aware, structure-respecting chunking with overlap.

Chunks never cross a section boundary (a heading starts a new one); within a section, paragraphs are packed
up to ``max_tokens`` of the embedding model's own tokenizer, a paragraph longer than that is cut into
windows, and each chunk after the first in a section starts with the last ``overlap_tokens`` of the one
before so that a sentence cut in two is still found whole in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokenizers import Encoding

from ingestion.parsers import Block, ParsedDocument
from retrieval.embeddings import get_tokenizer

CHUNKER_NAME = "tokens-1"


@dataclass(frozen=True)
class ChunkParams:
    max_tokens: int
    overlap_tokens: int

    @property
    def version(self) -> str:
        """Recorded on every chunk; ``reembed`` compares it to find chunks cut with other parameters."""
        return f"{CHUNKER_NAME}:{self.max_tokens}/{self.overlap_tokens}"


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    token_count: int
    locator: dict[str, Any]


@dataclass
class _Unit:
    text: str
    tokens: int
    encoding: Encoding
    page: int | None


def chunk_document(parsed: ParsedDocument, *, params: ChunkParams) -> list[ChunkDraft]:
    """Cut a parsed document into chunks of at most ``params.max_tokens`` tokens, in reading order.

    Each chunk of a section starts with the section's heading, so a chunk read alone still says what it is
    about; a heading with no text under it yields no chunk.
    """
    blocks = [block for block in parsed.blocks if block.text.strip()]
    if not blocks:
        return []
    encodings = get_tokenizer().encode_batch([block.text for block in blocks], add_special_tokens=False)
    drafts: list[ChunkDraft] = []
    section: tuple[str, ...] = ()
    heading: _Unit | None = None
    body: list[tuple[Block, Encoding]] = []
    for block, encoding in zip(blocks, encodings, strict=True):
        if block.section != section or block.is_heading:
            drafts.extend(_chunk_section(body, section, heading, params))
            section, heading, body = block.section, None, []
        if block.is_heading:
            heading = _Unit(block.text, len(encoding.ids), encoding, block.page)
        else:
            body.append((block, encoding))
    drafts.extend(_chunk_section(body, section, heading, params))
    return drafts


def _chunk_section(
    body: list[tuple[Block, Encoding]], section: tuple[str, ...], heading: _Unit | None, params: ChunkParams
) -> list[ChunkDraft]:
    if not body:
        return []
    # A pathological heading longer than the budget is kept only as the locator.
    if heading is not None and heading.tokens > params.max_tokens // 4:
        heading = None
    budget = params.max_tokens - (heading.tokens if heading else 0)
    units = [unit for block, encoding in body for unit in _split_long(block, encoding, budget, params)]
    return [_draft(([heading] if heading else []) + packed, section) for packed in _pack(units, budget, params)]


def _split_long(block: Block, encoding: Encoding, budget: int, params: ChunkParams) -> list[_Unit]:
    """A block that fits is one unit; a longer one becomes overlapping token windows of the original text."""
    count = len(encoding.ids)
    if count <= budget:
        return [_Unit(block.text, count, encoding, block.page)]
    offsets = encoding.offsets
    step = max(1, budget - params.overlap_tokens)
    units = []
    for start in range(0, count, step):
        end = min(count, start + budget)
        text = block.text[offsets[start][0] : offsets[end - 1][1]]
        units.append(_Unit(text, end - start, get_tokenizer().encode(text, add_special_tokens=False), block.page))
        if end == count:
            break
    return units


def _pack(units: list[_Unit], budget: int, params: ChunkParams) -> list[list[_Unit]]:
    packed: list[list[_Unit]] = []
    current: list[_Unit] = []
    tokens = 0
    for unit in units:
        if current and tokens + unit.tokens > budget:
            packed.append(current)
            current = _overlap_tail(packed[-1][-1], params, room=budget - unit.tokens)
            tokens = sum(part.tokens for part in current)
        current.append(unit)
        tokens += unit.tokens
    if current:
        packed.append(current)
    return packed


def _overlap_tail(previous: _Unit, params: ChunkParams, *, room: int) -> list[_Unit]:
    size = min(params.overlap_tokens, room, previous.tokens)
    if size <= 0:
        return []
    offsets = previous.encoding.offsets
    start = offsets[len(offsets) - size][0] if len(offsets) >= size else 0
    tail = previous.text[start:]
    if not tail.strip():
        return []
    return [_Unit(tail, size, get_tokenizer().encode(tail, add_special_tokens=False), previous.page)]


def _draft(units: list[_Unit], section: tuple[str, ...]) -> ChunkDraft:
    locator: dict[str, Any] = {}
    if section:
        locator["section"] = " > ".join(section)
    pages = [unit.page for unit in units if unit.page is not None]
    if pages:
        locator["page"] = pages[0]
        if pages[-1] != pages[0]:
            locator["page_end"] = pages[-1]
    return ChunkDraft(
        text="\n\n".join(unit.text for unit in units), token_count=sum(unit.tokens for unit in units), locator=locator
    )
