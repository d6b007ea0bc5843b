"""What every parser returns, and the errors it may raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class ParseError(Exception):
    """The file cannot be turned into text. Permanent: retrying will not help.

    ``str(error)`` is written for a curator ("The PDF is password-protected"), never a stack trace.
    """


@dataclass(frozen=True)
class Block:
    """One paragraph-like piece of text and where it sits in the document."""

    text: str
    section: tuple[str, ...] = ()
    page: int | None = None
    is_heading: bool = False


@dataclass
class ParsedDocument:
    blocks: list[Block] = field(default_factory=list)
    title: str = ""

    @property
    def has_text(self) -> bool:
        return any(block.text.strip() for block in self.blocks)


class Parser(Protocol):
    """Turns the bytes of one file type into blocks. ``version`` is recorded on each document version."""

    version: str

    def parse(self, data: bytes) -> ParsedDocument: ...


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is refused rather than guessed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError("The file claims to be UTF-16 text but is not valid UTF-16.") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"The text is not valid UTF-8 (first bad byte at position {exc.start}). "
            "Save it as UTF-8 and upload it again."
        ) from exc


MAX_SECTION_DEPTH = 6
