"""Markdown through markdown-it-py's token stream: headings become the section path of what follows."""

from __future__ import annotations

from markdown_it import MarkdownIt

from ingestion.parsers.base import MAX_SECTION_DEPTH, Block, ParsedDocument, decode_text

# Block-level tokens whose inline content is a paragraph of its own.
_TEXT_PARENTS = {"paragraph_open", "heading_open"}


class MarkdownParser:
    version = "markdown-1"

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark").enable("table")

    def parse(self, data: bytes) -> ParsedDocument:
        source = decode_text(data)
        tokens = self._md.parse(source)
        blocks: list[Block] = []
        headings: list[tuple[int, str]] = []
        title = ""
        pending_heading_level: int | None = None
        for index, token in enumerate(tokens):
            if token.type == "heading_open":
                pending_heading_level = int(token.tag[1:])
            elif token.type == "inline" and index > 0 and tokens[index - 1].type in _TEXT_PARENTS:
                text = token.content.strip()
                if not text:
                    continue
                if pending_heading_level is not None:
                    headings = [(level, name) for level, name in headings if level < pending_heading_level]
                    headings.append((pending_heading_level, text))
                    title = title or text
                    blocks.append(Block(text=text, section=_path(headings), is_heading=True))
                    pending_heading_level = None
                else:
                    blocks.append(Block(text=text, section=_path(headings)))
            elif token.type in {"fence", "code_block"} and token.content.strip():
                blocks.append(Block(text=token.content.strip(), section=_path(headings)))
        return ParsedDocument(blocks=blocks, title=title)


def _path(headings: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(name for _, name in headings[:MAX_SECTION_DEPTH])
