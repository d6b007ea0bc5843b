"""PII and secret redaction: unit behaviour, offline operation, every path to logs and audit rows, and
REDACT_OUTBOUND (placeholders to the provider, values back for the user)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from assistant.audit.models import AuditEvent
from assistant.guards.redaction import OutboundRedactor, redact
from assistant.llm.services import configure_route
from tests.chat.conftest import Corpus, Team
from tests.fakes.llm_server import Behaviour, FakeLLMServer
from tests.llm.helpers import openai_spec
from tests.processes import REPO_ROOT, process_env

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415-555-0199"
OPENAI_KEY = "sk-proj-Q3vX9aLmT7rP2wZk8YbN4c"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SEEDS = [EMAIL, CARD, PHONE, OPENAI_KEY, AWS_KEY, "4111111111111111", "415-555-0199"]
SEEDED_TEXT = f"Contact {EMAIL} or {PHONE}; card {CARD}; keys {OPENAI_KEY} and {AWS_KEY}."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"mail {EMAIL} now", "mail <EMAIL_ADDRESS> now"),
        (f"card {CARD} ok", "card <CREDIT_CARD> ok"),
        (f"call {PHONE} today", "call <PHONE_NUMBER> today"),
        (f"key {OPENAI_KEY}", "key <SECRET>"),
        (f"aws {AWS_KEY}", "aws <SECRET>"),
        ("password=hunter2hunter2", "password=<SECRET>"),
        ("Authorization: Bearer abcdefghijkl", "Authorization: Bearer <SECRET>"),
        # Ordinary log lines and request ids are left alone.
        ("ingestion job 12 ready: 3 chunks (live=True)", "ingestion job 12 ready: 3 chunks (live=True)"),
        ("request_id=5f2b9c1e8a7d4e3f9b6c0a1d2e3f4a5b", "request_id=5f2b9c1e8a7d4e3f9b6c0a1d2e3f4a5b"),
        ("The token expired after the session ended", "The token expired after the session ended"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(redact(text)) == expected


def test_outbound_placeholders_are_numbered_and_restored() -> None:
    redactor = OutboundRedactor()
    sent = redactor.redact(f"{EMAIL} and {EMAIL} and {PHONE}")
    assert sent == "<EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_1> and <PHONE_NUMBER_2>"
    assert redactor.restore("write to <EMAIL_ADDRESS_1>") == f"write to {EMAIL}"
    stream = redactor.restore_stream()
    pieces = ["write to <EMAIL_", "ADDRESS_1", "> or <PHONE", "_NUMBER_2>."]
    assert "".join(stream.feed(p) for p in pieces) + stream.finish() == f"write to {EMAIL} or {PHONE}."


def test_redaction_works_with_no_network() -> None:
    """tldextract would download the public suffix list on first use; ours never touches the network."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import django; django.setup()\n"
        "from assistant.guards.redaction import redact\n"
        f"print(redact('mail {EMAIL} now'))\n"
    )
    env = process_env(DJANGO_SETTINGS_MODULE="assistant.settings")
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("mail <EMAIL_ADDRESS> now")


@pytest.mark.slow
def test_seeded_pii_and_secrets_never_reach_logs_or_audit_rows(
    team: Team, corpus: Corpus, log_output: io.StringIO
) -> None:
    # 1. A failed sign-in with a user name that is an e-mail address, from a browser whose UA carries a key.
    Client(headers={"User-Agent": f"curl {OPENAI_KEY}"}).login(username=EMAIL, password="nope")
    # 2. A question carrying every kind, through the chat API.
    client = Client(headers={"User-Agent": f"Tester {EMAIL}"})
    client.force_login(team.bob)
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()["id"]
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages/",
        {"content": f"How long does a database failover take? {SEEDED_TEXT}"},
        content_type="application/json",
    )
    assert response.status_code == 201
    # 3. Application code logging them (a careless debug line, an exception message).
    logger = logging.getLogger("assistant.test")
    logger.warning("user said %s", SEEDED_TEXT)
    try:
        raise ValueError(SEEDED_TEXT)
    except ValueError:
        logger.exception("failed for %s", EMAIL)

    output = log_output.getvalue()
    assert "user said" in output and "<EMAIL_ADDRESS>" in output, "the log lines were written, redacted"
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()
    assert AuditEvent.objects.filter(action="chat.answer").exists()
    for seed in SEEDS:
        assert seed not in output, f"{seed} in the log output"
        assert seed not in rows, f"{seed} in an audit row"


@pytest.fixture
def fake_llm() -> Any:
    with FakeLLMServer() as server:
        yield server


@pytest.mark.slow
def test_redact_outbound_sends_placeholders_and_gives_the_user_the_values(
    team: Team, corpus: Corpus, fake_llm: FakeLLMServer, settings: Any
) -> None:
    settings.REDACT_OUTBOUND = True
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    fake_llm.set_default(Behaviour(obey_injections=True))  # echoes everything it was given
    configure_route(name="chat", chain=[openai_spec(fake_llm, name="outside")])
    client = Client()
    client.force_login(team.bob)
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()["id"]
    question = f"How long does a database failover take? Please email the answer to {EMAIL} or call {PHONE}."
    response = client.post(
        f"/api/v1/conversations/{conversation}/messages/", {"content": question}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    sent = json.dumps([r.body for r in fake_llm.requests])
    assert fake_llm.requests and EMAIL not in sent and "415-555-0199" not in sent
    placeholder = re.search(r"<EMAIL_ADDRESS_\d+>", sent)
    assert placeholder is not None, sent
    answer = response.json()["content"]
    assert EMAIL in answer and placeholder.group(0) not in answer, "placeholders restored for the user"
