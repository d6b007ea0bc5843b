"""The metrics of ``eval_retrieval`` agree with their textbook definitions on hand-computed cases, and it measures
the configured search."""

from __future__ import annotations

import math

import pytest
from django.core.management.base import CommandError

from assistant.management.commands.eval_retrieval import (
    eval_search_params,
    mrr_at,
    ndcg_at,
    recall_at,
    score_rankings,
)


def test_ndcg_recall_and_mrr_on_a_hand_computed_ranking() -> None:
    relevant = {"a": 1, "b": 1}
    ranking = ["x", "a", "y", "b"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(ranking, relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(ranking, relevant, 1) == 0.0
    assert recall_at(ranking, relevant, 2) == 0.5
    assert recall_at(ranking, relevant, 10) == 1.0
    assert mrr_at(ranking, relevant, 10) == 0.5
    assert mrr_at(ranking, relevant, 1) == 0.0


def test_scores_average_over_judged_queries_only() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = score_rankings({"q1": ["a"], "q2": ["c", "b"], "unjudged": ["a"]}, qrels)
    assert scores["queries"] == 2
    assert scores["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert scores["recall@10"] == 1.0


def test_eval_measures_the_configured_pools_and_the_overrides(settings) -> None:
    settings.RETRIEVAL_DENSE_POOL = 30
    settings.RETRIEVAL_LEXICAL_POOL = 40
    configured = eval_search_params([])
    assert (configured.dense_pool, configured.lexical_pool, configured.max_per_document) == (30, 40, 1)
    overridden = eval_search_params(["dense_pool=20", "max_per_document=2", "rrf_k=10"])
    assert (overridden.dense_pool, overridden.max_per_document, overridden.rrf_k) == (20, 2, 10)
    assert overridden.lexical_pool == 40
    with pytest.raises(CommandError, match="not_a_knob"):
        eval_search_params(["not_a_knob=1"])
