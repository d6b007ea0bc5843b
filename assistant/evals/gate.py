"""The release gate: moving ``production`` to a prompt version whose last eval is worse than the current one's
by more than ``EVAL_GATE_MAX_DROP`` is refused unless forced."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from assistant.evals.selectors import latest_finished_run
from assistant.models import PromptVersion


class ReleaseRefused(ValueError):
    """The candidate's eval score is worse than production's beyond the threshold."""


@dataclass(frozen=True)
class GateVerdict:
    allowed: bool
    reason: str
    current_score: float | None = None
    candidate_score: float | None = None


def release_verdict(*, current: PromptVersion | None, candidate: PromptVersion) -> GateVerdict:
    """Compare the last finished eval run of each version (same suite when both have one).

    Allowed when there is nothing to compare (no current version, or either has no run: the move is logged
    as unevaluated), or when the candidate is not worse by more than the threshold."""
    if current is None or current.pk == candidate.pk:
        return GateVerdict(True, "nothing to compare")
    candidate_run = latest_finished_run(version=candidate)
    if candidate_run is None:
        return GateVerdict(True, f"{candidate} has no finished eval run")
    current_run = latest_finished_run(version=current, suite=candidate_run.suite)
    if current_run is None:
        return GateVerdict(True, f"{current} has no eval run on suite {candidate_run.suite}", None, candidate_run.score)
    assert current_run.score is not None and candidate_run.score is not None
    drop = current_run.score - candidate_run.score
    threshold = settings.EVAL_GATE_MAX_DROP
    if drop > threshold:
        return GateVerdict(
            False,
            f"eval score of {candidate} ({candidate_run.score:.3f}, run {candidate_run.pk}) is "
            f"{drop:.3f} below {current} ({current_run.score:.3f}, run {current_run.pk}); the limit is {threshold}",
            current_run.score,
            candidate_run.score,
        )
    return GateVerdict(
        True, f"eval score {candidate_run.score:.3f} vs {current_run.score:.3f}", current_run.score, candidate_run.score
    )
