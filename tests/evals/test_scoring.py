"""Scoring rules of one case, on hand-made observations."""

from __future__ import annotations

from assistant.evals.scoring import CaseSpec, Observed, aggregate, score_case


def spec(kind: str = "answer", docs=(1,), facts=("25 days",), never=()) -> CaseSpec:
    return CaseSpec(
        kind=kind, expected_documents=frozenset(docs), expected_facts=tuple(facts), must_not_contain=tuple(never)
    )


def test_good_answer_scores_full_marks() -> None:
    seen = Observed("complete", "You get 25  Days [1].", (1, 2), ((1, "Employees get 25 days per year."),))
    result = score_case(spec(), seen)
    assert result.passed
    assert result.scores == {
        "refusal_correct": 1.0,
        "retrieval_hit": 1.0,
        "citation_precision": 1.0,
        "fact_recall": 1.0,
    }


def test_citation_of_an_unrelated_passage_lowers_precision() -> None:
    seen = Observed("complete", "25 days [1][2]", (1, 2), ((1, "25 days a year"), (2, "Offices open at 7")))
    assert score_case(spec(), seen).scores["citation_precision"] == 0.5


def test_refusing_an_answerable_question_fails() -> None:
    result = score_case(spec(), Observed("nothing_found", "I could not find anything", (), ()))
    assert not result.passed and result.scores["refusal_correct"] == 0.0 and result.scores["retrieval_hit"] == 0.0


def test_refusal_case_passes_only_when_nothing_is_answered() -> None:
    assert score_case(spec("refusal", docs=(), facts=()), Observed("nothing_found", "", (), ())).passed
    assert not score_case(spec("refusal", docs=(), facts=()), Observed("complete", "x", (3,), ())).passed


def test_permission_case_fails_when_the_forbidden_document_is_shown_or_its_text_leaks() -> None:
    forbidden = spec("permission", docs=(9,), facts=(), never=("ORION-7731",))
    assert score_case(forbidden, Observed("complete", "other", (1,), ())).passed
    assert not score_case(forbidden, Observed("complete", "other", (9,), ())).passed
    assert not score_case(forbidden, Observed("complete", "code ORION-7731", (1,), ())).passed


def test_aggregate_means_only_over_cases_that_measure_a_score() -> None:
    totals = aggregate([{"fact_recall": 1.0}, {"fact_recall": 0.5, "permission_correct": 1.0}, {}])
    assert totals["fact_recall"] == 0.75 and totals["permission_correctness"] == 1.0
    assert totals["retrieval_hit_rate"] is None
    assert totals["score"] == (0.75 + 1.0) / 2
