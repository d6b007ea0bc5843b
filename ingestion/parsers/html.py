"""HTML through lxml: headings give the section path; scripts, styles and navigation are dropped."""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

from ingestion.parsers.base import MAX_SECTION_DEPTH, Block, ParsedDocument, ParseError, decode_text

# Deeper nesting than this is not a real document but an attempt to exhaust the parser's stack.
MAX_NESTING = 256
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "caption", "figcaption", "address"}
_DROPPED = {"script", "style", "noscript", "template", "nav", "header", "footer", "svg", "iframe", "object"}
_SPACES = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class HtmlParser:
    version = "html-1"

    def parse(self, data: bytes) -> ParsedDocument:
        # XHTML starts with an XML declaration, which lxml refuses on already-decoded text.
        text = _XML_DECLARATION.sub("", decode_text(data), count=1)
        if not text.strip():
            return ParsedDocument()
        _check_nesting(text)
        try:
            root = lxml.html.document_fromstring(text)
        except (lxml.etree.ParserError, ValueError) as exc:
            raise ParseError(f"The HTML could not be read: {exc}.") from exc
        for element in list(root.iter(*_DROPPED)):
            element.drop_tree()
        # Navigation bars by convention (class "navheader", "navbar"..., or role="navigation") are not content.
        for element in list(root.iter()):
            classes = str(element.get("class") or "").split()
            if element.get("role") == "navigation" or any(name.startswith("nav") for name in classes):
                element.drop_tree()
        title_element = root.find(".//title")
        title = _clean(title_element.text_content()) if title_element is not None else ""
        body = root.find("body")
        blocks: list[Block] = []
        headings: list[tuple[int, str]] = []
        taken: set[lxml.html.HtmlElement] = set()
        for element in (body if body is not None else root).iter():
            if not isinstance(element.tag, str) or element.getparent() in taken:
                if element.getparent() in taken:
                    taken.add(element)
                continue
            tag = element.tag.lower()
            if tag in _HEADINGS:
                taken.add(element)
                heading = _clean(element.text_content())
                if heading:
                    level = _HEADINGS[tag]
                    headings = [(lvl, name) for lvl, name in headings if lvl < level]
                    headings.append((level, heading))
                    title = title or heading
                    blocks.append(Block(text=heading, section=_path(headings), is_heading=True))
            elif tag in _BLOCKS:
                taken.add(element)
                content = element.text_content() if tag == "pre" else _clean(element.text_content())
                if content.strip():
                    blocks.append(Block(text=content.strip(), section=_path(headings)))
        return ParsedDocument(blocks=blocks, title=title)


def _check_nesting(text: str) -> None:
    """Refuse pathologically deep markup before building a tree (lxml would silently truncate it)."""
    depth = 0
    parser = lxml.etree.HTMLPullParser(events=("start", "end"), recover=True)
    parser.feed(text)
    parser.close()
    for event, _element in parser.read_events():
        depth += 1 if event == "start" else -1
        if depth > MAX_NESTING:
            raise ParseError(f"The HTML is nested more than {MAX_NESTING} levels deep; it is refused as malformed.")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _path(headings: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(name for _, name in headings[:MAX_SECTION_DEPTH])
