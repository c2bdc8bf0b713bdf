"""What a memory holds: cubes per tier, type and status, a heat histogram, and its size on disk.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     _ = memos.add(["a", "b"], ("u",))
    ...     s = memory_stats(memos)
    >>> s["cubes"], s["by_tier"]["mid_term"]
    (2, 2)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from .cube import MemoryType, Status, Tier
from .filters import Condition
from .storage.base import CubeQuery

#: Upper bounds of the heat histogram's bins (the last bin is open).
HEAT_BINS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, math.inf)


def _folder_bytes(path: str | None) -> int:
    if not path:
        return 0
    root = Path(path)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def memory_stats(memos: Any, namespace: Sequence[str] = ()) -> dict[str, Any]:
    """Counts of the cubes under ``namespace`` (every status but expired) and the store's size.

    Returns:
        ``{"cubes", "by_tier", "by_type", "by_status", "heat_histogram", "namespaces", "bytes_on_disk"}``;
        the histogram maps ``"lo-hi"`` heat ranges to counts.
    """
    ns = tuple(namespace)
    statuses = frozenset(s for s in Status if s is not Status.EXPIRED)

    def count(**narrow: Any) -> int:
        return memos.engine.count(CubeQuery(namespace_prefix=ns, statuses=narrow.pop("statuses", statuses),
                                             **narrow))

    histogram: dict[str, int] = {}
    lo = 0.0
    for hi in HEAT_BINS:
        conditions = (Condition(("heat",), "$gte", lo),) + ((Condition(("heat",), "$lt", hi),) if hi != math.inf else ())
        histogram[f"{lo:g}-{hi:g}"] = count(cube_conditions=conditions)
        lo = hi
    return {
        "cubes": count(),
        "by_tier": {t.value: count(tiers=frozenset({t})) for t in Tier},
        "by_type": {t.value: n for t in MemoryType if (n := count(types=frozenset({t})))},
        "by_status": {s.value: count(statuses=frozenset({s})) for s in Status},
        "heat_histogram": histogram,
        "namespaces": len(memos.namespaces(ns)),
        "bytes_on_disk": _folder_bytes(memos.config.path),
    }


__all__ = ["HEAT_BINS", "memory_stats"]
