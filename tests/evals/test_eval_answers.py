"""The answer-quality loop end to end: the shipped demo eval set runs through the real pipeline (real
retrieval with ACLs, the extractive provider) and is stored as a scored run."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from assistant.evals.loader import read_jsonl
from assistant.evals.management.commands.eval_answers import DEMO_CASES
from assistant.evals.models import EvalCase, EvalResult, EvalRun
from assistant.management.commands import load_demo_data  # noqa: F401  (the demo data the set is written for)
from assistant.models import Conversation, PromptLabel

pytestmark = pytest.mark.slow


def test_demo_eval_set_has_answer_permission_and_refusal_cases() -> None:
    cases = read_jsonl(DEMO_CASES)
    kinds = [case.kind for case in cases]
    assert len(cases) >= 30
    assert kinds.count("permission") >= 5 and kinds.count("refusal") >= 3


def test_eval_answers_runs_the_demo_set_and_stores_a_scored_run(demo_corpus: None) -> None:
    out = StringIO()
    call_command("eval_answers", "--no-judge", stdout=out)
    print(out.getvalue())
    run = EvalRun.objects.get()
    production = PromptLabel.objects.get(name="chat", label="production").version
    assert run.status == EvalRun.Status.FINISHED
    assert run.prompt_version == production and run.route == "chat"
    assert run.case_count == EvalCase.objects.filter(suite="demo").count() >= 30
    assert run.results.count() == run.case_count
    # Permissions are enforced by the real retrieval: no forbidden document ever surfaces.
    assert run.permission_correctness == 1.0
    assert run.refusal_correctness is not None and run.refusal_correctness >= 0.9
    assert run.retrieval_hit_rate is not None and run.retrieval_hit_rate >= 0.8
    assert run.fact_recall is not None and run.fact_recall >= 0.6
    assert run.score is not None and 0.0 < run.score <= 1.0
    for result in EvalResult.objects.filter(run=run, kind="permission"):
        assert result.passed, (result.case_key, result.failures)
    # Eval conversations do not clutter the users' history.
    assert not Conversation.objects.exists()
    assert f"Eval run {run.pk}" in out.getvalue()
