"""Searches of the faiss graph restricted to an allow-list of labels (mixed into ``FaissVectorIndex``).

A filter's matching cubes, given as ids (:meth:`AllowLists.search_allowed`: a record store's kept
matches) or as rids (:meth:`AllowLists.search_rids`: the record-store row ids of a filter's cubes, read
from its metadata index), become an ``IDSelectorBitmap``: the HNSW search then only
returns those, so no hit needs checking against the filter afterwards. What is derived from a key (its
labels, its bitmap) is kept with the key object, for the last :data:`ALLOWED_KEPT` keys, until the index
changes (every label change clears it).

Rids come with the vectors (``upsert(..., rids=...)``, from the record store's waiting rows): the index keeps
each label's rid and each rid's latest label, so a filter's rids become labels by one array lookup. A live
vector upserted without its rid (an index written before rids were kept, or a direct ``upsert``) makes
``search_rids`` answer ``None`` (the caller then takes the paths that do not need rids) until
``FaissVectorIndex.learn_rids`` is given it (the index worker teaches an older index every rid when it starts).

An allow-list search visits more of the graph than an open one for as many results: fine for a filter that
keeps a tenth of the index; a filter keeping far fewer is better scored exactly, and an allow-list of at most
:data:`ALLOWED_EXACT_MAX` labels is (faster than the graph there, and exact).

Example:
    >>> from langchain_memos.storage.faiss_index import FaissVectorIndex
    >>> index = FaissVectorIndex.in_memory()
    >>> index.upsert(["a", "b", "c"], [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> [h.id for h in index.search_allowed([1.0, 0.0], 2, frozenset({"b", "c"}))]
    ['b', 'c']
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable, Sequence

import numpy as np

from .base import ScoredId
from .vector_input import as_floats

#: An allow-list search keeps this many candidates per result asked for (an allow-list of a tenth of 100k
#: vectors: recall of the top 50 against exact 0.97 at 10 per result, 0.99 at 16).
ALLOWED_EF_PER_RESULT = 16

#: An allow-list of at most this many labels is scored exactly (its stored vectors gathered, one product) instead of
#: searched in the graph: ``python -m benchmarks.allow_lists`` (100k vectors of the store benchmark's workload, 40
#: queries, top 50; p50 ms exactly / by the graph, the graph's mean recall of the exact top 50): 2,500 labels
#: 0.87 / 2.57 (0.88, one query 0.70), 4,000 1.27 / 2.52 (0.96), 6,000 1.83 / 2.57 (0.98), 8,000 2.98 / 2.62
#: (0.99; 2.35 / 2.54 in another run); past that the graph is quicker (10,000: 3.72 / 2.87, 16,000: 6.05 / 3.03).
ALLOWED_EXACT_MAX = 8192

#: Keys (id sets, rid tables, rid arrays, label arrays) whose labels or bitmaps are kept (the least recently
#: used go first), until the index changes.
ALLOWED_KEPT = 64


class AllowLists:
    """Allow-list searches over a ``FaissVectorIndex``'s graph (see the module docs)."""

    _allowed: dict[int, tuple[Any, Any]]
    _label: dict[str, int]
    _ids: list[str]
    _live: Any
    _faiss: Any
    hnsw: dict[str, int]
    _rids: Any  # label -> its cube's rid (-1: not known)
    _rid_label: Any  # rid -> the latest label upserted with it (-1: none)
    _rids_unknown: int  # live labels whose rid is not known

    # ------------------------------------------------------------ rid bookkeeping (the index holds itself)
    def _reset_rids(self, rids: Any = None) -> None:
        """Forget every rid; with ``rids`` (one per label, ``-1`` where not known, as a snapshot stores them),
        take those for the labels loaded (``_ids`` and ``_live`` already set)."""
        total = len(self._ids)
        self._rids = np.full(total, -1, dtype=np.int64) if rids is None else np.array(rids, dtype=np.int64)
        self._rid_label = np.full(0, -1, dtype=np.int64)
        live = np.flatnonzero(self._live[:total])
        self._rids_unknown = int((self._rids[live] < 0).sum())
        self._rid_labels(self._rids[live], live)

    def _rid_labels(self, rids: Any, labels: Any) -> None:
        """Point each known rid of ``rids`` at its label in ``labels``."""
        known = rids >= 0
        if not known.any():
            return
        top = int(rids[known].max()) + 1
        if len(self._rid_label) < top:
            grown = np.full(max(top, 2 * len(self._rid_label)), -1, dtype=np.int64)
            grown[:len(self._rid_label)] = self._rid_label
            self._rid_label = grown
        self._rid_label[rids[known]] = labels[known]

    def _rids_added(self, first: int, rids: Any) -> None:
        """The labels from ``first`` on were just added, live, with ``rids`` (``None``: none known)."""
        count = len(self._ids) - first
        rids = np.full(count, -1, dtype=np.int64) if rids is None else np.asarray(rids, dtype=np.int64)
        if len(self._rids) < first + count:
            grown = np.full(max(first + count, 2 * len(self._rids)), -1, dtype=np.int64)
            grown[:first] = self._rids[:first]
            self._rids = grown
        self._rids[first:first + count] = rids
        self._rids_unknown += int((rids < 0).sum())
        self._rid_labels(rids, np.arange(first, first + count, dtype=np.int64))

    def _rids_learned(self, labels: Any, rids: Any) -> None:
        """The live ``labels``, whose rids were not known, now have ``rids`` (all known)."""
        self._rids[labels] = rids
        self._rids_unknown -= len(labels)
        self._rid_labels(rids, labels)

    def _rids_dead(self, labels: Sequence[int]) -> None:
        """The live ``labels`` were just marked dead."""
        if labels:
            self._rids_unknown -= int((self._rids[np.asarray(labels, dtype=np.int64)] < 0).sum())

    def search_allowed(self, embedding: Sequence[float], k: int, allowed: AbstractSet[str]) -> list[ScoredId]:
        """Top-``k`` ids among ``allowed`` by cosine similarity, best first (approximate, like ``search``
        without ``ids``; ids the index does not hold are ignored).

        ``allowed`` must not change (a ``frozenset``, such as a record store's kept matches): its labels are
        found once (~2 ms for 10,000 ids) and kept with it.

        Raises:
            InvalidInputError: The query is empty or has NaN/inf.
            EmbeddingDimensionError: The index holds vectors of another dimension.
        """
        if not allowed:
            as_floats(embedding, "query embedding")
            return []
        return self._search_among(embedding, k, lambda: self._kept(allowed, lambda: np.fromiter(
            (self._label[i] for i in allowed if i in self._label), dtype=np.int64))) or []

    def knows_rids(self) -> bool:
        """Whether every live vector was upserted with its rid (so :meth:`search_rids` answers; a hint: a write
        by another thread may change it)."""
        return not self._rids_unknown

    def search_rids(self, embedding: Sequence[float], k: int, rids: Any) -> list[ScoredId] | None:
        """Top-``k`` ids among the cubes ``rids`` (a numpy int64 array of record-store rids, such as a filter's
        :meth:`~langchain_memos.storage.sqlite.records.SQLiteCubeRecords.condition_rids`) by cosine similarity,
        best first; rids whose cube the index does not hold are skipped. ``None`` when a live vector's rid is not
        known (it may be among ``rids``): see the module docs.

        ``rids`` must not change (kept reads do not): its labels and bitmap are kept with it until the index
        changes.

        Raises:
            InvalidInputError: The query is empty or has NaN/inf.
            EmbeddingDimensionError: The index holds vectors of another dimension.
        """
        def labels() -> Any:
            if self._rids_unknown:
                return None
            found = self._rid_label[rids[(rids >= 0) & (rids < len(self._rid_label))]]
            return found[found >= 0]

        return self._search_among(embedding, k, lambda: self._kept(rids, labels))

    def _search_among(self, embedding: Sequence[float], k: int, get_labels: Callable[[], Any]) -> list[ScoredId] | None:
        """The top ``k`` among the labels ``get_labels()`` gives (called while the index is held; labels no longer
        live are skipped; ``None`` from it is returned as is): the graph searched with their bitmap (kept with the
        labels array), keeping :data:`ALLOWED_EF_PER_RESULT` candidates per result (at least ``ef_search``); at
        most :data:`ALLOWED_EXACT_MAX` labels, or a ``k`` of ``EXACT_SHARE`` of them, are scored exactly."""
        from .faiss_index import EXACT_SHARE

        query = np.asarray([as_floats(embedding, "query embedding")], dtype=np.float32)
        if k <= 0:
            return []
        with self._searching(query) as unit:  # type: ignore[attr-defined]
            labels = get_labels() if unit is not None else ()
            if labels is None:
                return None
            if not len(labels):
                return []
            total = len(self._ids)
            if len(labels) <= ALLOWED_EXACT_MAX or k >= EXACT_SHARE * len(labels):
                return self._exact(unit[0], labels[self._live[labels]], k)  # type: ignore[attr-defined]

            def bitmap() -> Any:
                bits = np.zeros(total, dtype=bool)
                bits[labels] = True
                return np.packbits(bits & self._live[:total], bitorder="little")

            packed = self._kept(labels, bitmap)
            params = self._faiss.SearchParametersHNSW(efSearch=max(self.hnsw["ef_search"], ALLOWED_EF_PER_RESULT * k))
            params.sel = self._faiss.IDSelectorBitmap(total, self._faiss.swig_ptr(packed))
            return self._graph_hits(unit, min(int(k), len(labels)), params)  # type: ignore[attr-defined]

    def _kept(self, key: Any, build: Callable[[], Any]) -> Any:
        """What ``build()`` gives for the object ``key``, kept with it until the index changes (the caller holds
        the index). Keys are told apart by identity, and held, so an id is not reused while it is kept."""
        kept = self._allowed.pop(id(key), None)
        if kept is not None and kept[0] is key:
            self._allowed[id(key)] = kept  # the most recently used last
            return kept[1]
        value = build()
        while len(self._allowed) >= ALLOWED_KEPT:
            self._allowed.pop(next(iter(self._allowed)))
        self._allowed[id(key)] = (key, value)
        return value


__all__ = ["ALLOWED_EF_PER_RESULT", "ALLOWED_EXACT_MAX", "ALLOWED_KEPT", "AllowLists"]
