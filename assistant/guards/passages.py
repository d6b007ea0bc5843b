"""The injection screen applied to one search's hits before they become passages (``answer_question``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from assistant.guards.injection import DOWN_WEIGHT, neutralize, screen_title
from retrieval.search import ChunkHit

logger = logging.getLogger("docent.guards")
_SNIPPET_WORDS = 40


@dataclass(frozen=True)
class ScreenedHit:
    hit: ChunkHit
    score: float
    flags: list[str]


def screen_hits(
    hits: Sequence[tuple[ChunkHit, float]], *, keep: Callable[[ChunkHit, float], bool]
) -> list[ScreenedHit]:
    """Each hit cleaned (invisible characters, markup) with instruction-like sentences replaced by a marker,
    in its title and snippet too; a flagged hit's relevance is multiplied by ``DOWN_WEIGHT`` and it is dropped
    when the relevance gate ``keep`` no longer admits it. Best first."""
    screened: list[ScreenedHit] = []
    for hit, score in hits:
        body = neutralize(hit.text)
        title = screen_title(hit.title)
        flags = list(body.flags) + (["title"] if title != hit.title and title.startswith("Untitled") else [])
        snippet = neutralize(hit.snippet).text
        if body.flagged or " ".join(body.text.split()) != " ".join(hit.text.split()):
            # The search snippet was cut from the raw text (it may hold half a comment or a planted sentence);
            # rebuild it from the screened text.
            snippet = " ".join(body.text.split()[:_SNIPPET_WORDS])
        weighted = score * DOWN_WEIGHT if flags else score
        if flags:
            logger.warning("injection.flagged_at_query chunk=%s flags=%s", hit.chunk_id, flags)
        if not keep(hit, weighted):
            continue
        screened.append(ScreenedHit(replace(hit, text=body.text, title=title, snippet=snippet), weighted, flags))
    screened.sort(key=lambda s: -s.score)
    return screened
