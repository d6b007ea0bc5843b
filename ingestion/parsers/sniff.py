"""Media type from the bytes. The file name never decides the family, only which text format a text is."""

from __future__ import annotations

import csv
import io
import re
import zipfile

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
CSV = "text/csv"
TEXT = "text/plain"


class UnsupportedType(Exception):
    """The bytes are a kind of file Docent does not read; the message names what they look like."""


# Magic numbers of common files we refuse, so the error can say what the file really is.
_KNOWN_BINARY = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.doc/.xls); save it as .docx"),
    (b"ID3", "an MP3 audio file"),
)
_MARKDOWN_HINTS = re.compile(r"^(#{1,6} \S|```|[-*] \S|\d+\. \S|> )|\[[^\]]+\]\([^)]+\)", re.MULTILINE)
_HTML_HINTS = re.compile(rb"<!doctype html|<html[\s>]|<body[\s>]|<head[\s>]", re.IGNORECASE)


def detect_type(data: bytes, filename: str = "") -> str:
    """The media type of ``data``; raises ``UnsupportedType`` with a readable reason."""
    head = data[:8192]
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    for magic, description in _KNOWN_BINARY:
        if head.startswith(magic):
            raise UnsupportedType(f"This file is {description}, not a document Docent can read.")
    if not head.startswith((b"\xff\xfe", b"\xfe\xff")) and _looks_binary(head):
        raise UnsupportedType("This file is binary data, not a document Docent can read.")
    if _HTML_HINTS.search(head):
        return HTML
    name = filename.lower()
    if name.endswith((".html", ".htm", ".xhtml")) and b"<" in head:
        return HTML
    sample = head.decode("utf-8", errors="replace")
    if name.endswith(".csv") or (not name.endswith((".md", ".markdown", ".txt")) and _looks_like_csv(sample)):
        return CSV
    if name.endswith((".md", ".markdown")) or _MARKDOWN_HINTS.search(sample):
        return MARKDOWN
    return TEXT


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise UnsupportedType("This file starts like a ZIP archive but is damaged.") from exc
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        raise UnsupportedType("This file is an Excel workbook; export the sheet as CSV to upload it.")
    if "ppt/presentation.xml" in names:
        raise UnsupportedType("This file is a PowerPoint presentation; save it as PDF to upload it.")
    raise UnsupportedType("This file is a ZIP archive, not a document Docent can read.")


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    control = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return bool(head) and control / len(head) > 0.05


def _looks_like_csv(sample: str) -> bool:
    lines = [line for line in sample.splitlines()[:10] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    counts = {len(row) for row in csv.reader(io.StringIO("\n".join(lines)), dialect)}
    return len(counts) == 1 and counts.pop() >= 2
