"""I/O steps that find a query's nearest cubes within a scope: exact scans, the vector index, and the id check.

:class:`VectorSteps` is the part of :class:`~.core.MemoryEngine` that answers "the ``pool``
nearest cubes matching this :class:`~langchain_memos.storage.base.CubeQuery`". The vector
index holds ids and vectors only, so every scope, filter and tier is decided by the record
store: small scopes are scanned exactly, large ones ask the index and check its ids.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = memos.add("Alice prefers green tea", ("u",))
    ...     vector = memos.engine.embed_query("green tea")
    ...     [h.id for h in memos.engine.nearest(vector, 1, namespace=("u",))] == ids
    True
"""

from __future__ import annotations

from dataclasses import replace
from typing import AbstractSet, Any, Callable, Container, Iterable, Sequence

from ..cube import Tier
from ..retrieval.pipeline import exact_matrix_search
from ..storage.base import CubeQuery, RecordStore, RidSearch, ScoredId, VectorIndex
from .plans import merge_scored


def scan_limits(pool: int) -> tuple[int, int]:
    """``(exact_limit, max_fetch)`` of :meth:`VectorSteps.vector_candidates` for a pool: the matching
    cubes up to which it scores exactly (~10 ms of float32 reads from SQLite when nothing is kept), and
    the most ids it asks the vector index for (also the cap of its match bound)."""
    exact_limit = max(2000, 4 * pool)
    return exact_limit, 16 * exact_limit


