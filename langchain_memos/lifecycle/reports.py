"""What the lifecycle reports: running totals, one consolidation pass, one preload.

Example:
    >>> LifecycleStats(deduplicated=2, summarized=3).fused
    5
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LifecycleStats:
    """Running totals of one :class:`MemLifecycle` (all counts of cubes).

    Attributes:
        deduplicated: Near-identical cubes merged into another.
        summaries: Summary cubes written.
        summarized: Source cubes folded into summaries (and archived).
        superseded: Facts superseded by a contradicting newer one.
        archived: Moves into the archive (summaries' sources included).
        unarchived: Moves out of the archive.
        moves: Tier moves of any kind.
        expired: Cubes forgotten because their TTL passed.
        forgotten: Cubes forgotten because their heat fell below the floor.
        preloads / preloaded: Preload calls and cubes they predicted.
        searches: Searches run through :meth:`MemLifecycle.search`.
        hits / working_hits: Hits returned, and hits that were already in the thread's working set.
        conflicts_skipped: Planned commits skipped because a cube changed meanwhile (retried next run).
        errors: Steps that failed (the write they followed was kept).
    """

    deduplicated: int = 0
    summaries: int = 0
    summarized: int = 0
    superseded: int = 0
    archived: int = 0
    unarchived: int = 0
    moves: int = 0
    expired: int = 0
    forgotten: int = 0
    preloads: int = 0
    preloaded: int = 0
    searches: int = 0
    hits: int = 0
    working_hits: int = 0
    conflicts_skipped: int = 0
    errors: int = 0
    last_error: str | None = None

    @property
    def fused(self) -> int:
        """Cubes folded into another cube (duplicates merged plus summarised sources)."""
        return self.deduplicated + self.summarized

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (with ``fused``)."""
        return {**asdict(self), "fused": self.fused}


@dataclass
class ConsolidationReport:
    """What one :meth:`MemLifecycle.consolidate` pass did (counts of cubes)."""

    namespace: tuple[str, ...] = ()
    expired: int = 0
    deduplicated: int = 0
    superseded: int = 0
    summaries: int = 0
    summarized: int = 0
    moved: int = 0
    archived: int = 0
    forgotten: int = 0
    heat_updated: int = 0
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        data = asdict(self)
        data["namespace"] = list(self.namespace)
        return data


@dataclass
class PreloadResult:
    """What :meth:`MemLifecycle.predict` / :meth:`~MemLifecycle.preload` chose.

    Attributes:
        ids: Predicted cubes, most likely first.
        reasons: id -> why (``"intent"``, ``"entity"``, ``"co-access"``).
        admitted: Ids that moved into the working tier (preload only).
        elapsed_ms: Wall time.
    """

    ids: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    admitted: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


__all__ = ["ConsolidationReport", "LifecycleStats", "PreloadResult"]
