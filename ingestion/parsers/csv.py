"""CSV: each row becomes a "header: value" paragraph so a chunk is readable without its header line."""

from __future__ import annotations

import csv
import io

from ingestion.parsers.base import Block, ParsedDocument, ParseError, decode_text


class CsvParser:
    version = "csv-1"

    def parse(self, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel()  # type: ignore[assignment]
        try:
            rows = list(csv.reader(io.StringIO(text), dialect))
        except csv.Error as exc:
            raise ParseError(f"The CSV file is malformed: {exc}.") from exc
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        if not rows:
            return ParsedDocument()
        header, body = rows[0], rows[1:]
        blocks = []
        for number, row in enumerate(body, start=2):
            pairs = [f"{name.strip() or f'column {i + 1}'}: {value.strip()}" for i, (name, value) in
                     enumerate(zip(header, row, strict=False)) if value.strip()]  # fmt: skip
            if pairs:
                blocks.append(Block(text=f"Row {number}. " + "; ".join(pairs)))
        return ParsedDocument(blocks=blocks or [Block(text=", ".join(header))])
