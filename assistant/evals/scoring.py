"""Scoring one eval case from what the pipeline showed and answered. Pure functions, no database."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ANSWERED = "complete"
NOTHING_FOUND = "nothing_found"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def contains(text: str, needle: str) -> bool:
    """Case- and whitespace-insensitive substring test (facts are short phrases, e.g. "25 vacation days")."""
    return _norm(needle) in _norm(text)


@dataclass(frozen=True)
class CaseSpec:
    kind: str  # answer | permission | refusal
    expected_documents: frozenset[int]  # document ids the expected names resolve to
    expected_facts: tuple[str, ...]
    must_not_contain: tuple[str, ...]


@dataclass(frozen=True)
class Observed:
    status: str
    answer: str
    retrieved_documents: tuple[int, ...]  # documents of the passages shown, in order
    cited: tuple[tuple[int, str], ...]  # (document id, passage text) of every passage the answer cites


@dataclass
class CaseScore:
    passed: bool
    scores: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def score_case(spec: CaseSpec, seen: Observed) -> CaseScore:
    """The scores that apply to the case's kind (0..1 each) and whether it passed.

    - ``retrieval_hit``: an expected document was among the passages shown (answer cases).
    - ``citation_precision``: share of cited passages that come from an expected document and contain an
      expected fact, i.e. support the answer (answer cases that cite anything).
    - ``fact_recall``: share of expected facts found in the answer (answer cases).
    - ``refusal_correct``: the pipeline refused when nothing relevant exists (refusal cases) and answered
      when it does (answer cases).
    - ``permission_correct``: no expected (forbidden) document was shown or cited (permission cases).
    Must-not-contain strings fail any kind of case.
    """
    result = CaseScore(passed=True)
    leaked = [s for s in spec.must_not_contain if contains(seen.answer, s)]
    if leaked:
        result.failures.append(f"answer contains forbidden text: {leaked}")
    if spec.kind == "answer":
        answered = seen.status == ANSWERED
        result.scores["refusal_correct"] = 1.0 if answered else 0.0
        if not answered:
            result.failures.append(f"no answer (status {seen.status})")
        if spec.expected_documents:
            hit = bool(spec.expected_documents.intersection(seen.retrieved_documents))
            result.scores["retrieval_hit"] = 1.0 if hit else 0.0
            if not hit:
                result.failures.append("no expected document among the passages shown")
        if seen.cited:
            supporting = [
                1
                for document_id, text in seen.cited
                if (not spec.expected_documents or document_id in spec.expected_documents)
                and (not spec.expected_facts or any(contains(text, fact) for fact in spec.expected_facts))
            ]
            result.scores["citation_precision"] = len(supporting) / len(seen.cited)
        if spec.expected_facts:
            found = [fact for fact in spec.expected_facts if contains(seen.answer, fact)]
            result.scores["fact_recall"] = len(found) / len(spec.expected_facts)
            if len(found) < len(spec.expected_facts):
                missing = [fact for fact in spec.expected_facts if fact not in found]
                result.failures.append(f"facts missing from the answer: {missing}")
    elif spec.kind == "refusal":
        refused = seen.status == NOTHING_FOUND
        result.scores["refusal_correct"] = 1.0 if refused else 0.0
        if not refused:
            result.failures.append(f"answered although nothing relevant exists (status {seen.status})")
    elif spec.kind == "permission":
        surfaced = spec.expected_documents.intersection(
            {*seen.retrieved_documents, *(document_id for document_id, _ in seen.cited)}
        )
        ok = not surfaced and not leaked
        result.scores["permission_correct"] = 1.0 if ok else 0.0
        if surfaced:
            result.failures.append(f"forbidden documents surfaced: {sorted(surfaced)}")
    else:
        raise ValueError(f"unknown case kind {spec.kind!r}")
    result.passed = not result.failures
    return result


# Case-level score name -> run-level field on EvalRun.
RUN_FIELDS: Mapping[str, str] = {
    "retrieval_hit": "retrieval_hit_rate",
    "citation_precision": "citation_precision",
    "fact_recall": "fact_recall",
    "refusal_correct": "refusal_correctness",
    "permission_correct": "permission_correctness",
    "judge": "judge_score",
}


def aggregate(case_scores: Sequence[Mapping[str, float]]) -> dict[str, float | None]:
    """Run-level means per score (None when no case measured it) and ``score``, the mean of those present."""
    totals: dict[str, float | None] = {}
    for name, run_field in RUN_FIELDS.items():
        values = [scores[name] for scores in case_scores if name in scores]
        totals[run_field] = sum(values) / len(values) if values else None
    present = [value for value in totals.values() if value is not None]
    totals["score"] = sum(present) / len(present) if present else None
    return totals