class VectorSteps:
    """The vector candidates of a scope (mixed into ``MemoryEngine``)."""

    records: RecordStore
    vectors: VectorIndex

    def vector_candidates(self, cq: CubeQuery, query_vector: Sequence[float], pool: int,
                          read: dict[str, Any] | None = None, bound: tuple[int, int] | None = None,
                          sent: Callable[[], None] | None = None) -> list[ScoredId]:
        """The ``pool`` nearest cubes among those matching ``cq`` (every filter, scope and tier); ``read``,
        when given, gets the embeddings the exact path read (id -> float32 row); ``bound``, when given, is the
        record store's :meth:`~..storage.base.CubeRecords.match_bound` of ``cq`` (read by the caller already);
        ``sent``, when given, is called once the search is under way (in the index worker's queue, or here).

        * Few matches (at most ``exact_limit``): exact cosine over their stored float32
          embeddings. The record store's :meth:`~..storage.base.CubeRecords.match_bound`
          (capped index-range counts) settles most cases.
        * An index that can search among an allow-list (faiss) is asked next for the nearest among the kept
          matches themselves, or while they are not kept, among the cubes the filter's rids name
          (:meth:`_allowed_candidates`; a few thousand it scores exactly itself). Where that does not fill the
          pool and the bound allows a few times ``exact_limit``, an ids-only query with a limit decides whether
          few match (the exact path then answers).
        * Many matches: the vector index is asked without a ``where`` (a Chroma
          metadata filter costs tens of milliseconds per 100k vectors, an unfiltered
          ANN query a few), over-fetching by the matching share (the bound's share
          first, then the share that passed), and each round's ids are checked against
          ``cq`` in the record store (ids only; or against its
          :meth:`~..storage.base.CubeRecords.kept_matches` of ``cq`` where it keeps them),
          until ``pool`` pass or the index has nothing more; past ``max_fetch``, or once the share that passed says few
          match, the exact path answers. So restrictive filters never starve the pool,
          and archive, expired or unindexed cubes are handled exactly.

        Over a large scope, an index that offers ``vector_candidates(cq, query_vector, pool, bound)``
        (the index worker: this same step in its process, over its own SQLite connection, handed the bound
        read here so it does not read it again) answers instead, unless it returns ``None``; ``read`` then
        stays empty.
        """
        exact_limit, max_fetch = scan_limits(pool)
        at_most, total = bound if bound is not None else self.records.match_bound(cq, max_fetch)
        if at_most > exact_limit:  # the index's own process may run the rest (its worker)
            delegate = getattr(self.vectors, "vector_candidates", None)
            found = delegate(cq, query_vector, pool, (at_most, total), sent) if delegate is not None else None
            if found is not None:
                return found
        if sent is not None:  # it runs here
            sent()
        if at_most <= exact_limit:
            return self._exact_candidates(cq, query_vector, pool, read)
        # embeddings still waiting for the index (another writer is indexing them) are scored exactly
        pending = self.records.unindexed_ids(limit=max_fetch + 1)
        if len(pending) > max_fetch:
            return self._exact_candidates(cq, query_vector, pool, read)
        waiting_cq = replace(cq, ids=frozenset(pending) if cq.ids is None else frozenset(pending) & cq.ids)
        waiting = self._exact_candidates(waiting_cq, query_vector, pool, read) if pending else []
        # an index that searches among an allow-list answers before the probe below: among a few thousand
        # matches it scores them exactly itself, where the probe alone read up to exact_limit + 1 ids
        allowed = self._allowed_candidates(cq, query_vector, pool)
        if allowed is not None:
            return merge_scored(allowed, waiting, pool)
        probed = at_most <= 4 * exact_limit  # the probe then reads at most a few exact_limits of rows
        if probed and self._few_match(cq, exact_limit):
            return self._exact_candidates(cq, query_vector, pool, read)
        share = min(1.0, at_most / total) if total else 1.0  # at least the real share: the first round is no bigger
        fetch = min(max_fetch, max(2 * pool, int(1.5 * pool / share) + 1))
        verdicts: dict[str, bool] = {}  # id -> whether it matches cq, carried over from earlier rounds
        known = self.records.kept_matches(cq)
        while True:
            hits = self.vectors.search(query_vector, fetch)
            if not hits:
                break
            kept = self.matching_hits(cq, hits, pool, verdicts, share, known)
            if len(kept) >= pool or len(hits) < fetch:
                return merge_scored(kept, waiting, pool)
            share = len(kept) / len(hits)
            if fetch >= max_fetch:
                break
            if share * total <= exact_limit and not probed:  # few seem to match: ask the record store
                probed = True
                if self._few_match(cq, exact_limit):
                    return self._exact_candidates(cq, query_vector, pool, read)
            fetch = min(max_fetch, max(2 * fetch, int(1.5 * pool / share) + 1 if share else 16 * fetch))
        return self._exact_candidates(cq, query_vector, pool, read)

    def _allowed_candidates(self, cq: CubeQuery, query_vector: Sequence[float], pool: int) -> list[ScoredId] | None:
        """The ``pool`` nearest indexed cubes matching ``cq`` from a graph search restricted to an allow-list, or
        ``None`` where none applies or it cannot fill the pool (the caller's rounds then answer).

        * An index that knows each vector's rid (:class:`~..storage.base.RidSearch`) searches among the rids of
          ``cq``'s matches where the record store keeps them (``kept_match_rids``: no hit needs checking), and
          else among the cubes the filter's rids name (:meth:`_rid_candidates`).
        * An index that searches among ids (``search_allowed``) does so among the record store's
          ``kept_matches`` where it keeps them.
        """
        vectors = self.vectors
        if isinstance(vectors, RidSearch) and vectors.knows_rids():
            kept_rids = getattr(self.records, "kept_match_rids", None)
            rids = kept_rids(cq) if kept_rids is not None else None
            if rids is None:
                return self._rid_candidates(cq, query_vector, pool)
            found = vectors.search_rids(query_vector, pool, rids)
        else:
            search_allowed = getattr(vectors, "search_allowed", None)
            known = self.records.kept_matches(cq) if search_allowed is not None else None
            found = search_allowed(query_vector, pool, known) if isinstance(known, AbstractSet) else None
        return found if found is not None and len(found) >= pool else None

    def _rid_candidates(self, cq: CubeQuery, query_vector: Sequence[float], pool: int) -> list[ScoredId] | None:
        """The ``pool`` nearest indexed cubes matching ``cq`` through an allow-list built from rids, or ``None``
        where that path does not apply or cannot fill the pool.

        The record store gives the rids whose metadata passes ``cq``'s conditions
        (``condition_rids``, read from its metadata index, kept while the database is unchanged); the index
        searches among those cubes (``search_rids``: it keeps each vector's rid). Scope, tiers, status and
        expiry are then checked on its hits alone (one ids query); when fewer than ``pool`` pass, the
        caller's rounds answer.
        """
        condition_rids = getattr(self.records, "condition_rids", None)
        if not cq.conditions or condition_rids is None or not isinstance(self.vectors, RidSearch):
            return None
        rids = condition_rids(cq)
        if rids is None:
            return None
        fetch = pool + max(8, pool // 8)  # room for a few hits outside the scope
        found = self.vectors.search_rids(query_vector, fetch, rids)
        if found is None:  # the index does not know every vector's rid
            return None
        passed = self.matching_ids(cq, frozenset(h.id for h in found)) if found else set()
        kept = [h for h in found if h.id in passed]
        return kept if len(kept) >= pool else None

    def small_scope(self, cq: CubeQuery, pool: int) -> bool:
        """Whether the record store's cheap bound alone puts ``cq`` on the exact path of
        :meth:`vector_candidates` for ``pool`` (few enough matching cubes to score them all)."""
        exact_limit, max_fetch = scan_limits(pool)
        return self.records.match_bound(cq, max_fetch)[0] <= exact_limit

    def nearest(self, vector: Sequence[float], k: int, *, namespace: Sequence[str],
                tiers: Iterable[Tier] | None = None) -> list[ScoredId]:
        """The ``k`` cubes of exactly ``namespace`` (live, in ``tiers``; ``None`` = all) nearest to ``vector``
        by cosine, best first: :meth:`vector_candidates` for that scope, so cubes still waiting for the
        vector index are found too."""
        cq = CubeQuery(namespace_prefix=tuple(namespace), exact_namespace=True,
                       tiers=frozenset(tiers) if tiers is not None else None)
        return self.vector_candidates(cq, vector, k)

    def _few_match(self, cq: CubeQuery, exact_limit: int) -> bool:
        """Whether at most ``exact_limit`` cubes match ``cq`` (an ids-only query with a limit)."""
        return len(self.records.query_ids(cq, limit=exact_limit + 1, order_by=None)) <= exact_limit

    def _exact_candidates(self, cq: CubeQuery, query_vector: Sequence[float], pool: int,
                          read: dict[str, Any] | None = None) -> list[ScoredId]:
        """The ``pool`` best of every cube matching ``cq`` by exact cosine (its stored embeddings, one read,
        added to ``read`` when given)."""
        ids, matrix = self.records.embedding_matrix(cq)
        if read is not None:
            read.update(zip(ids, matrix))
        return exact_matrix_search(query_vector, ids, matrix, pool)

    def matching_ids(self, cq: CubeQuery, ids: frozenset[str]) -> set[str]:
        """The ``ids`` (an index's hits) of cubes that match ``cq``: the whole query on those cubes only, one
        ids query in the record store."""
        return set(self.records.query_ids(replace(cq, ids=ids if cq.ids is None else ids & cq.ids), order_by=None))

    def matching_hits(self, cq: CubeQuery, hits: Sequence[ScoredId], pool: int, verdicts: dict[str, bool],
                      share: float | None, known: Container[str] | None = None) -> list[ScoredId]:
        """The ``hits`` (best first) that match ``cq``, in order: all of them, or once ``pool`` match, those
        down to the score of the ``pool``-th (ties kept), which is all :func:`merge_scored` can use.

        Ids are checked in the record store in chunks, in order, sized by ``share`` (the matching
        share seen so far; ``None``: one chunk), or against ``known`` (the record store's
        :meth:`~..storage.base.CubeRecords.kept_matches` of ``cq``) when given; ids in ``verdicts``
        (earlier rounds) are not checked again, and the new verdicts are added to it.
        """
        kept: list[ScoredId] = []
        start = 0
        while start < len(hits):
            if len(kept) >= pool and hits[start].score < kept[-1].score:
                return kept
            if share is None:
                end = len(hits)
            else:  # past the pool (ties with the pool-th) the chunks stay 16 long: the loop always moves on
                end = start + int(1.25 * max(pool - len(kept), 0) / max(share, 1e-3)) + 16
            chunk = hits[start:end]
            unseen = frozenset(h.id for h in chunk if h.id not in verdicts)
            if unseen and known is not None:
                verdicts.update((i, i in known) for i in unseen)
            elif unseen:
                allowed = self.matching_ids(cq, unseen)
                verdicts.update((i, i in allowed) for i in unseen)
            for h in chunk:
                if len(kept) >= pool and h.score < kept[-1].score:
                    return kept
                if verdicts[h.id]:
                    kept.append(h)
            start = end
        return kept


__all__ = ["VectorSteps", "scan_limits"]
