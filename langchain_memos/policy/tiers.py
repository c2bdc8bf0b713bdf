"""The tier policy as pure functions: which cubes move between tiers, given their heat.

Each function takes cubes already read and a heat function, and returns planned
:class:`~langchain_memos.storage.base.TierMove` objects (with the version and tier they
were planned from); :class:`~langchain_memos.lifecycle.MemLifecycle` reads, calls these,
and hands the moves to ``MemOS.move_tiers``.

Example:
    >>> from langchain_memos.cube import MemCube, Tier
    >>> from langchain_memos.lifecycle import TierConfig
    >>> cubes = [MemCube(content=f"c{i}", namespace=("u",), tier=Tier.MID_TERM) for i in range(3)]
    >>> heat = {c.id: float(i) for i, c in enumerate(cubes)}
    >>> moves = capacity_moves(Tier.MID_TERM, cubes, lambda c: heat[c.id], 2, Tier.LONG_TERM)
    >>> [(m.id == cubes[0].id, m.tier.value) for m in moves]
    [(True, 'long_term')]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..cube import MemCube, Tier
from ..storage.base import TierMove


class TierLimits(Protocol):
    """The capacities and heat thresholds the policy reads (``lifecycle.TierConfig`` has them)."""

    activation_capacity: int | None
    mid_term_capacity: int | None
    long_term_capacity: int | None
    activation_heat: float
    activation_keep: float
    mid_term_heat: float
    unarchive_heat: float
    rearchive_heat: float


def is_redundant(cube: MemCube) -> bool:
    """Folded into a summary or merged cube (its content lives on there)."""
    return isinstance(cube.metadata.get("fused_into"), str)


def capacity_moves(tier: Tier, cubes: Sequence[MemCube], heat: Callable[[MemCube], float], cap: int,
                   down: Tier) -> list[TierMove]:
    """Moves that bring ``tier`` (holding ``cubes``) within ``cap``: coldest first, redundant ones to the archive."""
    ranked = sorted(cubes, key=lambda c: (not is_redundant(c), heat(c), c.created_at))
    return [TierMove(id=c.id, tier=Tier.ARCHIVE if is_redundant(c) else down, expected_version=c.version,
                     expected_tier=c.tier, reason=f"{tier.value} over capacity",
                     detail={"capacity": cap, "heat": round(heat(c), 4)})
            for c in ranked[: max(0, len(cubes) - cap)]]


def working_evictions(members: Sequence[tuple[str, str, datetime]], cubes: Mapping[str, MemCube],
                      heat: Callable[..., float], cap: int, protect: set[str] | None = None) -> list[TierMove]:
    """Moves that bring each thread's working set within ``cap`` by evicting its coldest members.

    Args:
        members: ``(thread, cube id, joined at)`` of the working sets.
        cubes: The members' cubes by id.
        heat: ``heat(cube, joined_at=...)``.
        cap: Working-set capacity per thread.
        protect: Ids evicted last (just admitted).
    """
    by_thread: dict[str, list[tuple[str, datetime]]] = {}
    for t, cube_id, joined in members:
        by_thread.setdefault(t, []).append((cube_id, joined))
    moves: list[TierMove] = []
    for t, items in by_thread.items():
        if len(items) <= cap:
            continue
        protect = protect or set()
        ranked = sorted(items, key=lambda it: (
            it[0] in protect, heat(cubes[it[0]], joined_at=it[1]) if it[0] in cubes else 0.0, it[1],
            cubes[it[0]].created_at if it[0] in cubes else it[1], it[0]))
        for cube_id, joined in ranked[: len(items) - cap]:
            c = cubes.get(cube_id)
            if c is None:
                continue
            to = Tier.ARCHIVE if is_redundant(c) else Tier.MID_TERM
            moves.append(TierMove(id=cube_id, tier=to, thread=t, expected_version=c.version,
                                  expected_tier=Tier.WORKING,
                                  reason="working set over capacity",
                                  detail={"heat": round(heat(c, joined_at=joined), 4), "capacity": cap}))
    return moves


def rebalance_moves(cubes: Sequence[MemCube], heat: Mapping[str, float], cfg: TierLimits) -> tuple[list[TierMove],
                                                                                                 set[str]]:
    """The heat moves of a rebalance over ``cubes``, and the ids that were in the activation tier before.

    In order: cooled activation cubes leave it; the hottest working/mid-term cubes enter it
    (bounded); hot long-term cubes return to mid-term and hot archived ones to long-term;
    cold redundant cubes go back to the archive; mid-term and long-term over capacity send
    their coldest (redundant first) down.
    """
    tier = {c.id: c.tier for c in cubes}
    before = dict(tier)
    by_id = {c.id: c for c in cubes}
    moves: dict[str, TierMove] = {}

    def move(c: MemCube, to: Tier, reason: str, **detail: Any) -> None:
        if tier[c.id] is to:
            return
        moves[c.id] = TierMove(id=c.id, tier=to, expected_version=c.version, expected_tier=before[c.id],
                               reason=reason,
                               detail={"heat": round(heat[c.id], 4), **detail})
        tier[c.id] = to

    def members(t: Tier) -> list[MemCube]:
        return [by_id[i] for i, tt in tier.items() if tt is t]

    # activation: the hottest working / mid-term cubes, bounded
    act_before = {c.id for c in members(Tier.ACTIVATION)}
    cap = cfg.activation_capacity
    for c in members(Tier.ACTIVATION):
        if heat[c.id] < cfg.activation_heat * cfg.activation_keep:
            move(c, Tier.MID_TERM, "cooled below activation")
    hot = sorted((c for c in members(Tier.WORKING) + members(Tier.MID_TERM)
                  if heat[c.id] >= cfg.activation_heat and not is_redundant(c)),
                 key=lambda c: -heat[c.id])
    for c in hot:
        move(c, Tier.ACTIVATION, "heat above activation threshold")
    active = sorted(members(Tier.ACTIVATION), key=lambda c: (-heat[c.id], c.id))
    if cap is not None:
        for c in active[cap:]:
            move(c, Tier.MID_TERM, "activation over capacity", capacity=cap)
    # heat promotions
    for c in members(Tier.LONG_TERM):
        if heat[c.id] >= cfg.mid_term_heat and not is_redundant(c):
            move(c, Tier.MID_TERM, "heat above mid-term threshold")
    for c in members(Tier.ARCHIVE):
        if heat[c.id] >= cfg.unarchive_heat:
            move(c, Tier.LONG_TERM, "heat above unarchive threshold")
    # cold redundant cubes back to the archive (their summary stays hot)
    for c in members(Tier.MID_TERM) + members(Tier.LONG_TERM):
        if is_redundant(c) and heat[c.id] < cfg.rearchive_heat:
            move(c, Tier.ARCHIVE, "cold and covered by a summary")
    # capacities, coldest first (redundant before the rest)
    if cfg.mid_term_capacity is not None:
        mids = sorted(members(Tier.MID_TERM), key=lambda c: (not is_redundant(c), heat[c.id], c.created_at))
        for c in mids[: max(0, len(mids) - cfg.mid_term_capacity)]:
            move(c, Tier.ARCHIVE if is_redundant(c) else Tier.LONG_TERM, "mid-term over capacity",
                 capacity=cfg.mid_term_capacity)
    if cfg.long_term_capacity is not None:
        longs = sorted(members(Tier.LONG_TERM), key=lambda c: (not is_redundant(c), heat[c.id], c.created_at))
        for c in longs[: max(0, len(longs) - cfg.long_term_capacity)]:
            move(c, Tier.ARCHIVE, "long-term over capacity", capacity=cfg.long_term_capacity)
    return list(moves.values()), act_before


__all__ = ["TierLimits", "capacity_moves", "is_redundant", "rebalance_moves", "working_evictions"]
