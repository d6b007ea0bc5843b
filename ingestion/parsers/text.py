"""Plain text: paragraphs separated by blank lines."""

from __future__ import annotations

import re

from ingestion.parsers.base import Block, ParsedDocument, decode_text

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class TextParser:
    version = "text-1"

    def parse(self, data: bytes) -> ParsedDocument:
        text = decode_text(data).replace("\r\n", "\n")
        blocks = [Block(text=part.strip()) for part in _PARAGRAPH_BREAK.split(text) if part.strip()]
        return ParsedDocument(blocks=blocks)
