"""Redis crashes (SIGKILL) and comes back while employees chat and curators upload.

Documented direction (docs/deploy.md, "When a dependency fails"): rate limits and the breaker fail open
(chats keep working), budgets fail closed; an upload while the broker is down is accepted and its job is
sent again by the watchdog; queued messages survive a restart (append-only file), so no job is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests

from accounts.services import create_api_token
from assistant.llm.services import configure_route
from ingestion.models import IngestionJob
from retrieval.models import Chunk
from tests.chat.conftest import Corpus, Team, make_corpus, make_team, restore_migration_seeds
from tests.fakes.llm_server import FakeLLMServer
from tests.faults.conftest import manage, own_redis
from tests.ingestion.helpers import make_curator
from tests.llm.helpers import openai_spec
from tests.processes import celery_worker, wait_until, web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PER_USER_LIMIT = 4


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def setup(settings, fake_llm) -> tuple[Team, Corpus, str]:
    settings.EMBEDDING_BACKEND = "hashing"  # fast and identical in every process of this test
    restore_migration_seeds()
    team = make_team()
    corpus = make_corpus(team)
    make_curator(team.bob)
    configure_route(name="chat", chain=[openai_spec(fake_llm, timeout_seconds=10)])
    return team, corpus, create_api_token(user=team.bob, name="fault test").raw


@dataclass
class Traffic:
    """Chats sent one after another from a background thread, with every outcome kept."""

    url: str
    token: str
    conversation: int
    statuses: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def ask(self) -> requests.Response:
        return requests.post(
            f"{self.url}/api/v1/conversations/{self.conversation}/messages/",
            json={"content": "How long does a database failover take?"},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def run(self) -> None:
        while not self.stop.is_set():
            response = self.ask()
            answered = response.status_code == 201 and bool(response.json()["content"])
            self.statuses.append(201 if answered else response.status_code)
            self.stop.wait(0.3)


def upload(url: str, token: str, name: str) -> int:
    text = f"Runbook {name}: restart the service, then check the {name} dashboard for errors.\n" * 20
    response = requests.post(
        f"{url}/api/v1/documents/",
        files={"file": (f"{name}.txt", text.encode(), "text/plain")},
        data={"groups": "engineering"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def test_redis_crash_during_traffic_chats_keep_working_and_no_job_is_lost(tmp_path, setup):
    _, _, token = setup
    with own_redis(tmp_path) as redis_server:
        env: dict[str, Any] = {
            "REDIS_URL": redis_server.url,
            "EMBEDDING_BACKEND": "hashing",
            "CHAT_MIN_RELEVANCE": "0",
            "LLM_RATE_LIMIT_PER_USER_PER_MINUTE": str(PER_USER_LIMIT),
            "INGESTION_QUEUED_RESEND_SECONDS": "1",
        }
        with (
            web_server(tmp_path, **env) as web,
            celery_worker(queues="ingestion", log_path=tmp_path / "worker.log", **env),
        ):
            headers = {"Authorization": f"Bearer {token}"}
            conversation = requests.post(f"{web.url}/api/v1/conversations/", json={}, headers=headers, timeout=30)
            assert conversation.status_code == 201, conversation.text
            traffic = Traffic(url=web.url, token=token, conversation=conversation.json()["id"])

            before = upload(web.url, token, "before")
            wait_until(lambda: job_status(before) == "ready", timeout=120, what="the first upload")

            redis_server.kill()
            # Redis is down: chats still answer, past the per-user limit (rate limits fail open) ...
            down = [traffic.ask() for _ in range(PER_USER_LIMIT + 2)]
            assert [r.status_code for r in down] == [201] * len(down), [r.text for r in down]
            assert all(r.json()["content"] for r in down)
            # ... readiness says why, and an upload is accepted although its task cannot be sent yet.
            ready = requests.get(f"{web.url}/readyz", timeout=30)
            assert ready.status_code == 503 and "broker" in ready.json()["failed"]
            during = upload(web.url, token, "during")
            assert job_status(during) == "queued"

            # Traffic continues across the restart.
            worker_thread = threading.Thread(target=traffic.run, daemon=True)
            worker_thread.start()
            redis_server.start()
            queued_after = upload(web.url, token, "after")
            # The watchdog (run by beat in production) sends the job whose message never reached the broker.
            manage("shell", "-c", "from ingestion.services import requeue_stuck_jobs; requeue_stuck_jobs()", **env)
            for document_id in (during, queued_after):
                wait_until(partial(is_ready, document_id), timeout=120, what=f"document {document_id}")
            # With Redis back, the per-user limit is enforced again.
            wait_until(lambda: 429 in traffic.statuses, timeout=60, what="the rate limit to apply again")
            traffic.stop.set()
            worker_thread.join(timeout=60)
            assert 201 in traffic.statuses and set(traffic.statuses) <= {201, 429}, traffic.statuses
            assert requests.get(f"{web.url}/readyz", timeout=30).status_code == 200

    for document_id in (before, during, queued_after):
        jobs = IngestionJob.objects.filter(version__document_id=document_id)
        assert jobs.count() == 1
        job = jobs.get()
        assert job.status == "ready" and job.chunk_count > 0
        assert Chunk.objects.filter(document_id=document_id).count() == job.chunk_count
    assert "rate_limit_unavailable" in web.log.read_text()


def is_ready(document_id: int) -> bool:
    return job_status(document_id) == "ready"


def job_status(document_id: int) -> str:
    return str(IngestionJob.objects.get(version__document_id=document_id).status)
