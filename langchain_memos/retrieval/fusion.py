"""Hybrid ranking: weighted fusion of normalised BM25 and dense scores, neighbour and speaker signals.

Pure functions (numpy only; no I/O). The method, measured on LoCoMo turns
(evidence recall@10 0.80 in-sample, 0.79 leave-one-conversation-out):

1. ``keyword``: BM25 over the 4-column keyword document of
   :mod:`langchain_memos.retrieval.indexing` (own text, previous turns at 0.5,
   next turn at 0.2, date), divided by the best BM25 score of the candidates.
2. ``vector``: cosine of the query with the unit's own embedding, plus
   ``next_neighbour_weight`` x the cosine with the *next* unit of the same
   thread (``neighbour``: an answer often follows the turn that matches) and
   ``previous_neighbour_weight`` x the cosine with the previous unit when it is a
   candidate too (the question a turn answers);
   min-max normalised over the vector candidates, clipped to [0, 1].
3. ``base = keyword_weight * keyword + vector_weight * vector`` (weights sum to 1, so ``base`` is in [0, 1]).
4. ``speaker``: when the query names exactly one known speaker, units by
   another speaker are multiplied by ``1 - speaker_penalty`` (soft: they can still win).
5. ``time``: multiplicative boost by the event-time signal of :mod:`.temporal`: when the query
   names an interval, units whose event times (dates their text states, resolved against when
   they were said, and the day they were said) fall in it gain up to ``time_boost``; when it
   asks "when" without one, units that state an event time gain ``when_boost``.

Each :class:`Hit` carries ``reasons``: signal -> additive contribution; the
contributions sum to ``Hit.score``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .query import QueryAnalysis
from .temporal import time_signal


@dataclass(frozen=True)
class RetrievalConfig:
    """Tunable constants of hybrid retrieval (defaults chosen by leave-one-conversation-out on LoCoMo).

    Attributes:
        vector_pool: Most candidates asked from the vector index.
        keyword_pool: Most candidates asked from the keyword (FTS5) index.
        pool_per_result: A top-``k`` search asks each engine for ``pool_per_result * k`` candidates,
            at least ``min_pool`` and at most its pool above (:meth:`engine_pool`): a page of 10
            ranks 50 candidates, a top 20 ranks 100, so a store search of 10 items on 100k costs
            about a third less. On LoCoMo dev, top-10 searches with pools of 50 against pools of 100:
            recall@10 0.791 both; multi-hop -0.004, temporal +0.005, single-hop +0.002, open-domain
            -0.023 (2 of its questions' evidence; pools of 30 to 60 at top 20 move it from -0.019 to
            +0.011, so it is noise). ``min_pool=100`` restores pools of 100 for every search.
        min_pool: The fewest candidates asked from an engine.
        keyword_weight: Weight of the max-normalised BM25 score.
        vector_weight: Weight of the min-max-normalised dense score.
        next_neighbour_weight: Share of the next unit's cosine added to a unit's cosine.
        previous_neighbour_weight: Share of the previous unit's cosine added to a unit's cosine, when
            that unit is a candidate too (an answer follows the question it answers).
        derived_weight: Multiplier of the score of derived memories (summaries, profiles; see
            :mod:`.derived`); 1.0 ranks them like any memory, 0 drops them (below any floor). At 0.5
            they surface only when they match clearly better than the messages they come from.
        speaker_penalty: Multiplicative penalty for units by another speaker than the one the query names.
        time_boost: Multiplicative boost (``1 + time_boost * share``, capped at score 1) for units
            whose event times lie in the query's time range (``share``: :func:`~.temporal.time_signal`).
            0 disables it.
        when_boost: Multiplicative boost (``1 + when_boost``, capped at score 1) for units that state
            an event time, when the query asks about time without naming an interval. 0 disables it.
        thread_decay: Each hit is scaled by ``thread_decay ** n``, ``n`` the better hits of its
            thread (session), so the top k spans threads (:mod:`.diversity`); 1.0 disables it.
        expansion_weight: Share of the score given to the second round's keyword search
            (:mod:`.expansion`: the query's keywords plus terms of the first round's best hits);
            0 disables the second round.
        expansion_hits: How many first-round hits the second round's terms come from.
        expansion_terms: How many terms the second round adds to the query's keywords.
        rewrite_query: Embed a question about one known speaker as that speaker would say the
            answer (:func:`~langchain_memos.retrieval.query.embedding_text`; costs one read of the
            scope's speakers per search).

    The second round (``expansion_weight``) and ``rewrite_query`` are off by default: on LoCoMo
    dev each raises overall recall@10 (+0.015 and +0.004) but lowers open-domain (-0.002 and
    -0.011), and a default may not trade one category for another. ``time_boost`` and
    ``when_boost`` raise temporal and single-hop and change no other category.
        keyword_column_weights: FTS5 ``bm25()`` weights for (body, context, next, date).
        context_turns: Previous units of the thread indexed in the ``context`` column.
        mmr_lambda: Relevance/diversity trade-off of :func:`~.mmr.mmr` (1.0 = pure relevance).
        duplicate_threshold: Cosine above which a lower-ranked hit counts as a near-duplicate and is dropped.
        min_score: Absolute relevance floor on ``Hit.score``.
        min_relative_score: Relative floor: hits below ``min_relative_score * best score`` are dropped.
        top_k: Hits returned when the caller names no ``k``.
        max_tokens: Token budget of the rendered hits.
        recency_weight: Share of the final score given to recency (``0.5 ** (age / half-life)``);
            0 by default: on LoCoMo recency does not predict evidence. Assistants that
            favour fresh memories can raise it.
        recency_half_life_days: Age at which the recency signal halves.
        graph_weight: Share of the score given to the graph signal (cubes that are sources of
            relations linked to the query's entities, see :mod:`langchain_memos.graph.signal`);
            applies only when the query links to the graph. 0 disables it.
        graph_pool: Most graph-only candidates (found through the graph, not by the engines) added.
        graph_hops: How far the graph walk goes from the query's entities (1 or 2).
        expired_penalty: Multiplicative penalty for cubes whose ``valid_to`` has passed (superseded
            facts), unless the search asks ``as_of``; current facts are preferred.
    """

    vector_pool: int = 100
    keyword_pool: int = 100
    pool_per_result: int = 5
    min_pool: int = 50
    keyword_weight: float = 0.7
    vector_weight: float = 0.3
    next_neighbour_weight: float = 0.3
    previous_neighbour_weight: float = 0.0
    derived_weight: float = 0.5
    speaker_penalty: float = 0.3
    time_boost: float = 0.3
    when_boost: float = 0.3
    thread_decay: float = 1.0
    expansion_weight: float = 0.0
    expansion_hits: int = 3
    expansion_terms: int = 8
    rewrite_query: bool = False
    keyword_column_weights: tuple[float, float, float, float] = (1.0, 0.5, 0.2, 1.0)
    context_turns: int = 2
    mmr_lambda: float = 1.0
    duplicate_threshold: float = 0.97
    min_score: float = 0.05
    min_relative_score: float = 0.0
    top_k: int = 10
    max_tokens: int = 1500
    recency_weight: float = 0.0
    recency_half_life_days: float = 30.0
    graph_weight: float = 0.1
    graph_pool: int = 20
    graph_hops: int = 2
    expired_penalty: float = 0.5

    def engine_pool(self, k: int, pool: int) -> int:
        """How many candidates a top-``k`` search asks one engine for (``pool``: its ``vector_pool`` or
        ``keyword_pool``): ``pool_per_result * k``, at least ``min_pool``, at most ``pool``, never fewer than ``k``.

        Example:
            >>> config = RetrievalConfig()
            >>> config.engine_pool(10, config.vector_pool), config.engine_pool(20, 100), config.engine_pool(500, 100)
            (50, 100, 500)
        """
        return max(k, min(pool, max(self.min_pool, self.pool_per_result * k)))


@dataclass
class Candidate:
    """A candidate unit as the facade loads it.

    Attributes:
        id: Unit id.
        text: Rendered unit text (``indexing.unit_text``).
        speaker: Who said/wrote it (metadata), or ``None``.
        created_at: When (session date for conversation turns), or ``None``.
        thread: Thread/session id, or ``None``.
        position: Index within the thread, or ``None``.
        embedding: The unit's embedding (any norm), or ``None`` (then the vector-list score is used).
        next_embedding: Embedding of the next unit of the same thread, or ``None`` (last unit / unknown).
        derived: Whether it is a derived memory (:mod:`.derived`: a summary or profile of other units).
    """

    id: str
    text: str = ""
    speaker: str | None = None
    created_at: datetime | None = None
    thread: str | None = None
    position: int | None = None
    embedding: np.ndarray | None = None
    next_embedding: np.ndarray | None = None
    derived: bool = False


@dataclass
class Hit:
    """A ranked unit: ``score`` in [0, 1] and ``reasons`` (signal -> contribution, summing to ``score``)."""

    id: str
    score: float
    reasons: dict[str, float] = field(default_factory=dict)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _cosines(embeddings: Sequence[Any], unit_query: np.ndarray) -> list[float]:
    """The cosine of each embedding with ``unit_query`` (a zero embedding gives 0)."""
    matrix = np.asarray(embeddings, dtype=np.float64).reshape(len(embeddings), -1)
    norms = np.linalg.norm(matrix, axis=1)
    return ((matrix @ unit_query) / np.where(norms > 0, norms, 1.0)).tolist()


def rank(
    candidates: Iterable[Candidate],
    *,
    vector: Sequence[tuple[str, float]] = (),
    keyword: Sequence[tuple[str, float]] = (),
    query_embedding: np.ndarray | None = None,
    analysis: QueryAnalysis | None = None,
    config: RetrievalConfig = RetrievalConfig(),
    graph: Mapping[str, float] | None = None,
    expansion: Sequence[tuple[str, float]] = (),
) -> list[Hit]:
    """Fuse the engines' candidate lists into one ranked list of :class:`Hit`.

    Args:
        candidates: The loaded units of ``vector`` and ``keyword`` (ids absent from both are ignored;
            ids of the lists without a candidate are ranked on their list scores alone).
        vector: ``(id, cosine)`` from the vector index, best first.
        keyword: ``(id, bm25)`` from the keyword index, larger is better (FTS5: ``-bm25(...)``).
        query_embedding: The query embedding; with unit embeddings it gives exact cosines (and the
            neighbour signal), otherwise the ``vector`` scores are used.
        analysis: :func:`~.query.analyze_query` of the query (speakers, time range); optional.
        config: Constants.
        graph: Graph scores in [0, 1] (id -> score) from :func:`langchain_memos.graph.signal.cube_scores`;
            ids only the graph found are ranked too. When given, the other signals share
            ``1 - config.graph_weight`` of the score and the graph ``config.graph_weight``.
        expansion: ``(id, bm25)`` of the second round's keyword search (:mod:`.expansion`), larger is
            better; when given, the other signals share ``1 - config.expansion_weight`` of the score.

    Returns:
        Hits sorted by descending score (ties by id), every candidate once.
    """
    cands = {c.id: c for c in candidates}
    vec = {i: float(s) for i, s in vector}
    kw = {i: max(0.0, float(s)) for i, s in keyword}
    graph = {i: min(1.0, max(0.0, float(g))) for i, g in (graph or {}).items() if g > 0}
    ex = {i: max(0.0, float(s)) for i, s in expansion}
    ex_max = max(ex.values(), default=0.0)
    ids = list(dict.fromkeys([i for i, _ in vector] + [i for i, _ in keyword] + sorted(graph)
                             + [i for i, _ in expansion]))
    if not ids:
        return []
    q = _unit(query_embedding) if query_embedding is not None else None

    own = np.full(len(ids), np.nan)
    nxt = np.zeros(len(ids))
    prv = np.zeros(len(ids))
    at = {(c.thread, c.position): c for c in cands.values() if c.thread is not None and c.position is not None}
    # (target array, row, embedding) of every cosine to compute; one matrix product computes them all
    wanted: list[tuple[np.ndarray, int, Any]] = []
    for j, i in enumerate(ids):
        c = cands.get(i)
        if q is not None and c is not None and c.embedding is not None:
            wanted.append((own, j, c.embedding))
            if c.next_embedding is not None:
                wanted.append((nxt, j, c.next_embedding))
            before = at.get((c.thread, c.position - 1)) if c.position is not None else None
            if before is not None and before.embedding is not None:
                wanted.append((prv, j, before.embedding))
        elif i in vec:
            own[j] = vec[i]
    if wanted and q is not None:
        for (target, j, _), cosine in zip(wanted, _cosines([e for _, _, e in wanted], q)):
            target[j] = cosine
    known = ~np.isnan(own)
    combined = np.where(known, np.nan_to_num(own) + config.next_neighbour_weight * nxt
                        + config.previous_neighbour_weight * prv, np.nan)
    # Min-max over the vector candidates (those the vector index returned), else over all known.
    in_vec = np.array([i in vec for i in ids]) & known
    ref = combined[in_vec] if in_vec.any() else combined[known]
    if ref.size:
        lo, hi = float(ref.min()), float(ref.max())
        if ref.size == 1:  # a lone vector candidate: min-max is undefined, keep its raw cosine
            lo = min(lo, 0.0)
        span = hi - lo if hi > lo else 1.0
        v_all = np.clip((np.nan_to_num(combined, nan=lo) - lo) / span, 0.0, 1.0)
        v_own = np.clip((np.nan_to_num(own, nan=lo) - lo) / span, 0.0, 1.0)
        v_own = np.minimum(v_own, v_all)
    else:
        v_all = v_own = np.zeros(len(ids))
    kmax = max(kw.values(), default=0.0)
    k_norm = np.array([kw.get(i, 0.0) / kmax if kmax > 0 else 0.0 for i in ids])

    named = tuple(analysis.speakers) if analysis is not None else ()
    rng = analysis.time_range if analysis is not None else None
    asked = (rng[0].date(), rng[1].date()) if rng is not None else None
    asks_when = analysis is not None and analysis.temporal
    boost = config.time_boost if asked is not None else (config.when_boost if asks_when else 0.0)
    # each signal's contribution as one column over ``ids`` (the same float operations, in the same order,
    # as one hit at a time); the rare per-hit adjustments follow in the loop
    parts = {"keyword": config.keyword_weight * k_norm, "vector": config.vector_weight * v_own,
             "neighbour": config.vector_weight * (v_all - v_own)}
    if graph and config.graph_weight:
        parts = {k: v * (1.0 - config.graph_weight) for k, v in parts.items()}
        parts["graph"] = config.graph_weight * np.array([graph.get(i, 0.0) for i in ids])
    if ex_max > 0 and config.expansion_weight:
        parts = {k: v * (1.0 - config.expansion_weight) for k, v in parts.items()}
        parts["expansion"] = config.expansion_weight * np.array([ex.get(i, 0.0) for i in ids]) / ex_max
    columns = list(parts.values())
    total = columns[0]
    for column in columns[1:]:
        total = total + column
    names, rows, bases = list(parts), zip(*(c.tolist() for c in columns)), total.tolist()
    hits: list[Hit] = []
    for i, row, score in zip(ids, rows, bases):
        reasons = dict(zip(names, row))
        c = cands.get(i)
        if c is not None and c.derived and config.derived_weight != 1.0:
            cut = (config.derived_weight - 1.0) * score
            reasons["derived"] = cut
            score += cut
        if len(named) == 1 and c is not None and c.speaker and config.speaker_penalty:
            if c.speaker.strip().lower() != named[0].strip().lower():
                cut = -config.speaker_penalty * score
                reasons["speaker"] = cut
                score += cut
        signal = time_signal(asked, asks_when, c.text, c.created_at) if boost and c is not None else 0.0
        if signal > 0:
            boosted = min(1.0, score * (1.0 + boost * signal))
            reasons["time"] = boosted - score
            score = boosted
        hits.append(Hit(id=i, score=float(score), reasons={k: v for k, v in reasons.items() if v != 0.0}))
    hits.sort(key=lambda h: (-h.score, h.id))
    return hits


def reciprocal_rank_fusion(lists: Sequence[Sequence[tuple[str, float]]], k: float = 60.0) -> list[tuple[str, float]]:
    """Plain RRF (``sum 1/(k + rank)``), kept as a baseline: best first."""
    acc: dict[str, float] = {}
    for lst in lists:
        for r, (i, _) in enumerate(lst):
            acc[i] = acc.get(i, 0.0) + 1.0 / (k + r + 1)
    return sorted(acc.items(), key=lambda t: (-t[1], t[0]))


def neighbour_ids(thread_positions: Mapping[str, tuple[str | None, int | None]]) -> dict[str, str]:
    """Helper: map each unit id to the id of the next unit of its thread, from ``id -> (thread, position)``."""
    by_pos = {(t, p): i for i, (t, p) in thread_positions.items() if t is not None and p is not None}
    return {i: by_pos[(t, p + 1)] for i, (t, p) in thread_positions.items()
            if t is not None and p is not None and (t, p + 1) in by_pos}
