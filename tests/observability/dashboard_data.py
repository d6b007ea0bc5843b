"""Real data for the dashboard, made the way production makes it: documents ingested, questions answered
through the chat API and the gateway (a generative deployment on the loopback model server, priced, under
budgets), failures, feedback, ingestion jobs and eval runs of two prompt versions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from assistant.evals.loader import CaseData
from assistant.evals.services import load_eval_cases, run_eval_suite
from assistant.llm.services import configure_route, set_budget
from assistant.prompts import create_prompt_version, get_prompt_version, move_label
from tests.chat.conftest import PASSWORD, Team, make_corpus, make_team, restore_migration_seeds
from tests.fakes.llm_server import Behaviour, FakeLLMServer
from tests.llm.helpers import openai_spec


@dataclass
class DashboardData:
    team: Team
    auditor: User
    answers: int


def ask(user: User, question: str) -> dict:
    client = Client()
    client.force_login(user)
    conversation = client.post("/api/v1/conversations/", {}, content_type="application/json").json()
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/", {"content": question}, content_type="application/json"
    )
    return response.json()


def rate(user: User, message_id: int, rating: int) -> None:
    client = Client()
    client.force_login(user)
    client.post(f"/api/v1/messages/{message_id}/feedback/", {"rating": rating}, content_type="application/json")


def make_dashboard_data(fake: FakeLLMServer) -> DashboardData:
    restore_migration_seeds()
    team = make_team()
    make_corpus(team)
    auditor = User.objects.create_user("audrey", email="audrey@example.com", password=PASSWORD)
    auditor.groups.add(Group.objects.get_or_create(name="auditor")[0])
    # Prices high enough that the spend is visible in cents; budgets with room for the worst case of each call.
    configure_route(
        name="chat",
        chain=[openai_spec(fake, input_per_million_usd=Decimal(15), output_per_million_usd=Decimal(60))],
    )
    set_budget(scope="global", period="day", limit=Decimal("0.50"))
    set_budget(scope="group", period="day", limit=Decimal("0.30"), group_id=team.engineering.pk)
    questions = [
        (team.bob, "How long does a database failover take?", 1),
        (team.alice, "Who files the incident report after a failover?", 1),
        (team.charlie, "Within how many days must expense reports be submitted?", -1),
        (team.bob, "Which class is the default for short flights?", 1),
    ]
    answers = 0
    for user, question, rating in questions:
        body = ask(user, question)
        answers += 1
        rate(user, body["id"], rating)
    ask(team.alice, "Who won the football world cup in 1954?")  # nothing found: no model call
    answers += 1
    fake.script(*[Behaviour(status=503)] * 3)  # every retry fails: an outage answer and its error rows
    ask(team.charlie, "How soon do managers approve expense reports?")
    answers += 1
    cases = [
        CaseData(key="failover", question="How long does a database failover take?", run_as="bob",
                 expected_documents=("Database failover runbook",), expected_facts=("four minutes",)),
        CaseData(key="outsider", question="What is the emergency access code for the failover console?",
                 run_as="charlie", kind="permission", expected_documents=("Database failover runbook",)),
        CaseData(key="football", question="Who won the football world cup in 1954?", run_as="alice", kind="refusal"),
    ]  # fmt: skip
    load_eval_cases(cases=cases, suite="smoke")
    run_eval_suite(suite="smoke", use_judge=False)
    current = get_prompt_version(name="chat", label="production")
    staging = create_prompt_version(
        name="chat",
        system_template=current.system_template + "\nAnswer in one sentence.",
        user_template=current.user_template,
        commit_message="shorter answers",
        author=None,
    )
    move_label(version=staging, label="staging", moved_by=None)
    run_eval_suite(suite="smoke", prompt_label="staging", use_judge=False)
    return DashboardData(team=team, auditor=auditor, answers=answers)
