"""Audit-log test helpers: an auditor with the auditor role, and a way to read the handler's log output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog
from django.contrib.auth.models import Group

from accounts.models import User
from accounts.roles import AUDITOR
from assistant.guards.redaction import redact
from assistant.observability import logging as observability_logging
from tests.chat.conftest import Corpus, Team, make_corpus, make_team, restore_migration_seeds


def make_auditor(name: str = "audrey") -> User:
    auditor = User.objects.create_user(name, email=f"{name}@example.com", password="x", is_staff=True)
    auditor.groups.add(Group.objects.get(name=AUDITOR))
    return auditor


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the configured console handler (the shared structlog chain, with redaction) writes during
    the test."""
    assert observability_logging.REDACT is redact, "the log chain's redaction slot holds the guardrails' redact"
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    assert handlers, "LOGGING renders through the shared structlog chain"
    handler = handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.setLevel(level)
        handler.setStream(previous)


@pytest.fixture
def team(db: None) -> Team:
    restore_migration_seeds()
    return make_team()


@pytest.fixture
def corpus(team: Team) -> Corpus:
    return make_corpus(team)
