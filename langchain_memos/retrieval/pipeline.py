"""The search pipeline's pure steps, between the facade and the ranking functions.

``MemOS.search`` runs :func:`plan_search` (validate), then gathers candidates
from the engines (I/O, in the facade), then :func:`rank_candidates`: build
:class:`~.fusion.Candidate` objects, :func:`~.fusion.rank` them, add recency,
then MMR, the relevance floor and the token budget. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from ..cube import CubeView, MemCube
from ..errors import InvalidInputError
from ..ingest import index_text_for
from ..render import count_tokens, render_memory
from ..storage.base import CubeQuery, ScoredId
from .budget import apply_floor, fit_token_budget
from .diversity import spread_threads
from .expansion import expansion_terms
from .fusion import Candidate, Hit, RetrievalConfig, rank
from .mmr import mmr
from .query import QueryAnalysis


@dataclass(frozen=True)
class SearchPlan:
    """A validated search request.

    Attributes:
        query: The query text.
        cube_query: Structural restrictions (namespace, tiers, filters, reader...).
        k: Hits wanted.
        config: Retrieval constants.
        min_score: Relevance floor for this request.
        max_tokens: Token budget of the rendered hits for this request.
        mmr: Whether MMR / near-duplicate removal runs.
    """

    query: str
    cube_query: CubeQuery
    k: int
    config: RetrievalConfig
    min_score: float
    max_tokens: int | None
    mmr: bool


def plan_search(query: str, cube_query: CubeQuery, k: int, config: RetrievalConfig, *,
                min_score: float | None = None, max_tokens: int | None = None,
                mmr: bool | None = None) -> SearchPlan:
    """Validate the request and fix its settings.

    Raises:
        InvalidInputError: ``query`` is not a string, or ``k``/``max_tokens`` are not positive integers.
    """
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidInputError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    return SearchPlan(
        query=query, cube_query=cube_query, k=k, config=config,
        min_score=config.min_score if min_score is None else float(min_score),
        max_tokens=config.max_tokens if max_tokens is None else max_tokens,
        mmr=True if mmr is None else bool(mmr),
    )


def exact_vector_search(query_vector: Sequence[float], stored: Mapping[str, Sequence[float]], k: int) -> list[ScoredId]:
    """Exact cosine search over stored embeddings (archive tier and small sets)."""
    if not stored:
        return []
    ids = list(stored)
    return exact_matrix_search(query_vector, ids, np.asarray([stored[i] for i in ids], dtype=np.float32), k)


def exact_matrix_search(query_vector: Sequence[float], ids: Sequence[str], matrix: Any, k: int) -> list[ScoredId]:
    """Exact cosine search over ``matrix`` (row ``i`` is the embedding of ``ids[i]``): the best ``k``, best first."""
    if not len(ids):
        return []
    matrix = np.asarray(matrix, dtype=np.float32)
    q = np.asarray(query_vector, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    scores = matrix @ q / np.where(norms == 0, 1.0, norms)
    order = np.argsort(-scores)[:k]
    return [ScoredId(ids[i], float(scores[i])) for i in order]


def _candidates(cubes: Sequence[CubeView | MemCube], vectors: Mapping[str, Sequence[float]],
                next_ids: Mapping[str, str], built: dict[str, Candidate] | None = None) -> list[Candidate]:
    """The fusion view of each cube; ``built`` (id -> candidate, kept by the caller between the rounds
    of one search) is reused and filled."""
    out = []
    for c in cubes:
        if built is not None and c.id in built:
            out.append(built[c.id])
            continue
        vec = vectors.get(c.id)
        nxt = vectors.get(next_ids.get(c.id, ""))
        speaker = c.metadata.get("speaker") if isinstance(c.metadata.get("speaker"), str) else None
        out.append(Candidate(
            id=c.id, text=index_text_for(c), speaker=speaker, created_at=c.created_at, thread=c.thread_id,
            position=c.position, embedding=np.asarray(vec) if vec is not None else None,
            next_embedding=np.asarray(nxt) if nxt is not None else None,
            derived=isinstance(c.metadata.get("derived"), str),
        ))
        if built is not None:
            built[c.id] = out[-1]
    return out


def _add_recency(hits: list[Hit], cubes: Mapping[str, CubeView | MemCube], config: RetrievalConfig, now: datetime) -> list[Hit]:
    """Blend in recency: ``score = (1 - w) * score + w * 0.5 ** (age / half_life)``."""
    w = config.recency_weight
    if w <= 0 or not hits:
        return hits
    out = []
    for h in hits:
        age_days = max((now - cubes[h.id].created_at).total_seconds() / 86400.0, 0.0)
        fresh = 0.5 ** (age_days / config.recency_half_life_days)
        reasons = {k: v * (1 - w) for k, v in h.reasons.items()}
        reasons["recency"] = w * fresh
        out.append(Hit(h.id, sum(reasons.values()), reasons))
    out.sort(key=lambda h: (-h.score, h.id))
    return out


def prefer_valid(hits: list[Hit], cubes: Mapping[str, CubeView | MemCube], now: datetime, penalty: float) -> list[Hit]:
    """Scale down hits whose fact stopped holding (``valid_to <= now``) by ``1 - penalty`` (reason ``"validity"``)."""
    if penalty <= 0 or not any(cubes[h.id].valid_to is not None for h in hits):
        return hits
    out = []
    for h in hits:
        until = cubes[h.id].valid_to
        if until is not None and until <= now:
            cut = -penalty * h.score
            h = Hit(h.id, h.score + cut, {**h.reasons, "validity": cut})
        out.append(h)
    out.sort(key=lambda h: (-h.score, h.id))
    return out


def rank_candidates(plan: SearchPlan, analysis: QueryAnalysis, cubes: Sequence[CubeView | MemCube], *,
                    keyword: Sequence[ScoredId], vector: Sequence[ScoredId],
                    vectors: Mapping[str, Sequence[float]], next_ids: Mapping[str, str],
                    query_vector: Sequence[float] | None, now: datetime,
                    graph: Mapping[str, float] | None = None, expansion: Sequence[ScoredId] = (),
                    built: dict[str, Candidate] | None = None) -> list[Hit]:
    """Fuse candidate lists into the final hits: rank, recency, validity, thread spread, MMR, floor, token budget.

    Args:
        plan: The request.
        analysis: :func:`~.query.analyze_query` of the query.
        cubes: The candidates that passed every filter.
        keyword / vector: The engines' lists (ids outside ``cubes`` are ignored).
        vectors: Stored embeddings of the candidates and of their next units.
        next_ids: Candidate id -> id of the next unit of its thread.
        query_vector: The query embedding (``None`` for keyword-only ranking).
        now: The current time (recency, and which facts have been superseded).
        graph: Graph scores (cube id -> [0, 1]); ids outside ``cubes`` are ignored.
        expansion: The second round's keyword list (:mod:`.expansion`); ids outside ``cubes`` are ignored.
        built: Candidates already built by an earlier round of the same search (id -> candidate);
            reused, and the new ones added.

    Returns:
        At most ``plan.k`` hits, best first, each with ``reasons`` summing to its score.
    """
    by_id = {c.id: c for c in cubes}
    config = plan.config
    candidates = _candidates(cubes, vectors, next_ids, built)
    hits = rank(
        candidates,
        vector=[(h.id, h.score) for h in vector if h.id in by_id],
        keyword=[(h.id, h.score) for h in keyword if h.id in by_id],
        query_embedding=np.asarray(query_vector) if query_vector is not None else None,
        analysis=analysis, config=config, graph={i: g for i, g in (graph or {}).items() if i in by_id},
        expansion=[(h.id, h.score) for h in expansion if h.id in by_id],
    )
    hits = _add_recency(hits, by_id, config, now)
    if plan.cube_query.valid_at is None:
        hits = prefer_valid(hits, by_id, now, config.expired_penalty)
    hits = spread_threads(hits, {c.id: c.thread for c in candidates}, decay=config.thread_decay)
    if plan.mmr:
        pool = hits[: 3 * plan.k]  # MMR reads the embeddings of these only
        hits = mmr(pool, {h.id: np.asarray(vectors[h.id]) for h in pool if h.id in vectors and h.id in by_id},
                   k=plan.k, lambda_=config.mmr_lambda, duplicate_threshold=config.duplicate_threshold)
    hits = apply_floor(hits[: max(plan.k, 1) * 3], min_score=plan.min_score,
                       min_relative_score=config.min_relative_score)[: plan.k]
    if plan.max_tokens is not None:
        hits = fit_token_budget(hits, {h.id: render_memory(by_id[h.id]) for h in hits}, plan.max_tokens,
                                count_tokens)
    return hits


def second_round_terms(hits: Sequence[Hit], cubes: Sequence[CubeView | MemCube], analysis: QueryAnalysis,
                       speakers: Sequence[str], config: RetrievalConfig) -> tuple[str, ...]:
    """The keywords of the second round: the query's plus :func:`~.expansion.expansion_terms` of the
    first round's ``config.expansion_hits`` best hits.

    Empty (no second round) when it is off, when the first round found nothing, or when the query
    has no keywords: the second round widens the query's keyword search, it does not replace it.
    """
    if config.expansion_weight <= 0 or not hits or not analysis.keywords:
        return ()
    by_id = {c.id: c for c in cubes}
    terms = expansion_terms([index_text_for(by_id[h.id]) for h in hits[:config.expansion_hits] if h.id in by_id],
                            query_keywords=analysis.keywords, names=speakers, limit=config.expansion_terms)
    return (*analysis.keywords, *terms) if terms else ()


def rank_recent(cubes: Sequence[MemCube], k: int) -> list[Hit]:
    """Hits for an empty query: the newest cubes, scored by recency rank."""
    ordered = sorted(cubes, key=lambda c: (c.created_at, c.id), reverse=True)[:k]
    n = len(ordered)
    return [Hit(c.id, 1.0 - i / max(n, 1), {"recency": 1.0 - i / max(n, 1)}) for i, c in enumerate(ordered)]


__all__ = ["RetrievalConfig", "SearchPlan", "exact_matrix_search", "exact_vector_search", "plan_search", "prefer_valid", "rank_candidates",
           "rank_recent", "second_round_terms"]
