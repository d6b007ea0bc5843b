"""File parsers, one module per format behind the ``Parser`` protocol, chosen by the sniffed media type."""

from __future__ import annotations

from ingestion.parsers import sniff
from ingestion.parsers.base import Block, ParsedDocument, ParseError, Parser
from ingestion.parsers.csv import CsvParser
from ingestion.parsers.docx import DocxParser
from ingestion.parsers.html import HtmlParser
from ingestion.parsers.markdown import MarkdownParser
from ingestion.parsers.pdf import PdfParser
from ingestion.parsers.sniff import UnsupportedType, detect_type
from ingestion.parsers.text import TextParser

PARSERS: dict[str, Parser] = {
    sniff.PDF: PdfParser(),
    sniff.DOCX: DocxParser(),
    sniff.HTML: HtmlParser(),
    sniff.MARKDOWN: MarkdownParser(),
    sniff.CSV: CsvParser(),
    sniff.TEXT: TextParser(),
}

__all__ = ["PARSERS", "Block", "ParseError", "ParsedDocument", "Parser", "UnsupportedType", "detect_type"]
