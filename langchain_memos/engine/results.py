"""What the engine's read and check steps return: :class:`SearchHit` and :class:`IntegrityReport`.

Example:
    >>> from langchain_memos.cube import MemCube
    >>> SearchHit(cube=MemCube(content="tea", namespace=("u",)), score=0.5,
    ...           reasons={"keyword": 0.4, "vector": 0.1}, rank=1).why
    'keyword 0.40, vector 0.10'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cube import MemCube


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        cube: The memory.
        score: The fused relevance score (larger is better).
        reasons: Why it matched: signal name (``"vector"``, ``"keyword"``,
            ``"graph"``, ``"recency"``...) -> that signal's contribution.
        rank: 1-based position in the result list.
    """

    cube: MemCube
    score: float
    reasons: dict[str, float]
    rank: int

    @property
    def why(self) -> str:
        """The reasons as a short human-readable string, strongest first."""
        parts = sorted(self.reasons.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {value:.2f}" for name, value in parts if value >= 0.005) or "filter match"


@dataclass
class IntegrityReport:
    """What :meth:`MemOS.check` found and did.

    Attributes:
        records: Cubes in the record store.
        vectors: Vectors in the vector index.
        missing_vectors: Cubes that should be in the vector index but were not.
        orphan_vectors: Vectors with no cube behind them.
        repaired: How many problems were fixed (embeddings left waiting for the index included).
        unrepaired: Problems left (e.g. ``repair=False``).
        index_error: Why the vector index could not be read (a crash can leave Chroma's segment
            unreadable), or ``None``; with ``repair`` it was then rebuilt from the record store.
    """

    records: int = 0
    vectors: int = 0
    missing_vectors: list[str] = field(default_factory=list)
    orphan_vectors: list[str] = field(default_factory=list)
    repaired: int = 0
    unrepaired: int = 0
    index_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is left unrepaired."""
        return self.unrepaired == 0


__all__ = ["IntegrityReport", "SearchHit"]
