"""The release gate on the production label, thumbs-down answers becoming eval cases, and the JSONL loader."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from assistant.evals.gate import ReleaseRefused
from assistant.evals.loader import EvalSetInvalid, parse_lines
from assistant.evals.models import EvalCase, EvalRun
from assistant.models import Conversation, Feedback, Message, PromptLabel, PromptLabelMove
from assistant.prompts import PRODUCTION, create_prompt_version, get_prompt_version, move_label
from assistant.services import record_feedback
from tests.chat.conftest import restore_migration_seeds


@pytest.fixture
def versions(db: None):
    restore_migration_seeds()
    current = get_prompt_version(name="chat", label=PRODUCTION)
    candidate = create_prompt_version(
        name="chat",
        system_template=current.system_template + " Be brief.",
        user_template=current.user_template,
        commit_message="shorter answers",
        author=None,
    )
    return current, candidate


def finished_run(version, score: float) -> EvalRun:
    return EvalRun.objects.create(
        suite="demo",
        suite_hash="x",
        prompt_version=version,
        route="chat",
        status=EvalRun.Status.FINISHED,
        score=score,
        finished_at=timezone.now(),
    )


def test_release_of_a_worse_version_is_refused(versions, settings) -> None:
    settings.EVAL_GATE_MAX_DROP = 0.05
    current, candidate = versions
    finished_run(current, 0.90)
    finished_run(candidate, 0.80)
    with pytest.raises(ReleaseRefused, match="below"):
        move_label(version=candidate, label=PRODUCTION, moved_by=None)
    assert PromptLabel.objects.get(name="chat", label=PRODUCTION).version == current


def test_forced_release_goes_through_and_is_recorded(versions) -> None:
    current, candidate = versions
    finished_run(current, 0.90)
    finished_run(candidate, 0.50)
    move_label(version=candidate, label=PRODUCTION, moved_by=None, note="hotfix", force=True)
    assert PromptLabel.objects.get(name="chat", label=PRODUCTION).version == candidate
    move = PromptLabelMove.objects.filter(to_version=candidate).get()
    assert move.note.startswith("[forced past the eval gate:") and move.note.endswith("hotfix")


def test_release_within_the_threshold_and_other_labels_pass(versions) -> None:
    current, candidate = versions
    finished_run(current, 0.90)
    finished_run(candidate, 0.88)
    move_label(version=candidate, label="staging", moved_by=None)
    move_label(version=candidate, label=PRODUCTION, moved_by=None)
    assert PromptLabel.objects.get(name="chat", label=PRODUCTION).version == candidate


def test_admin_release_form_refuses_then_accepts_with_force(versions) -> None:
    current, candidate = versions
    finished_run(current, 0.95)
    finished_run(candidate, 0.40)
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    label = PromptLabel.objects.get(name="chat", label=PRODUCTION)
    url = f"/admin/assistant/promptlabel/{label.pk}/change/"
    response = client.post(url, {"version": candidate.pk, "note": "try"})
    assert response.status_code == 200 and b"Release refused by the eval gate" in response.content
    assert PromptLabel.objects.get(pk=label.pk).version == current
    response = client.post(url, {"version": candidate.pk, "note": "try", "force": "on"})
    assert response.status_code == 302
    assert PromptLabel.objects.get(pk=label.pk).version == candidate


def test_thumbs_down_becomes_an_eval_case_in_one_click(db: None) -> None:
    restore_migration_seeds()
    bob = User.objects.create_user("bob", password="pw")
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    conversation = Conversation.objects.create(owner=bob)
    question = Message.objects.create(conversation=conversation, role="user", content="How long is parental leave?")
    answer = Message.objects.create(conversation=conversation, role="assistant", content="No idea.", reply_to=question)
    down = record_feedback(message=answer, user=bob, rating=Feedback.Rating.DOWN, comment="wrong")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/assistant/feedback/", {"action": "make_eval_cases", "_selected_action": [down.pk]}, follow=True
    )
    assert response.status_code == 200
    case = EvalCase.objects.get()
    assert (case.suite, case.question, case.run_as, case.source_message) == (
        "feedback",
        "How long is parental leave?",
        bob,
        answer,
    )
    # A second click does not duplicate it.
    client.post("/admin/assistant/feedback/", {"action": "make_eval_cases", "_selected_action": [down.pk]})
    assert EvalCase.objects.count() == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('{"key": "a", "question": "q"}', "run_as is required"),
        ('{"key": "a", "question": "q", "run_as": "bob", "kind": "vibes"}', "kind must be one of"),
        ('{"key": "a", "question": "q", "run_as": "bob", "kind": "permission"}', "names the documents"),
        ('{"key": "a", "question": "q", "run_as": "bob", "expected_facts": [1]}', "list of non-empty strings"),
    ],
)
def test_loader_rejects_bad_lines_with_their_line_number(line: str, message: str) -> None:
    with pytest.raises(EvalSetInvalid, match=message) as caught:
        parse_lines(["# comment", "", line], source="set.jsonl")
    assert "set.jsonl:3" in str(caught.value)


def test_loader_rejects_duplicate_keys() -> None:
    line = '{"key": "a", "question": "q", "run_as": "bob"}'
    with pytest.raises(EvalSetInvalid, match="duplicate key"):
        parse_lines([line, line])


def test_eval_task_runs_a_suite_off_the_request_path(versions) -> None:
    from assistant.evals.loader import CaseData
    from assistant.evals.services import load_eval_cases
    from assistant.evals.tasks import run_eval_suite_task

    User.objects.create_user("bob", password="pw")
    load_eval_cases(
        cases=[CaseData(key="nothing", question="Who won the 1954 world cup?", run_as="bob", kind="refusal")],
        suite="tiny",
    )
    run_id = run_eval_suite_task.apply(kwargs={"suite": "tiny"}).get()
    run = EvalRun.objects.get(pk=run_id)
    assert run.status == EvalRun.Status.FINISHED and run.case_count == 1
    assert run.refusal_correctness == 1.0  # no documents at all: nothing found


def test_prompt_versions_list_their_last_eval_score_in_the_admin(versions) -> None:
    current, _candidate = versions
    finished_run(current, 0.5)
    finished_run(current, 0.875)
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/assistant/promptversion/").content.decode()
    assert "0.875" in page and "0.500" not in page
