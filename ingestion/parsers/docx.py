"""DOCX through python-docx, after checking the zip and its XML for bombs."""

from __future__ import annotations

import io
import zipfile

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from docx import Document as open_docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingestion.parsers.base import MAX_SECTION_DEPTH, Block, ParsedDocument, ParseError

# A real DOCX compresses text maybe 10x; a zip bomb compresses by thousands. The absolute cap bounds memory.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_ENTRIES = 2000


class DocxParser:
    version = "docx-1"

    def parse(self, data: bytes) -> ParsedDocument:
        check_zip(data)
        try:
            document = open_docx(io.BytesIO(data))
        except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ParseError("The Word document is damaged and cannot be read.") from exc
        blocks: list[Block] = []
        headings: list[tuple[int, str]] = []
        title = str(document.core_properties.title or "")
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = [" ".join(cell.text.split()) for cell in row.cells]
                    text = " | ".join(dict.fromkeys(cell for cell in cells if cell))
                    if text:
                        blocks.append(Block(text=text, section=_path(headings)))
                continue
            paragraph: Paragraph = item
            text = paragraph.text.strip()
            if not text:
                continue
            level = _heading_level(paragraph)
            if level is not None:
                headings = [(lvl, name) for lvl, name in headings if lvl < level]
                headings.append((level, text))
                title = title or text
                blocks.append(Block(text=text, section=_path(headings), is_heading=True))
            else:
                blocks.append(Block(text=text, section=_path(headings)))
        return ParsedDocument(blocks=blocks, title=title)


def check_zip(data: bytes) -> None:
    """Refuse zip bombs and XML entity bombs before any XML is expanded into memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ParseError("The Word document is damaged (not a valid ZIP container).") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise ParseError(f"The Word document has more than {MAX_ENTRIES} parts; it looks like a zip bomb.")
        total = sum(entry.file_size for entry in entries)
        compressed = max(1, sum(entry.compress_size for entry in entries))
        if total > MAX_UNCOMPRESSED_BYTES or total / compressed > MAX_COMPRESSION_RATIO:
            raise ParseError(
                f"The Word document would expand to {total // (1024 * 1024)} MB from "
                f"{compressed // 1024} KB; it looks like a zip bomb and is refused."
            )
        for entry in entries:
            if not entry.filename.endswith((".xml", ".rels")):
                continue
            try:
                defusedxml.ElementTree.fromstring(archive.read(entry), forbid_dtd=True)
            except DefusedXmlException as exc:
                raise ParseError(
                    f"The Word document contains XML entity declarations ({entry.filename}); "
                    "they can be used to exhaust memory (an XML bomb) and are refused."
                ) from exc
            except defusedxml.ElementTree.ParseError as exc:
                raise ParseError(f"The Word document is damaged ({entry.filename} is not valid XML).") from exc


def _heading_level(paragraph: Paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 1
    if name.startswith("Heading "):
        suffix = name.removeprefix("Heading ")
        return int(suffix) if suffix.isdigit() else None
    return None


def _path(headings: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(name for _, name in headings[:MAX_SECTION_DEPTH])
