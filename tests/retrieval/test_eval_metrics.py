"""The metrics of ``eval_retrieval`` agree with their textbook definitions on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from assistant.management.commands.eval_retrieval import mrr_at, ndcg_at, recall_at, score_rankings


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
