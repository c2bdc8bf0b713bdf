"""Settings of the memory lifecycle: tier capacities and thresholds, fusion, preload, LLM budgets.

All settings are frozen dataclasses with documented defaults; :class:`LifecycleConfig`
bundles them. Heat constants live in :class:`~langchain_memos.policy.heat.HeatConfig`.

Example:
    >>> from langchain_memos.lifecycle.config import LifecycleConfig, TierConfig
    >>> LifecycleConfig(tiers=TierConfig(working_capacity=16)).tiers.working_capacity
    16
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cube import MemoryType
from ..policy.heat import HeatConfig
from ..policy.llm_budget import LLMBudget


def _positive(owner: str, **values: float | int | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ValueError(f"{owner}.{name} must be > 0 (or None where allowed), got {value!r}")


@dataclass(frozen=True)
class TierConfig:
    """Capacities and heat thresholds of the tiers (see :class:`~langchain_memos.cube.Tier`).

    Tiers, hottest first: activation -> working -> mid-term -> long-term -> archive.
    Capacities are enforced like RAM: when a tier is over capacity its coldest cubes
    move one tier down (redundant cubes, those already folded into a summary or a
    merged cube, go straight to the archive). ``None`` = unbounded.

    Attributes:
        working_capacity: Cubes per thread's working set (evicted coldest first, a join
            counting as a touch: LRU by heat).
        activation_capacity: Cubes per namespace in the activation tier (the KV-cached prefix).
        mid_term_capacity: Cubes per namespace in the mid-term tier.
        long_term_capacity: Cubes per namespace in the long-term tier (a hard cap: the
            coldest are archived even if no summary covers them; they stay retrievable
            by :meth:`~langchain_memos.lifecycle.MemLifecycle.search_archive` and ``get``).
        activation_heat: Working or mid-term cubes at least this hot enter the activation tier.
        activation_keep: Activation cubes cooler than ``activation_keep * activation_heat`` leave it.
        mid_term_heat: Long-term cubes at least this hot come back to mid-term.
        unarchive_heat: Archived cubes at least this hot (explicit reads, archive hits) come
            back to long-term.
        rearchive_heat: Redundant cubes (folded into a summary) in mid/long-term cooler than
            this go back to the archive.
        forget_heat_floor: Forget (delete, audited) cubes cooler than this in ``forget_tiers``;
            ``None`` (default) never forgets by heat (TTL expiry still applies).
        forget_min_age_hours: Only cubes not touched for this long are forgotten by heat.
        forget_max_importance: Only cubes at most this important are forgotten by heat.
        forget_tiers: Tiers where heat-floor forgetting applies.
    """

    working_capacity: int | None = 32
    activation_capacity: int | None = 16
    mid_term_capacity: int | None = 256
    long_term_capacity: int | None = 4096
    activation_heat: float = 5.0
    activation_keep: float = 0.8
    mid_term_heat: float = 3.5
    unarchive_heat: float = 4.0
    rearchive_heat: float = 1.5
    forget_heat_floor: float | None = None
    forget_min_age_hours: float = 24.0 * 90
    forget_max_importance: float = 0.25
    forget_tiers: tuple[str, ...] = ("archive",)

    def __post_init__(self) -> None:
        _positive("TierConfig", working_capacity=self.working_capacity,
                  activation_capacity=self.activation_capacity, mid_term_capacity=self.mid_term_capacity,
                  long_term_capacity=self.long_term_capacity)
        if not 0 < self.activation_keep <= 1:
            raise ValueError(f"TierConfig.activation_keep must be in (0, 1], got {self.activation_keep!r}")


@dataclass(frozen=True)
class FuseConfig:
    """De-duplication, conflict detection and cluster summaries.

    Attributes:
        dedup: Merge near-identical cubes (write time and background).
        dedup_cosine: Embedding cosine at or above which two cubes may be near-identical.
        dedup_text_ratio: ...and their normalised texts must be at least this similar
            (``difflib`` ratio); identical normalised texts always merge.
        dedup_neighbours: Nearest neighbours checked per new cube.
        conflicts: Detect contradicting facts and supersede the older one.
        conflict_types: Memory types checked for conflicts.
        conflict_min_cosine: Only pairs at least this similar are checked.
        conflict_llm: Ask the model (when one is given) instead of the no-LLM rules.
        summarize: Fold clusters of cold episodic cubes into one summary cube.
        summarize_types: Memory types that are summarised.
        summarize_max_heat: Only cubes cooler than this are summarised (``None``: every
            long-term cube of those types; the hot ones were promoted back to mid-term first).
        cluster_max_size / cluster_min_size: Units per summary.
        cluster_break_cosine: A thread segment is cut where a unit's cosine to the running
            segment centroid drops below this; unthreaded cubes join a cluster at or above it.
        summary_max_tokens: Longest summary (the no-LLM summary drops small talk first,
            then cuts; the sources stay retrievable through the summary).
        summary_llm: Write summaries with the model (when one is given).
        llm_budget: Limits of every LLM call of these stages.
    """

    dedup: bool = True
    dedup_cosine: float = 0.95
    dedup_text_ratio: float = 0.9
    dedup_neighbours: int = 5
    conflicts: bool = True
    conflict_types: tuple[MemoryType, ...] = (MemoryType.FACT, MemoryType.PREFERENCE, MemoryType.PERSONA,
                                              MemoryType.PLAINTEXT)
    conflict_min_cosine: float = 0.6
    conflict_llm: bool = True
    summarize: bool = True
    summarize_types: tuple[MemoryType, ...] = (MemoryType.EPISODE, MemoryType.PLAINTEXT, MemoryType.TOOL_TRACE)
    summarize_max_heat: float | None = None
    cluster_max_size: int = 6
    cluster_min_size: int = 2
    cluster_break_cosine: float = 0.25
    summary_max_tokens: int = 400
    summary_llm: bool = True
    llm_budget: LLMBudget = field(default_factory=LLMBudget)

    def __post_init__(self) -> None:
        _positive("FuseConfig", dedup_neighbours=self.dedup_neighbours, cluster_max_size=self.cluster_max_size,
                  cluster_min_size=self.cluster_min_size, summary_max_tokens=self.summary_max_tokens)
        if self.cluster_min_size > self.cluster_max_size:
            raise ValueError("FuseConfig.cluster_min_size must be <= cluster_max_size")


@dataclass(frozen=True)
class PreloadConfig:
    """Predictive preload (before the model is called) and the scheduler's search.

    Attributes:
        intent_k: Cubes predicted from the query itself (hybrid search over hot tiers and
            the archive behind summaries, without counting an access).
        entity_k: Cubes predicted from the entities named in the query and the recent turns.
        recent_turns: How many recent turns (newest last) lend their entities.
        coaccess_k: Cubes added because they were often retrieved together with the predicted ones.
        coaccess_min: Least co-retrieval count for that.
        coaccess_group: Top hits of each search recorded as retrieved together.
        max_preload: Most cubes one preload pulls into the working tier.
        expand_pool: Search ranks the hot tiers to depth ``k * expand_pool`` before the
            summaries there open up into their archived sources (see ``MemLifecycle.search``).
        pool_weight: Weight of the first-stage (hot-tier) score in the final score; an opened
            source inherits its summary's first-stage score. 0 ranks by the second stage only.
            On the LoCoMo dev replay, recall@10 rose steadily with it (0.0: -0.0002, 0.3: +0.0004,
            0.5: +0.0012, 0.7: +0.0022 against the scheduler off); 0.5, an even blend, is the default.
    """

    intent_k: int = 16
    entity_k: int = 6
    recent_turns: int = 4
    coaccess_k: int = 4
    coaccess_min: float = 2.0
    coaccess_group: int = 5
    max_preload: int = 24
    expand_pool: int = 5
    pool_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.pool_weight <= 1:
            raise ValueError(f"PreloadConfig.pool_weight must be in [0, 1], got {self.pool_weight!r}")
        _positive("PreloadConfig", intent_k=self.intent_k, max_preload=self.max_preload,
                  coaccess_group=self.coaccess_group, expand_pool=self.expand_pool)


@dataclass(frozen=True)
class LifecycleConfig:
    """Everything :class:`~langchain_memos.lifecycle.MemLifecycle` needs.

    Attributes:
        heat: Heat constants.
        tiers: Capacities and thresholds.
        fuse: De-duplication, conflicts, summaries.
        preload: Preload and search expansion.
        actor: The actor name written to the audit log.
    """

    heat: HeatConfig = field(default_factory=HeatConfig)
    tiers: TierConfig = field(default_factory=TierConfig)
    fuse: FuseConfig = field(default_factory=FuseConfig)
    preload: PreloadConfig = field(default_factory=PreloadConfig)
    actor: str = "memos:lifecycle"


__all__ = ["FuseConfig", "LLMBudget", "LifecycleConfig", "PreloadConfig", "TierConfig"]
