"""PII and secret redaction: presidio (pattern recognizers only, offline) plus detect-secrets.

``redact(text)`` replaces e-mail addresses, card numbers, phone numbers, IBANs, US SSNs, IP addresses and
secrets (API keys, tokens, private keys, passwords in ``key=value`` form, high-entropy strings) with
``<ENTITY>`` placeholders. It runs before text is written to logs (the redaction slot of the shared log
chain, ``assistant.observability.logging``) and to the audit log, and, with ``REDACT_OUTBOUND=1``, before
text leaves for a model provider (:class:`OutboundRedactor`, which numbers the placeholders so that the
answer can be given back to the user with the original values).

Offline by construction: presidio's ``no_op`` NLP engine (no spaCy model), a fixed list of pattern
recognizers, and an e-mail recognizer whose domain check uses tldextract's bundled suffix list (the stock one
would download the list on first use).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import tldextract
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

ENTITIES = ("EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
SECRET = "SECRET"  # noqa: S105 - the placeholder's name, not a secret
MIN_SCORE = 0.4
# Strings shorter than this hold no e-mail, card, phone number or key worth the analyzer's time.
_MIN_LENGTH = 6
# Cheap pre-check for secrets: a long unbroken token or a keyword.
_MAYBE_SECRET = re.compile(r"[A-Za-z0-9_\-+/=.]{16,}|(?i:pass|secret|token|key|pwd|bearer)")
# Token formats we want caught even when detect-secrets' filters would call them unlikely.
_TOKENS = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
)
# "password=...", "api_key: ...", "Authorization: Bearer ...": the value is a secret whatever it looks like.
_KEYWORD_VALUE = re.compile(
    r"(?i)(?:\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)\b[\"']?\s*[:=]\s*"
    r"[\"']?|\bbearer\s+)([^\s'\",;<>]{6,})"
)
_PLACEHOLDER = re.compile(r"<(?:EMAIL_ADDRESS|CREDIT_CARD|PHONE_NUMBER|IBAN_CODE|US_SSN|IP_ADDRESS|SECRET)(?:_\d+)?>")


class _OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, with the domain check on tldextract's bundled list (never fetched)."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


@functools.cache
def _analyzer() -> AnalyzerEngine:
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "none"}]}
    )
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        _OfflineEmailRecognizer(),
        CreditCardRecognizer(),
        PhoneRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(nlp_engine=provider.create_engine(), registry=registry, supported_languages=["en"])


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    entity: str


@functools.cache
def _secret_plugins() -> list[Any]:
    """detect-secrets' pattern plugins, instantiated once and called directly (its scan API re-reads its
    settings on every call). Its two high-entropy plugins are left out: on single lines, outside a file scan,
    they report nearly every word; :func:`_high_entropy` replaces them."""
    classes: list[Any] = sorted(get_mapping_from_secret_type_to_class().values(), key=lambda cls: cls.__name__)
    return [cls() for cls in classes if "HighEntropy" not in cls.__name__ and cls.__name__ != "IPPublicDetector"]


_CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")


def _high_entropy(token: str) -> bool:
    """A long token mixing upper case, lower case and digits with high Shannon entropy: a key, not a word or an
    id (lower-case hex request ids and UUIDs do not qualify)."""
    if not (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token) and re.search(r"\d", token)):
        return False
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return entropy >= 4.0


def _secret_findings(text: str) -> list[Finding]:
    found: list[Finding] = [Finding(m.start(), m.end(), SECRET) for m in _TOKENS.finditer(text)]
    if not _MAYBE_SECRET.search(text):
        return found
    found += [Finding(m.start(1), m.end(1), SECRET) for m in _KEYWORD_VALUE.finditer(text)]
    found += [Finding(m.start(), m.end(), SECRET) for m in _CANDIDATE.finditer(text) if _high_entropy(m.group(0))]
    for line_start, line in _lines(text):
        for plugin in _secret_plugins():
            for secret in plugin.analyze_line(filename="log", line=line, line_number=0):
                value = secret.secret_value or ""
                if len(value) < 6:
                    continue
                index = line.find(value)
                while index >= 0:
                    found.append(Finding(line_start + index, line_start + index + len(value), SECRET))
                    index = line.find(value, index + len(value))
    return found


def _lines(text: str) -> Iterable[tuple[int, str]]:
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def find_sensitive(text: str) -> list[Finding]:
    """Non-overlapping findings, left to right (a longer finding wins over one it overlaps)."""
    if len(text) < _MIN_LENGTH:
        return []
    findings = _secret_findings(text)
    # Every PII entity here has an "@" or at least four digits (an IPv4 address has four).
    if "@" in text or sum(character.isdigit() for character in text) >= 4:
        results: list[RecognizerResult] = _analyzer().analyze(
            text=text, language="en", entities=list(ENTITIES), score_threshold=MIN_SCORE
        )
        findings += [Finding(r.start, r.end, r.entity_type) for r in results]
    findings.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for finding in findings:
        if kept and finding.start < kept[-1].end:
            if finding.end > kept[-1].end:
                kept[-1] = Finding(kept[-1].start, finding.end, kept[-1].entity)
            continue
        kept.append(finding)
    return kept


def redact(text: str) -> str:
    """``text`` with every PII value and secret replaced by ``<ENTITY>``. Idempotent."""
    if not text or len(text) < _MIN_LENGTH:
        return text
    findings = find_sensitive(text)
    if not findings:
        return text
    pieces: list[str] = []
    position = 0
    for finding in findings:
        pieces.append(text[position : finding.start])
        pieces.append(f"<{finding.entity}>")
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_secrets(text: str) -> str:
    """Only secrets (keys, tokens, passwords), for ``AUDIT_CONTENT=full``."""
    if not text or len(text) < _MIN_LENGTH:
        return text
    pieces: list[str] = []
    position = 0
    for finding in sorted(_secret_findings(text), key=lambda f: f.start):
        if finding.start < position:
            continue
        pieces.append(text[position : finding.start])
        pieces.append(f"<{SECRET}>")
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_value(value: Any) -> Any:
    """:func:`redact` applied to every string inside dicts, lists and tuples (keys are left alone)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


@dataclass
class OutboundRedactor:
    """Numbered placeholders for text sent to an outside provider, and their restoration in the answer.

    The same value gets the same placeholder everywhere in one request, so the model can still refer to it.
    """

    values: dict[str, str] = field(default_factory=dict)  # placeholder -> original
    _by_value: dict[str, str] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        findings = find_sensitive(text)
        if not findings:
            return text
        pieces: list[str] = []
        position = 0
        for finding in findings:
            original = text[finding.start : finding.end]
            placeholder = self._by_value.get(original)
            if placeholder is None:
                placeholder = f"<{finding.entity}_{len(self.values) + 1}>"
                self.values[placeholder] = original
                self._by_value[original] = placeholder
            pieces.append(text[position : finding.start])
            pieces.append(placeholder)
            position = finding.end
        pieces.append(text[position:])
        return "".join(pieces)

    def restore(self, text: str) -> str:
        if not self.values:
            return text
        return _PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), text)

    def restore_stream(self) -> StreamRestorer:
        return StreamRestorer(self)


@dataclass
class StreamRestorer:
    """Restores placeholders in streamed text, holding back a tail that could be the start of one."""

    redactor: OutboundRedactor
    _pending: str = ""

    def feed(self, text: str) -> str:
        self._pending += text
        cut = self._pending.rfind("<")
        if cut >= 0 and ">" not in self._pending[cut:] and len(self._pending) - cut <= 24:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        return self.redactor.restore(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self.redactor.restore(ready)
