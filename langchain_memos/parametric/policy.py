"""When to distill: which cubes are stable enough to go into an adapter, and when a (new) adapter is due.

Pure functions over a MemOS and an :class:`~.store.AdapterStore`: :func:`eligible_cubes`
picks a namespace's stable, hot long-term persona/preference/fact cubes, and
:func:`distill_decision` says whether distilling now is worth it (enough of them, and
no fresh adapter, or enough new ones since the last).

Example:
    >>> DistillPolicy(min_cubes=4).min_cubes
    4
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from ..cube import MemCube, MemoryType, Status, Tier, utcnow
from ..errors import InvalidInputError
from ..storage.base import CubeQuery
from .store import AdapterStore


@dataclass(frozen=True)
class DistillPolicy:
    """Which cubes an adapter is distilled from, and when.

    Attributes:
        types: Memory types distilled (persona, preferences, facts).
        tiers: Tiers they must be in (long-term: the stable ones).
        min_heat: Least stored heat (``MemCube.heat``, kept by the lifecycle) of a cube.
        min_importance: Least importance of a cube.
        stable_hours: A cube must be unchanged for this long.
        min_cubes: Least eligible cubes for a first adapter.
        min_new: Eligible cubes not yet in the latest fresh adapter that make a new version due.
        max_cubes: Most cubes per adapter (the hottest, then the most important).
    """

    types: tuple[MemoryType, ...] = (MemoryType.PERSONA, MemoryType.PREFERENCE, MemoryType.FACT)
    tiers: tuple[Tier, ...] = (Tier.LONG_TERM,)
    min_heat: float = 0.0
    min_importance: float = 0.0
    stable_hours: float = 0.0
    min_cubes: int = 8
    min_new: int = 4
    max_cubes: int = 200

    def __post_init__(self) -> None:
        for name in ("min_cubes", "min_new", "max_cubes"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"DistillPolicy.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class DistillDecision:
    """Whether to distill a namespace now.

    Attributes:
        due: Distill now.
        reason: Why (or why not).
        cubes: The eligible cubes (what the adapter would be distilled from).
    """

    due: bool
    reason: str
    cubes: tuple[MemCube, ...] = field(default=(), repr=False)


def _current(cube: MemCube) -> bool:
    return (cube.valid_to is None and "superseded_by" not in (cube.metadata or {})
            and cube.status not in (Status.EXPIRED, Status.FUSED, Status.ARCHIVED))


def eligible_cubes(memos: Any, namespace: Sequence[str], policy: DistillPolicy,
                   now: datetime | None = None) -> list[MemCube]:
    """The namespace's cubes an adapter may be distilled from: right type and tier, current (not
    superseded, expired or fused), hot, important and unchanged for ``stable_hours``.

    Hottest first (then most important, then oldest), at most ``max_cubes``.
    """
    now = now or utcnow()
    query = CubeQuery(namespace_prefix=tuple(namespace), tiers=frozenset(policy.tiers),
                      types=frozenset(policy.types), now=now)
    settled = now - timedelta(hours=policy.stable_hours)
    cubes = [c for c in memos.engine.cubes(query, with_history=False, order_by="created_at ASC")
             if _current(c) and c.heat >= policy.min_heat and c.importance >= policy.min_importance
             and (c.updated_at or c.created_at) <= settled]
    cubes.sort(key=lambda c: (-c.heat, -c.importance, c.created_at))
    return cubes[:policy.max_cubes]


def distill_decision(memos: Any, store: AdapterStore, namespace: Sequence[str], policy: DistillPolicy,
                     now: datetime | None = None) -> DistillDecision:
    """Whether ``namespace`` should get a new adapter now, and from which cubes."""
    cubes = tuple(eligible_cubes(memos, namespace, policy, now))
    if len(cubes) < policy.min_cubes:
        return DistillDecision(False, f"{len(cubes)} eligible cubes, fewer than min_cubes={policy.min_cubes}", cubes)
    latest = store.latest(namespace)
    if latest is None:
        stale = store.latest(namespace, include_stale=True)
        why = f"the latest adapter is stale ({stale.stale_reason})" if stale is not None else "no adapter yet"
        return DistillDecision(True, why, cubes)
    new = {c.id for c in cubes} - latest.source_ids
    if len(new) >= policy.min_new:
        return DistillDecision(True, f"{len(new)} cubes not in {latest.adapter_id}", cubes)
    return DistillDecision(False, f"{latest.adapter_id} is fresh ({len(new)} new cubes, min_new={policy.min_new})",
                           cubes)


__all__ = ["DistillDecision", "DistillPolicy", "distill_decision", "eligible_cubes"]
