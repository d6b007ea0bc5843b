"""Checks on what the model wrote, applied to the stream before any of it reaches the user.

:class:`OutputGuard` holds back the end of the stream only while it could still become one of these, and
catches, before it is shown:

- the per-request **canary** planted in the system message (only a model repeating its instructions can
  produce it) and **long verbatim fragments** of the system message (``FRAGMENT_WORDS`` words in a row): the
  rest of the answer is blocked (the stored and final answer is replaced by a neutral message), logged and
  audited; at most ``FRAGMENT_WORDS - 1`` words of a fragment can have been shown before the block;
- **links and images** to hosts outside ``CHAT_ALLOWED_LINK_HOSTS`` (relative links to Docent itself are fine):
  a Markdown link becomes its text, an image or a bare URL becomes a short note, raw HTML tags are dropped.
  Images are never allowed to outside hosts: an image URL is fetched by the browser without a click, the
  classic exfiltration channel.

Citations are checked where the answer is stored (``assistant.services.check_citations``): markers that match
no shown passage are removed and recorded.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

BLOCKED_MESSAGE = (
    "This answer was withheld because it would have revealed Docent's internal instructions. "
    "Please ask about the content of your documents."
)
FRAGMENT_WORDS = 10
# Held back at the end of the stream: the longest end that could be the start of the canary, so no part of it
# is shown before it is recognised (it was a fixed 32 characters, which delayed every answer's first words by
# about 200 ms at 30 tokens/s). A system-prompt fragment needs no hold-back: until its FRAGMENT_WORDS-th word
# arrives it is below the threshold by definition, and that word blocks the rest of the answer.
_WORD = re.compile(r"[a-z0-9]+")
# Constructs that are rewritten as a whole; the stream is never cut inside one.
_LINKISH = re.compile(
    r"!?\[[^\]\n]{0,500}\]\([^)\s]{0,2000}(?:\s+\"[^\"]*\")?\)"  # Markdown link or image
    r"|<(?:https?://|www\.)[^>\s]{0,2000}>"  # autolink
    r"|</?[A-Za-z][^<>\n]{0,500}>"  # HTML tag
    r"|(?:https?://|www\.)[^\s<>()\[\]\"']{1,2000}",  # bare URL
    re.IGNORECASE,
)
# A construct that may still be growing at the end of the buffer, down to its first character ("!", "[", "<",
# "h", "w"), so that no piece of a link reaches the user before the whole of it can be checked.
_OPEN_CONSTRUCT = re.compile(
    r"(?:!?\[[^\]\n]{0,500}(?:\](?:\([^)\s]{0,2000})?)?|!|<[^<>\n]{0,500}|(?:https?://|www\.)\S*"
    r"|h(?:t(?:t(?:p(?:s)?(?::/?)?)?)?)?|w(?:w(?:w)?)?)$",
    re.IGNORECASE,
)


def new_canary() -> str:
    return f"DOCENT-CANARY-{secrets.token_hex(8)}"


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def fragments_of(system_prompt: str) -> frozenset[tuple[str, ...]]:
    words = _words(system_prompt)
    return frozenset(tuple(words[i : i + FRAGMENT_WORDS]) for i in range(len(words) - FRAGMENT_WORDS + 1))


def _host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    url = url.strip("<>")
    if url.startswith("/") and not url.startswith("//"):
        return True  # Docent's own pages
    if url.lower().startswith("www."):
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts)


def filter_links(text: str, allowed_hosts: Iterable[str]) -> tuple[str, list[str]]:
    """Rewrite links, images and HTML in ``text``; returns the text and the URLs removed."""
    allowed = [host.lower().lstrip(".") for host in allowed_hosts if host]
    removed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        construct = match.group(0)
        if construct.startswith("!["):
            url = construct[construct.index("](") + 2 : -1].split()[0] if "](" in construct else ""
            removed.append(url)
            return "[image removed]"
        if construct.startswith("["):
            label, _, rest = construct[1:].partition("](")
            url = rest[:-1].split()[0] if rest else ""
            if _host_allowed(url, allowed):
                return construct
            removed.append(url)
            return label
        if construct.startswith("<") and not construct.lower().startswith(("<http", "<www")):
            return ""  # raw HTML is never passed on
        url = construct.strip("<>")
        if _host_allowed(url, allowed):
            return construct
        removed.append(url)
        return "[link removed]"

    return _LINKISH.sub(replace, text), removed


@dataclass
class OutputGuard:
    """Feed it the model's text as it streams; it returns what may be shown so far."""

    canary: str
    system_prompt: str
    allowed_hosts: list[str]
    blocked: str = ""  # the reason, once blocked
    removed_links: list[str] = field(default_factory=list)
    _buffer: str = ""
    _emitted: int = 0
    _fragments: frozenset[tuple[str, ...]] = frozenset()
    # The leak check is incremental (it runs on every token, so rescanning the answer each time would make a
    # long answer quadratic): the lowered stream, where the next word scan starts (the start of a word that
    # may still be growing), the last complete words before it, and where a new canary could start.
    _lowered: str = ""
    _scan_from: int = 0
    _recent: list[str] = field(default_factory=list)
    _canary_from: int = 0

    def __post_init__(self) -> None:
        self._fragments = fragments_of(self.system_prompt)

    def _leak(self, text: str) -> str:
        """A leak that ends in ``text`` (appended to the stream); anything ending earlier was checked when it
        arrived."""
        # Lowering piece by piece gives the same letters and digits as lowering the whole stream.
        self._lowered += text.lower()
        canary = self.canary.lower()
        if canary and canary in self._lowered[self._canary_from :]:
            return "canary"
        self._canary_from = max(0, len(self._lowered) - len(canary) + 1)
        words = list(self._recent)
        growing = False
        for match in _WORD.finditer(self._lowered, self._scan_from):
            words.append(match.group(0))
            # A word touching the end may continue in the next piece: checked as it is now, and again then.
            growing = match.end() == len(self._lowered)
            if growing:
                self._scan_from = match.start()
            else:
                self._scan_from = match.end()
        # Fewer than FRAGMENT_WORDS words were kept from before, so every window holds a new word.
        for i in range(len(words) - FRAGMENT_WORDS + 1):
            if tuple(words[i : i + FRAGMENT_WORDS]) in self._fragments:
                return "system_prompt_fragment"
        complete = words[:-1] if growing else words
        self._recent = complete[-(FRAGMENT_WORDS - 1) :]
        return ""

    def feed(self, text: str) -> str:
        if self.blocked:
            return ""
        self._buffer += text
        reason = self._leak(text)
        if reason:
            self.blocked = reason
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        if self.blocked:
            return ""
        return self._release(final=True)

    def _canary_start_at_end(self) -> int:
        """How many characters at the end of the stream could be the start of the canary (0: none)."""
        canary = self.canary.lower()
        tail = self._buffer[-(len(canary) - 1) :] if len(canary) > 1 else ""
        for start in range(len(tail)):
            if canary.startswith(tail[start:].lower()):
                return len(tail) - start
        return 0

    def _release(self, *, final: bool) -> str:
        end = len(self._buffer)
        if not final:
            end = max(self._emitted, end - self._canary_start_at_end())
            # Never cut inside a link, an image, a URL or a tag: move the cut to where it starts.
            for match in _LINKISH.finditer(self._buffer, self._emitted):
                if match.start() < end < match.end() or (match.end() == len(self._buffer) and match.start() < end):
                    end = match.start()
                    break
            tail = _OPEN_CONSTRUCT.search(self._buffer, self._emitted)
            if tail is not None and tail.start() < end:
                end = tail.start()
        if end <= self._emitted:
            return ""
        segment = self._buffer[self._emitted : end]
        self._emitted = end
        shown, removed = filter_links(segment, self.allowed_hosts)
        self.removed_links.extend(removed)
        return shown
