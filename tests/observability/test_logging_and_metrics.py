"""One structured log line per chat turn with per-stage timings, the request id following the request into
the answer and the LLM call rows, stdlib records through the same processor chain, and /metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from django.test import Client

from assistant.llm.models import LLMCall
from assistant.models import Message
from assistant.observability import logging as docent_logging
from assistant.observability.logging import logging_config
from tests.chat.conftest import Corpus, Team

pytestmark = pytest.mark.slow


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production JSON formatter (the one chain) on the root logger, into a buffer."""
    formatter_config = logging_config(log_format="json", level="INFO")["formatters"]["structlog"]
    factory = formatter_config.pop("()")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(factory(**formatter_config))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def ask(user, question: str, request_id: str) -> dict:
    client = Client()
    client.force_login(user)
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/",
        {"content": question},
        content_type="application/json",
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.content
    assert response.headers["X-Request-ID"] == request_id
    return response.json()


def test_chat_turn_logs_one_line_with_stage_timings_and_the_request_id(
    team: Team, corpus: Corpus, json_log: io.StringIO
) -> None:
    body = ask(team.bob, "How long does a database failover take?", "req-obs-1")
    turns = [line for line in lines(json_log) if line["event"] == "chat.turn"]
    assert len(turns) == 1
    turn = turns[0]
    assert turn["request_id"] == "req-obs-1" and turn["level"] == "info" and turn["logger"] == "docent.chat"
    assert set(turn["stages_ms"]) >= {
        "auth",
        "guard",
        "retrieval",
        "prompt",
        "ttft",
        "generation",
        "checks",
        "persistence",
    }
    assert all(value >= 0 for value in turn["stages_ms"].values())
    assert turn["status"] == "complete" and turn["error_class"] == "" and turn["fallback_used"] is False
    assert turn["route"] == "chat" and turn["prompt_version"] == Message.objects.get(pk=body["id"]).prompt_version_id
    assert turn["output_tokens"] > 0 and turn["cost_usd"] == 0.0 and turn["model_id"]
    # The request id follows the request into what was stored: the answer and the gateway's usage rows.
    assert Message.objects.get(pk=body["id"]).request_id == "req-obs-1"
    assert set(LLMCall.objects.values_list("request_id", flat=True)) == {"req-obs-1"}


def test_nothing_found_turn_is_logged_as_an_empty_retrieval(team: Team, corpus: Corpus, json_log: io.StringIO) -> None:
    ask(team.alice, "Who won the football world cup in 1954?", "req-obs-2")
    (turn,) = [line for line in lines(json_log) if line["event"] == "chat.turn"]
    assert turn["status"] == "nothing_found" and turn["empty_retrieval"] is True
    assert "generation" not in turn["stages_ms"]


def test_stdlib_records_pass_through_the_same_chain_and_its_redaction_slot(
    json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docent_logging, "REDACT", lambda text: text.replace("hunter2", "[REDACTED]"))
    structlog.contextvars.bind_contextvars(request_id="req-obs-3")
    try:
        logging.getLogger("some.library").warning("password is %s", "hunter2")
        structlog.stdlib.get_logger("docent.test").info("login", password="hunter2")
    finally:
        structlog.contextvars.clear_contextvars()
    stdlib_line, structlog_line = lines(json_log)[-2:]
    assert stdlib_line["event"] == "password is [REDACTED]" and stdlib_line["request_id"] == "req-obs-3"
    assert stdlib_line["logger"] == "some.library" and stdlib_line["level"] == "warning" and "timestamp" in stdlib_line
    assert structlog_line["password"] == "[REDACTED]" and structlog_line["request_id"] == "req-obs-3"
    assert "hunter2" not in json_log.getvalue()


def test_every_line_is_redacted_even_when_the_same_value_comes_again(json_log: io.StringIO) -> None:
    # Short values are redacted once and remembered; the second line must still not carry the value.
    from assistant.guards.redaction import redact

    assert docent_logging.REDACT is redact
    log = structlog.stdlib.get_logger("docent.test")
    for _ in range(2):
        log.info("contact", email="jane.doe@gmail.com", token="sk-proj-abcdefghijklmnopqrstuvwx")
    first, second = lines(json_log)[-2:]
    assert first["email"] == second["email"] == "<EMAIL_ADDRESS>"
    assert first["token"] == second["token"] == "<SECRET>"
    assert "jane.doe" not in json_log.getvalue() and "abcdefghijklmnop" not in json_log.getvalue()
    assert first["timestamp"].startswith("20")  # our own field, written as it is


def scrape(client: Client, **headers: str) -> tuple[int, str]:
    response = client.get("/metrics", headers=headers)
    return response.status_code, response.content.decode()


def test_metrics_need_the_token_or_an_allowed_network(db: None, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    settings.METRICS_ALLOWED_NETWORKS = []
    client = Client()  # REMOTE_ADDR 127.0.0.1
    assert scrape(client)[0] == 403
    assert scrape(client, Authorization="Bearer wrong")[0] == 403
    status, text = scrape(client, Authorization="Bearer s3cret-scrape-token")
    assert status == 200 and "docent_ingestion_jobs" in text
    import ipaddress

    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert scrape(client)[0] == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403


def metric_value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_chat_turn_and_feedback_move_the_metrics(team: Team, corpus: Corpus) -> None:
    client = Client()
    _, before = scrape(client)
    body = ask(team.bob, "How long does a database failover take?", "req-obs-4")
    team.bob.refresh_from_db()
    voter = Client()
    voter.force_login(team.bob)
    assert voter.post(
        f"/api/v1/messages/{body['id']}/feedback/", {"rating": -1}, content_type="application/json"
    ).status_code in (200, 201)
    _, after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert grew("docent_chat_stage_seconds_count", stage="retrieval") == 1
    assert grew("docent_chat_stage_seconds_count", stage="ttft") == 1
    assert grew("docent_chat_turns_total", route="chat", status="complete", error_class="none") == 1
    assert grew("docent_llm_calls_total", route="chat", deployment="chat-extractive", outcome="ok") == 1
    assert grew("docent_llm_tokens_total", route="chat", deployment="chat-extractive", direction="output") > 0
    assert grew("docent_feedback_total", rating="down") == 1
    assert metric_value(after, "docent_ingestion_jobs", status="ready") == 2
    # django-prometheus: request latency by view.
    assert "django_http_requests_latency_seconds_by_view_method" in after
