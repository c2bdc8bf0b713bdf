"""The read steps of :class:`~langchain_memos.lifecycle.MemLifecycle`: search with summary expansion, preload.

:class:`RecallSteps` is mixed into ``MemLifecycle``: search ranks the hot tiers and opens
summaries into their archived sources; predict/preload choose what the next step needs
and pull it into a thread's working set.

Example:
    >>> from langchain_memos.lifecycle import MemLifecycle
    >>> issubclass(MemLifecycle, RecallSteps)
    True
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..cube import HOT_TIERS, MemoryType, Tier
from ..engine import SearchHit
from ..render import count_tokens, render_memory
from ..retrieval.query import analyze_query
from ..storage.base import CubeQuery
from .config import LifecycleConfig
from .reports import LifecycleStats, PreloadResult

if TYPE_CHECKING:  # pragma: no cover
    from ..memos import MemOS


class RecallSteps:
    """Search with summary expansion, predict and preload (mixed into :class:`~.manager.MemLifecycle`).

    Uses the lifecycle's state (``memos``, ``config``, ``stats``, ``track_access``) and steps
    (``now``, ``admit``, ``working_set``, ``_query_vector``).
    """

    memos: MemOS
    config: LifecycleConfig
    stats: LifecycleStats
    track_access: bool

    def search(self, query: str, namespace: Sequence[str] = (), k: int = 10, *, thread: str | None = None,
               expand: bool = True, record: bool = True, touch: bool = True, **options: Any) -> list[Any]:
        """Hybrid search over the hot tiers where summary hits open up into their archived sources.

        1. The hot tiers are ranked as ``MemOS.search`` ranks them, to depth
           ``k * PreloadConfig.expand_pool`` (the pool).
        2. The summaries in the pool open up: their sources (archived cubes, reached through
           the summary's provenance) join the candidates; a summary whose sources are all
           gone stays a candidate itself.
        3. The hot tiers' other (non-summary) cubes and those sources are ranked together by
           the same hybrid ranking (``MemOS.search_within``: BM25 with thread context,
           vectors, MMR, floor).
        4. Each candidate's final score blends that second-stage score with its first-stage
           score (``PreloadConfig.pool_weight``; an opened source inherits its summary's, so
           a well-matching cluster lifts its turns), and the top ``k`` that fit the token
           budget are returned.

        So an archived cube is found exactly when a summary covering it is in the pool and it
        ranks among the best of the hot cubes and the opened sources; the hits are the cubes
        themselves, never a stand-in. The top hits are recorded as co-accessed (for preload)
        and counted as accesses.

        Args:
            query: Free text.
            namespace: Namespace prefix.
            k: Hits wanted.
            thread: The caller's thread: hits already in its working set count as cache hits in :attr:`stats`.
            expand: Open summaries (``False``, or an explicit ``tiers`` option: plain ``MemOS.search``).
            record: Record co-access.
            touch: Count accesses (``False`` for predictions).
            **options: As ``MemOS.search`` (``filters``, ``types``, ``max_tokens``...).
        """
        vector = self._query_vector(query)
        if not expand or "tiers" in options:
            hits = self.memos.search_by_vector(query, vector, namespace, k=k, touch=False, **options)
        else:
            hits = self._expanded(query, vector, namespace, k, options)
        ids = [h.cube.id for h in hits]
        if ids and touch and (self.track_access or self.memos.config.track_access):
            self.memos.engine.touch(ids, self.now())
        if ids and record:
            self.memos.engine.record_coaccess([ids[: self.config.preload.coaccess_group]], self.now())
        if touch:
            self.stats.searches += 1
            self.stats.hits += len(ids)
            if thread is not None and ids:
                working = set(self.working_set(thread, namespace))
                self.stats.working_hits += sum(1 for i in ids if i in working)
        return hits

    async def asearch(self, query: str, namespace: Sequence[str] = (), k: int = 10, **options: Any) -> list[Any]:
        """Async twin of :meth:`search`."""
        return await asyncio.to_thread(self.search, query, namespace, k, **options)

    def _expanded(self, query: str, vector: Sequence[float] | None, namespace: Sequence[str], k: int,
                  options: Mapping[str, Any]) -> list[Any]:
        pool_options = {key: value for key, value in options.items() if key != "max_tokens"}
        pool = self.memos.search_by_vector(query, vector, namespace, k=k * self.config.preload.expand_pool,
                                           touch=False, max_tokens=10**9, **pool_options)
        summaries = {h.cube.id: [p.ref for p in h.cube.provenance if p.kind == "cube" and p.ref]
                     for h in pool if h.cube.memory_type is MemoryType.SUMMARY}
        summaries = {sid: refs for sid, refs in summaries.items() if refs}
        if not summaries:
            return self.memos.search_by_vector(query, vector, namespace, k=k, touch=False, **options)
        wanted = {ref for refs in summaries.values() for ref in refs}
        present = set(self.memos.engine.cube_ids(CubeQuery(ids=frozenset(wanted), now=self.now()), order_by=None))
        units = frozenset(t for t in MemoryType if t is not MemoryType.SUMMARY)
        candidates = set(self.memos.engine.cube_ids(
            CubeQuery(namespace_prefix=tuple(namespace), tiers=frozenset(HOT_TIERS), types=units, now=self.now()),
            order_by=None))
        candidates |= present
        candidates |= {sid for sid, refs in summaries.items() if not present.intersection(refs)}
        w = self.config.preload.pool_weight
        if w <= 0:
            return self.memos.search_within(query, vector, candidates, namespace, k=k, touch=False, **options)
        inner = {key: value for key, value in options.items() if key != "max_tokens"}
        ranked = self.memos.search_within(query, vector, candidates, namespace, k=3 * k, touch=False,
                                          max_tokens=10**9, **inner)
        first = {h.cube.id: h.score for h in pool}
        blended = []
        for h in ranked:
            prior = first.get(h.cube.id, first.get(h.cube.metadata.get("fused_into"), 0.0))
            blended.append(((1 - w) * h.score + w * prior, h))
        blended.sort(key=lambda t: -t[0])
        out = [SearchHit(cube=h.cube, score=sc, reasons={**h.reasons}, rank=i + 1)
               for i, (sc, h) in enumerate(blended[:k])]
        return _fit_budget(out, options.get("max_tokens") or self.memos.retrieval.max_tokens)

    def search_archive(self, query: str, namespace: Sequence[str] = (), k: int = 10, **options: Any) -> list[Any]:
        """Explicit archive search: hybrid search over archived cubes only (exact vectors, BM25)."""
        return self.memos.search(query, namespace, k=k, tiers=[Tier.ARCHIVE], **options)

    # ---------------------------------------------------------------- preload
    def predict(self, namespace: Sequence[str] = (), *, query: str | None = None,
                recent: Sequence[str] = ()) -> PreloadResult:
        """Predict the cubes the next step needs, without moving anything or counting an access.

        Three signals, in priority order: the **intent** of ``query`` (the search the next
        step would run, summaries expanded into their archived sources), the **entities**
        named in the query and the last ``recent_turns`` turns (keyword search over every
        tier, the archive included), and **co-access** history (cubes often retrieved
        together with the intent's top hits).
        """
        cfg = self.config.preload
        started = time.perf_counter()
        picks: dict[str, str] = {}
        intent: list[str] = []
        if query and query.strip():
            hits = self.search(query, namespace, k=cfg.intent_k, record=False, touch=False)
            intent = [h.cube.id for h in hits]
            for cube_id in intent:
                picks.setdefault(cube_id, "intent")
        texts = [t for t in [query or "", *list(recent)[-cfg.recent_turns:]] if t and t.strip()]
        if texts and cfg.entity_k:
            engine = self.memos.engine
            scope = CubeQuery(namespace_prefix=tuple(namespace), now=self.now())
            speakers = {str(s).lower() for s in engine.distinct_metadata(scope, "speaker", limit=100)}
            terms: list[str] = []
            for t in texts:
                for entity in analyze_query(t).entities:
                    for word in entity.split():
                        if word.lower() not in speakers and word.lower() not in terms:
                            terms.append(word.lower())
            if terms:
                for h in engine.keyword_search(terms, scope, cfg.entity_k):
                    picks.setdefault(h.id, "entity")
        if intent and cfg.coaccess_k:
            added = 0
            for h in self.memos.engine.coaccessed(intent[:5], limit=cfg.coaccess_k * 3):
                if h.score >= cfg.coaccess_min and h.id not in picks:
                    picks[h.id] = "co-access"
                    added += 1
                    if added >= cfg.coaccess_k:
                        break
        ids = list(picks)[: cfg.max_preload]
        return PreloadResult(ids=ids, reasons={i: picks[i] for i in ids},
                             elapsed_ms=(time.perf_counter() - started) * 1000.0)

    def preload(self, namespace: Sequence[str] = (), thread: str = "default", *, query: str | None = None,
                recent: Sequence[str] = ()) -> PreloadResult:
        """:meth:`predict`, then pull the predicted cubes into ``thread``'s working set (archived ones
        are swapped back into the hot indexes), so the next retrieval finds them hot."""
        started = time.perf_counter()
        result = self.predict(namespace, query=query, recent=recent)
        result.admitted = self.admit(result.ids, thread, namespace=namespace, reason="preload")
        self.stats.preloads += 1
        self.stats.preloaded += len(result.ids)
        result.elapsed_ms = (time.perf_counter() - started) * 1000.0
        return result

    async def apreload(self, namespace: Sequence[str] = (), thread: str = "default", *, query: str | None = None,
                       recent: Sequence[str] = ()) -> PreloadResult:
        """Async twin of :meth:`preload`."""
        return await asyncio.to_thread(self.preload, namespace, thread, query=query, recent=recent)


def _fit_budget(hits: list[Any], max_tokens: int) -> list[Any]:
    """Keep hits in order while their rendered texts fit ``max_tokens`` (as ``MemOS.search`` does)."""
    out, used = [], 0
    for h in hits:
        n = count_tokens(render_memory(h.cube))
        if used + n <= max_tokens:
            out.append(SearchHit(cube=h.cube, score=h.score, reasons=h.reasons, rank=len(out) + 1))
            used += n
    return out


__all__ = ["RecallSteps"]
