"""Chat test data: alice (uploader), bob (alice's group), charlie (outsider); a restricted engineering runbook
only alice's group may read, and a public handbook page. Documents go through real ingestion (real model)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from accounts.models import User
from ingestion.models import Document
from ingestion.services import TextItem, ingest_text_documents
from tests.processes import WebServer, web_server

PASSWORD = "correct-horse-battery"

# A secret only the engineering group may read: charlie must never see any of it.
RESTRICTED_SECRET = "ORION-7731"
RESTRICTED_TEXT = f"""Database failover runbook

When the primary PostgreSQL database fails, the on-call engineer promotes the standby replica with the \
failover script. The failover takes about four minutes and the write outage lasts until the promotion \
finishes. The emergency access code for the failover console is {RESTRICTED_SECRET}, rotated every quarter.

After a failover, the on-call engineer files an incident report within two working days and schedules \
a post-mortem with the platform team."""

PUBLIC_TEXT = """Travel and expenses policy

Employees book business travel through the travel portal at least two weeks before departure. Economy \
class is the default for flights shorter than six hours.

Expense reports must be submitted within thirty days of the purchase, with a receipt for every item above \
twenty-five euros. Managers approve expense reports within one week."""


@dataclass
class Team:
    alice: User
    bob: User
    charlie: User
    engineering: Group


@dataclass
class Corpus:
    restricted: Document
    public: Document


def make_team() -> Team:
    engineering = Group.objects.create(name="engineering")
    alice = User.objects.create_user("alice", email="alice@example.com", password=PASSWORD)
    bob = User.objects.create_user("bob", email="bob@example.com", password=PASSWORD)
    charlie = User.objects.create_user("charlie", email="charlie@example.com", password=PASSWORD)
    alice.groups.add(engineering)
    bob.groups.add(engineering)
    return Team(alice=alice, bob=bob, charlie=charlie, engineering=engineering)


def make_corpus(team: Team) -> Corpus:
    (restricted,) = ingest_text_documents(
        [TextItem(title="Database failover runbook", text=RESTRICTED_TEXT, filename="failover.txt")],
        owner=team.alice,
        is_public=False,
        group_ids=[team.engineering.pk],
    )
    (public,) = ingest_text_documents(
        [TextItem(title="Travel and expenses policy", text=PUBLIC_TEXT, filename="expenses.txt")],
        owner=team.alice,
        is_public=True,
    )
    return Corpus(restricted=restricted, public=public)


def restore_migration_seeds() -> None:
    """Put back the rows data migrations seed (the production prompt, the gateway's routes) when a
    transactional test of another app has flushed them, exactly as the migrations create them."""
    from assistant.llm.models import Route
    from assistant.models import PromptLabel

    if not PromptLabel.objects.filter(name="chat", label="production").exists():
        importlib.import_module("assistant.migrations.0002_seed_prompt_and_immutability").seed(apps, None)
    if not Route.objects.filter(name="chat").exists():
        importlib.import_module("assistant.llm.migrations.0002_seed_routes").seed(apps, None)


@pytest.fixture
def seeded(db: None) -> None:
    restore_migration_seeds()


@pytest.fixture
def team(seeded: None) -> Team:
    return make_team()


@pytest.fixture
def corpus(team: Team) -> Corpus:
    return make_corpus(team)


@pytest.fixture
def asgi_server(transactional_db: None, tmp_path: Path) -> Iterator[WebServer]:
    """Docent under uvicorn (ASGI, so answers really stream) on a free port, on this test's database.

    The data is committed (the server is another process), so an earlier transactional test's flush may
    have emptied the rows the migrations seed: put them back first. (Serialized rollback is not used: its
    restore collides with the role groups that post_migrate re-creates after a flush.)"""
    restore_migration_seeds()
    with web_server(tmp_path) as server:
        yield server
