"""PDF through pypdf: one block per page paragraph, with the page number and the outline's section."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

from ingestion.parsers.base import Block, ParsedDocument, ParseError

logger = logging.getLogger(__name__)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
MAX_PAGES = 5000


class PdfParser:
    version = "pdf-1"

    def parse(self, data: bytes) -> ParsedDocument:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise ParseError("The PDF is password-protected; upload a copy without a password.")
            if len(reader.pages) > MAX_PAGES:
                raise ParseError(f"The PDF has more than {MAX_PAGES} pages; split it into smaller files.")
            sections = _sections_by_page(reader)
            blocks: list[Block] = []
            section: tuple[str, ...] = ()
            for number, page in enumerate(reader.pages, start=1):
                section = sections.get(number, section)
                text = page.extract_text() or ""
                for paragraph in _PARAGRAPH_BREAK.split(text):
                    if paragraph.strip():
                        blocks.append(Block(text=" ".join(paragraph.split()), section=section, page=number))
            title = str(reader.metadata.title or "") if reader.metadata is not None else ""
        except FileNotDecryptedError as exc:
            raise ParseError("The PDF is password-protected; upload a copy without a password.") from exc
        except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as exc:
            # pypdf signals damaged files with several exception types; all mean "this file is broken".
            raise ParseError(f"The PDF is damaged and cannot be read ({type(exc).__name__}).") from exc
        return ParsedDocument(blocks=blocks, title=title)


def _sections_by_page(reader: PdfReader) -> dict[int, tuple[str, ...]]:
    """The outline (bookmarks) as {first page: section path}; empty when the PDF has none."""
    starts: dict[int, tuple[str, ...]] = {}

    def walk(items: list[Any], parents: tuple[str, ...]) -> None:
        previous: tuple[str, ...] = parents
        for item in items:
            if isinstance(item, list):
                walk(item, previous)
                continue
            path = (*parents, str(item.title))
            previous = path
            try:
                page_index = reader.get_destination_page_number(item)
                if page_index is None:
                    continue
                page = page_index + 1
            except (PdfReadError, KeyError, ValueError, TypeError):
                continue
            starts.setdefault(page, path)

    try:
        walk(reader.outline, ())
    except (PdfReadError, KeyError, ValueError, TypeError):
        logger.info("Ignoring an unreadable PDF outline")
    return starts
