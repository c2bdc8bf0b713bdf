"""Where a search spends its time: a per-stage breakdown filled in as the search runs.

Every search (``MemOS.search``/``asearch``, ``search_by_vector``, ``search_within`` and
``MemOSStore.search``) returns its results as a :class:`SearchResults` list whose
``timings`` say how many milliseconds each stage of :data:`SEARCH_STAGES` took. The
timer costs one ``perf_counter`` call per stage, so it is always on. A stage is timed
as a *lap*: the time since the previous lap, so the stages add up to the total.

Example:
    >>> timings = SearchTimings()
    >>> timings.lap("query_analysis")
    >>> sorted(timings.as_dict()) == sorted([*SEARCH_STAGES, "total"])
    True
    >>> SearchResults(["a"], timings.finish()).timings.total_ms >= 0.0
    True
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Iterable

#: The stages of a search, in the order they run.
#:
#: * ``query_analysis``: planning the query, the speakers of the scope, keywords/entities/dates.
#: * ``query_embedding``: the embedder's query vector.
#: * ``keyword_search``: the BM25 (FTS5) query.
#: * ``vector_search``: the nearest cubes (the vector index, its worker process, or exact cosine).
#: * ``graph_signal``: entity/fact scores from the graph (when a graph is attached).
#: * ``candidate_load``: reading the candidates' rows and embeddings for scoring.
#: * ``fusion``: fusing the signals, MMR and the token budget.
#: * ``render``: loading the hits in full and building the results (access counts included).
SEARCH_STAGES = ("query_analysis", "query_embedding", "keyword_search", "vector_search", "graph_signal",
                 "candidate_load", "fusion", "render")


class SearchTimings:
    """Milliseconds per stage of one search (:data:`SEARCH_STAGES`) and its wall-clock total.

    Created when the search starts; each :meth:`lap` charges the time since the previous
    lap (or the start) to a stage; :meth:`finish` fixes the total.

    Attributes:
        stages_ms: Stage name -> milliseconds (every stage present; 0.0 when it did not run).
            A stage run in a helper thread beside another (the keyword search, beside the
            vector search over a scope too large to score exactly) counts here only for the time
            the search waited for it after the other.
        parallel_ms: Stage name -> the full milliseconds of each stage that ran beside another
            (not part of the total: that time overlapped).
        total_ms: Milliseconds from creation to :meth:`finish` (0.0 before).
    """

    def __init__(self) -> None:
        self.stages_ms: dict[str, float] = dict.fromkeys(SEARCH_STAGES, 0.0)
        self.parallel_ms: dict[str, float] = {}
        self.total_ms = 0.0
        self._start = self._mark = perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or the start) to ``stage``.

        Raises:
            KeyError: ``stage`` is not one of :data:`SEARCH_STAGES`.
        """
        now = perf_counter()
        self.stages_ms[stage] += (now - self._mark) * 1000.0
        self._mark = now

    def add(self, stage: str, ms: float) -> None:
        """Charge ``ms`` milliseconds measured elsewhere to ``stage`` (e.g. a batched query embedding)."""
        self.stages_ms[stage] += ms

    def finish(self) -> "SearchTimings":
        """Fix :attr:`total_ms` (the time since creation plus time :meth:`add`-ed from outside it); returns self."""
        outside = sum(self.stages_ms.values()) - (self._mark - self._start) * 1000.0
        self.total_ms = (perf_counter() - self._start) * 1000.0 + max(outside, 0.0)
        return self

    def as_dict(self) -> dict[str, float]:
        """The stages and ``total`` as a plain dict of milliseconds (for JSON)."""
        return {**self.stages_ms, "total": self.total_ms}

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.stages_ms.items() if v)
        return f"SearchTimings(total {self.total_ms:.2f} ms: {parts})"


class SearchResults(list):
    """A search's results: a plain ``list`` of hits (or store items) that also carries ``timings``.

    Args:
        items: The results, best first.
        timings: The search's :class:`SearchTimings`.
    """

    def __init__(self, items: Iterable[Any] = (), timings: SearchTimings | None = None) -> None:
        super().__init__(items)
        self.timings = timings if timings is not None else SearchTimings().finish()


__all__ = ["SEARCH_STAGES", "SearchResults", "SearchTimings"]
