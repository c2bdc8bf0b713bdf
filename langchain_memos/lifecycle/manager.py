"""MemLifecycle: heat, tiers, preload, fuse, archive and forget over one MemOS.

:class:`MemLifecycle` holds the policy (a :class:`~.config.LifecycleConfig`) and runs
each lifecycle step against a :class:`~langchain_memos.memos.MemOS`. Every step is
idempotent and commits in one MemOS transaction (or in batches of whole units, each
one transaction), so a process that stops mid-step loses nothing: the next run
finds the same work and does it. :class:`~langchain_memos.scheduler.MemScheduler`
runs the steps in a background thread; the LangGraph nodes in
:mod:`langchain_memos.scheduler.nodes` run them as graph steps.

The steps:

* **heat** (:meth:`MemLifecycle.heat`, :meth:`~MemLifecycle.refresh_heat`): a pure function of
  accesses, interaction length, recency and importance (:mod:`langchain_memos.policy.heat`).
  Search hits and reads count an access; :meth:`~MemLifecycle.mark_used` counts a use.
* **tiers** (:meth:`~MemLifecycle.admit`, :meth:`~MemLifecycle.rebalance`): a bounded
  working set per thread (LRU by heat), activation for the hottest, capacities for
  mid- and long-term with the coldest moving down, heat promotions back up, redundant
  cold cubes to the archive. Tier moves keep versions and are audited.
* **fuse** (:meth:`~MemLifecycle.dedup`, :meth:`~MemLifecycle.resolve_conflicts`,
  :meth:`~MemLifecycle.summarize`): near-identical cubes merge into the older one (all
  provenance kept, the duplicate archived); contradicting facts supersede older ones
  (``valid_to`` set, ``metadata["superseded_by"]``); clusters of cold episodes become
  one summary cube whose provenance keeps every source, and the sources move to the
  archive. LLM stages are optional and budgeted; each has a no-LLM path.
* **search** (:meth:`~MemLifecycle.search`): hybrid search over the hot tiers; a summary
  hit expands into its best-matching archived sources, so archived memories are found
  through the summaries that cover them (the hits are the archived cubes themselves).
* **preload** (:meth:`~MemLifecycle.preload`): predict what the next step needs (query
  intent, entities of the recent turns, co-access history) and pull it into the
  thread's working set.
* **forget** (:meth:`~MemLifecycle.forget`): TTL expiry and (opt-in) a heat floor;
  every forgotten cube gets an audit record saying why.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> from langchain_memos.lifecycle import MemLifecycle
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     life = MemLifecycle(memos)
    ...     ids = life.add(["I live in Oslo", "I live in Oslo."], ("u",), memory_type="fact")
    ...     [c.tier.value for c in memos.get_many(ids, touch=False)]
    ['mid_term', 'archive']
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..cube import HOT_TIERS, MemCube, MemoryType, Status, Tier, to_utc, utcnow
from ..engine import SearchHit, apply_update, embed_texts
from ..filters import Condition
from ..ingest import PlannedCube
from ..retrieval.query import analyze_query
from ..policy.heat import cube_heat
from ..storage.base import CubeQuery, TierMove, ns_key
from .config import LifecycleConfig
from .fuse import (
    cluster_by_similarity,
    contradicts,
    extractive_summary,
    merged_provenance,
    near_duplicate,
    segment_thread,
    summary_key,
)
from ..policy.llm_budget import BudgetedLLM, fit_texts

_ALL_STATUSES = frozenset(Status)
_SUMMARY_SYSTEM = ("You compress memories of a conversation. Write one short factual summary that keeps every "
                   "name, date, number, place, preference and decision. Plain text, no preamble.")
_CONFLICT_SYSTEM = ("You check memories for contradictions. Answer YES if the NEWER statement makes the OLDER one "
                    "no longer true (a changed value, a negation), otherwise NO. Answer with one word.")


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


def _ns(namespace: Sequence[str]) -> tuple[str, ...]:
    return tuple(namespace)


def _redundant(cube: MemCube) -> bool:
    """Folded into a summary or merged cube (its content lives on there)."""
    return isinstance(cube.metadata.get("fused_into"), str)


class MemLifecycle:
    """The lifecycle policy over one :class:`~langchain_memos.memos.MemOS`.

    Args:
        memos: The memory.
        config: The policy (heat, tiers, fuse, preload).
        model: Optional LangChain ``BaseChatModel`` for summaries and conflict checks
            (budgeted by ``config.fuse.llm_budget``); ``None`` runs the no-LLM paths.
        clock: Returns "now" (default: the wall clock). Replays and tests pass a
            simulated clock; then set ``MemOSConfig.track_access=False`` so accesses are
            counted here, on the same clock.
        on_activation_change: Called (no arguments) when the activation tier changes,
            e.g. ``ActivationManager.request_refresh``; an object with a
            ``request_refresh`` method also works.
        track_access: Count search hits here (default: when MemOS does not).
    """

    def __init__(self, memos: Any, config: LifecycleConfig | None = None, *, model: Any | None = None,
                 clock: Callable[[], datetime] | None = None,
                 on_activation_change: Callable[[], Any] | Any | None = None,
                 track_access: bool | None = None) -> None:
        self.memos = memos
        self.config = config or LifecycleConfig()
        self.llm = BudgetedLLM(model, self.config.fuse.llm_budget)
        self.clock = clock or utcnow
        self.stats = LifecycleStats()
        self.track_access = (not memos.config.track_access) if track_access is None else bool(track_access)
        self._listeners: list[Callable[[], Any]] = []
        if on_activation_change is not None:
            self.add_activation_listener(on_activation_change)
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._vec_lock = threading.Lock()
        self._pass_lock = threading.RLock()

    # ------------------------------------------------------------------ basics
    def now(self) -> datetime:
        """The lifecycle clock's current time (aware UTC)."""
        return to_utc(self.clock())  # type: ignore[return-value]

    def add_activation_listener(self, listener: Callable[[], Any] | Any) -> None:
        """Call ``listener()`` (or ``listener.request_refresh()``) whenever the activation tier changes."""
        fn = getattr(listener, "request_refresh", listener)
        if not callable(fn):
            raise TypeError("on_activation_change must be callable or have a request_refresh() method")
        self._listeners.append(fn)

    def _notify_activation(self) -> None:
        for fn in self._listeners:
            try:
                fn()
            except Exception as exc:  # a listener never breaks a lifecycle step
                self._error(exc)

    def _error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"

    def _cubes(self, namespace: Sequence[str], *, tiers: Iterable[Tier] | None = None,
               types: Iterable[MemoryType] | None = None, conditions: tuple[Condition, ...] = (),
               ids: Iterable[str] | None = None) -> list[MemCube]:
        query = CubeQuery(namespace_prefix=_ns(namespace), tiers=frozenset(tiers) if tiers is not None else None,
                          types=frozenset(types) if types is not None else None, cube_conditions=conditions,
                          ids=frozenset(ids) if ids is not None else None, now=self.now())
        return self.memos.records.query(query, with_history=False, order_by="created_at ASC")

    def _live(self, namespace: Sequence[str]) -> list[MemCube]:
        """The hot tiers' cubes plus archived cubes that were ever accessed (the only archived ones
        whose heat can matter), so a pass never scans the whole archive."""
        hot = self._cubes(namespace, tiers=HOT_TIERS)
        used = self._cubes(namespace, tiers=(Tier.ARCHIVE,), conditions=(Condition(("access_count",), "$gt", 0),))
        return hot + used

    def _query_vector(self, text: str) -> list[float] | None:
        if not text.strip():
            return None
        with self._vec_lock:
            vec = self._vectors.get(text)
            if vec is not None:
                self._vectors.move_to_end(text)
                return vec
        vec = self.memos.embed_query(text)
        with self._vec_lock:
            self._vectors[text] = vec
            while len(self._vectors) > 256:
                self._vectors.popitem(last=False)
        return vec

    def clear_query_cache(self) -> None:
        """Forget the cached query embeddings (a preload's embedding is reused by the search after it)."""
        with self._vec_lock:
            self._vectors.clear()

    def _commit(self, planned: Sequence[PlannedCube], expected: Mapping[str, MemCube]) -> bool:
        """Commit ``planned`` in one transaction if every cube in ``expected`` (the reads the plan was
        made from) still has the same version and tier
        (:meth:`~langchain_memos.engine.MemoryEngine.commit_if_unchanged`).

        Embeddings are computed first. Returns ``False`` (and commits nothing) when a cube
        changed or disappeared: the next run re-plans.
        """
        engine = self.memos.engine
        texts = embed_texts(planned)
        if engine.commit_if_unchanged(planned, engine.embed_documents(texts) if texts else [], expected):
            return True
        self.stats.conflicts_skipped += 1
        return False

    def _update(self, cube: MemCube, changes: Mapping[str, Any], reason: str) -> PlannedCube:
        """The planned new version of ``cube`` (pure: :func:`~langchain_memos.engine.apply_update`)."""
        return apply_update(cube, changes, reason=reason, actor=self.config.actor,
                            max_chars=self.memos.config.max_content_chars)

    # --------------------------------------------------------------------- heat
    def heat(self, cube: MemCube, *, joined_at: datetime | None = None) -> float:
        """The cube's heat now (see :mod:`langchain_memos.policy.heat`)."""
        return cube_heat(cube, self.now(), self.config.heat, joined_at=joined_at)

    def refresh_heat(self, namespace: Sequence[str] = (), ids: Sequence[str] | None = None) -> int:
        """Recompute and store the heat of the cubes under ``namespace`` (hot tiers and archived cubes that
        were accessed) or of ``ids``; returns how many changed."""
        cubes = self._cubes((), ids=ids) if ids is not None else self._live(namespace)
        changed = {}
        for c in cubes:
            h = round(self.heat(c), 4)
            if abs(h - c.heat) > 1e-3:
                changed[c.id] = h
        self.memos.records.set_heat(changed)
        return len(changed)

    def touch(self, ids: Sequence[str]) -> None:
        """Count one access (a read) for each id on the lifecycle clock."""
        if ids:
            self.memos.records.touch(list(ids), self.now())

    def mark_used(self, ids: Sequence[str]) -> None:
        """Record that these cubes were used in an answer (``HeatConfig.use_visits`` accesses each)."""
        ids = list(ids)
        if ids:
            self.memos.mark_used(ids, visits=self.config.heat.use_visits, at=self.now())
            self.refresh_heat(ids=ids)

    # ---------------------------------------------------------------- writes
    def add(self, items: Any, namespace: Sequence[str], *, thread: str | None = None, fuse: bool = True,
            **options: Any) -> list[str]:
        """``MemOS.add`` then write-time fusion (dedup, conflicts) and, with ``thread``, admission to its working set.

        The write is acknowledged (committed) before fusion runs; a fusion failure is
        counted in :attr:`stats` and never undoes the write. Text and messages without a
        ``created_at`` are stamped with the lifecycle clock.
        """
        options.setdefault("created_at", self.now())  # text and messages are stamped on the lifecycle clock
        ids = self.memos.add(items, namespace, **options)
        if fuse:
            try:
                self.fuse_new(ids)
            except Exception as exc:
                self._error(exc)
        if thread is not None:
            self.admit(ids, thread, namespace=namespace)
        return ids

    async def aadd(self, items: Any, namespace: Sequence[str], *, thread: str | None = None, fuse: bool = True,
                   **options: Any) -> list[str]:
        """Async twin of :meth:`add`."""
        return await asyncio.to_thread(self.add, items, namespace, thread=thread, fuse=fuse, **options)

    def fuse_new(self, ids: Sequence[str]) -> dict[str, int]:
        """Write-time fusion of just-written cubes: merge near-duplicates, supersede contradicted facts."""
        return {"deduplicated": self.dedup(ids=ids), "superseded": self.resolve_conflicts(ids=ids)}

    # ------------------------------------------------------------------ tiers
    def _move(self, moves: Sequence[TierMove], tiers_before: Mapping[str, Tier]) -> list[str]:
        if not moves:
            return []
        moved = self.memos.move_tiers(list(moves), actor=self.config.actor, at=self.now())
        target = {m.id: Tier(m.tier) for m in moves}
        for cube_id in moved:
            self.stats.moves += 1
            if target[cube_id] is Tier.ARCHIVE:
                self.stats.archived += 1
            elif tiers_before.get(cube_id) is Tier.ARCHIVE:
                self.stats.unarchived += 1
        return moved

    def admit(self, ids: Sequence[str], thread: str, *, namespace: Sequence[str] = (),
              reason: str = "admit") -> list[str]:
        """Pull cubes into ``thread``'s working set (from any tier, the archive included), then keep it
        within ``TierConfig.working_capacity`` by evicting its coldest members. Returns ids that changed tier."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        before = {c.id: c.tier for c in self._cubes((), ids=ids)}
        moved = self._move([TierMove(id=i, tier=Tier.WORKING, thread=thread, reason=reason)
                            for i in ids if i in before], before)
        if self._enforce_working(namespace, thread, protect=set(ids)):
            self._enforce_capacities(namespace)
        return moved

    def _enforce_capacities(self, namespace: Sequence[str]) -> int:
        """Only the mid-term and long-term capacity part of :meth:`rebalance` (cheap; runs after evictions)."""
        cfg = self.config.tiers
        moved = 0
        for tier, cap, down in ((Tier.MID_TERM, cfg.mid_term_capacity, Tier.LONG_TERM),
                                (Tier.LONG_TERM, cfg.long_term_capacity, Tier.ARCHIVE)):
            if cap is None:
                continue
            query = CubeQuery(namespace_prefix=_ns(namespace), tiers=frozenset({tier}), now=self.now())
            if self.memos.records.count(query) <= cap:
                continue
            cubes = self._cubes(namespace, tiers=(tier,))
            ranked = sorted(cubes, key=lambda c: (not _redundant(c), self.heat(c), c.created_at))
            moves = [TierMove(id=c.id, tier=Tier.ARCHIVE if _redundant(c) else down, expected_version=c.version,
                              expected_tier=c.tier,
                              reason=f"{tier.value} over capacity", detail={"capacity": cap,
                                                                            "heat": round(self.heat(c), 4)})
                     for c in ranked[: max(0, len(cubes) - cap)]]
            moved += len(self._move(moves, {c.id: c.tier for c in cubes}))
        return moved

    def working_set(self, thread: str, namespace: Sequence[str] = ()) -> list[str]:
        """Ids in ``thread``'s working set, oldest join first."""
        return [cube_id for _, cube_id, _ in self.memos.records.working_set(_ns(namespace), thread)]

    def _enforce_working(self, namespace: Sequence[str], thread: str | None = None,
                         protect: set[str] | None = None) -> list[str]:
        cap = self.config.tiers.working_capacity
        members = self.memos.records.working_set(_ns(namespace), thread)
        if cap is None or not members:
            return []
        by_thread: dict[str, list[tuple[str, datetime]]] = {}
        for t, cube_id, joined in members:
            by_thread.setdefault(t, []).append((cube_id, joined))
        cubes = {c.id: c for c in self._cubes((), ids={m[1] for m in members})}
        moves: list[TierMove] = []
        for t, items in by_thread.items():
            if len(items) <= cap:
                continue
            protect = protect or set()
            ranked = sorted(items, key=lambda it: (
                it[0] in protect, self.heat(cubes[it[0]], joined_at=it[1]) if it[0] in cubes else 0.0, it[1],
                cubes[it[0]].created_at if it[0] in cubes else it[1], it[0]))
            for cube_id, joined in ranked[: len(items) - cap]:
                c = cubes.get(cube_id)
                if c is None:
                    continue
                to = Tier.ARCHIVE if _redundant(c) else Tier.MID_TERM
                moves.append(TierMove(id=cube_id, tier=to, thread=t, expected_version=c.version,
                                      expected_tier=Tier.WORKING,
                                      reason="working set over capacity",
                                      detail={"heat": round(self.heat(c, joined_at=joined), 4), "capacity": cap}))
        return self._move(moves, {c.id: c.tier for c in cubes.values()})

    def rebalance(self, namespace: Sequence[str] = ()) -> int:
        """Enforce capacities and heat thresholds across the tiers under ``namespace``; returns cubes moved.

        In order: working sets over capacity evict their coldest (to mid-term, or to the
        archive when redundant); the hottest working/mid-term cubes enter the activation
        tier (bounded) and cooled ones leave it; hot long-term cubes return to mid-term and
        hot archived ones to long-term; cold redundant cubes go back to the archive;
        mid-term over capacity sends its coldest to long-term, long-term over capacity its
        coldest (redundant first) to the archive.
        """
        cfg = self.config.tiers
        moved = len(self._enforce_working(namespace))
        cubes = self._live(namespace)
        tier = {c.id: c.tier for c in cubes}
        before = dict(tier)
        heat = {c.id: self.heat(c) for c in cubes}
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
                      if heat[c.id] >= cfg.activation_heat and not _redundant(c)),
                     key=lambda c: -heat[c.id])
        for c in hot:
            move(c, Tier.ACTIVATION, "heat above activation threshold")
        active = sorted(members(Tier.ACTIVATION), key=lambda c: (-heat[c.id], c.id))
        if cap is not None:
            for c in active[cap:]:
                move(c, Tier.MID_TERM, "activation over capacity", capacity=cap)
        # heat promotions
        for c in members(Tier.LONG_TERM):
            if heat[c.id] >= cfg.mid_term_heat and not _redundant(c):
                move(c, Tier.MID_TERM, "heat above mid-term threshold")
        for c in members(Tier.ARCHIVE):
            if heat[c.id] >= cfg.unarchive_heat:
                move(c, Tier.LONG_TERM, "heat above unarchive threshold")
        # cold redundant cubes back to the archive (their summary stays hot)
        for c in members(Tier.MID_TERM) + members(Tier.LONG_TERM):
            if _redundant(c) and heat[c.id] < cfg.rearchive_heat:
                move(c, Tier.ARCHIVE, "cold and covered by a summary")
        # capacities, coldest first (redundant before the rest)
        if cfg.mid_term_capacity is not None:
            mids = sorted(members(Tier.MID_TERM), key=lambda c: (not _redundant(c), heat[c.id], c.created_at))
            for c in mids[: max(0, len(mids) - cfg.mid_term_capacity)]:
                move(c, Tier.ARCHIVE if _redundant(c) else Tier.LONG_TERM, "mid-term over capacity",
                     capacity=cfg.mid_term_capacity)
        if cfg.long_term_capacity is not None:
            longs = sorted(members(Tier.LONG_TERM), key=lambda c: (not _redundant(c), heat[c.id], c.created_at))
            for c in longs[: max(0, len(longs) - cfg.long_term_capacity)]:
                move(c, Tier.ARCHIVE, "long-term over capacity", capacity=cfg.long_term_capacity)
        done = self._move(list(moves.values()), before)
        if any(i in act_before or moves[i].tier is Tier.ACTIVATION for i in done):
            self._notify_activation()
        return moved + len(done)

    # ------------------------------------------------------------------- fuse
    def _unseen(self, namespace: Sequence[str], what: str, ids: Sequence[str] | None) -> tuple[list[MemCube], list[str]]:
        """Hot cubes a background step has not checked yet (or the given ``ids``), and every hot id now.

        The ids checked by the last pass are kept in the store's meta table (not a time
        watermark, so replays on a simulated clock and late commits are never skipped).
        """
        if ids is not None:
            return self._cubes((), ids=ids, tiers=HOT_TIERS), []
        cubes = self._cubes(namespace, tiers=HOT_TIERS)
        raw = self.memos.records.get_meta(f"lifecycle:{what}:{ns_key(_ns(namespace))}")
        seen = set(json.loads(raw)) if raw else set()
        return [c for c in cubes if c.id not in seen], [c.id for c in cubes]

    def _mark_seen(self, namespace: Sequence[str], what: str, ids: Sequence[str]) -> None:
        self.memos.records.set_meta(f"lifecycle:{what}:{ns_key(_ns(namespace))}", json.dumps(sorted(ids)))

    def _neighbours(self, cube: MemCube, vector: Sequence[float], k: int, min_cosine: float) -> list[tuple[MemCube, float]]:
        found = self.memos.vectors.search(vector, k + 1, namespace_prefix=cube.namespace, tiers=frozenset(HOT_TIERS))
        ids = [h.id for h in found if h.id != cube.id and h.score >= min_cosine]
        if not ids:
            return []
        scores = {h.id: h.score for h in found}
        others = self.memos.records.get(ids)
        return [(o, scores[o.id]) for o in others if o is not None and o.namespace == cube.namespace]

    def dedup(self, namespace: Sequence[str] = (), *, ids: Sequence[str] | None = None) -> int:
        """Merge near-identical cubes (new ones since the last pass, or ``ids``); returns duplicates merged.

        The older cube survives: it gains the duplicate's provenance (and a ``kind="cube"``
        entry for it), the higher importance and the union of tags; the duplicate moves to
        the archive with status ``fused`` and ``metadata["fused_into"]``. One transaction per merge.
        """
        cfg = self.config.fuse
        if not cfg.dedup:
            return 0
        todo, hot_ids = self._unseen(namespace, "dedup", ids)
        todo = [c for c in todo if not _redundant(c) and c.memory_type is not MemoryType.SUMMARY]
        vectors = self.memos.records.embeddings([c.id for c in todo])
        merged = 0
        gone: set[str] = set()
        for c in todo:
            if c.id in gone or c.id not in vectors:
                continue
            for other, cos in self._neighbours(c, vectors[c.id], cfg.dedup_neighbours, cfg.dedup_cosine):
                if other.id in gone or _redundant(other) or other.memory_type is not c.memory_type:
                    continue
                if not near_duplicate(c.content, other.content, cos, min_cosine=cfg.dedup_cosine,
                                      min_ratio=cfg.dedup_text_ratio):
                    continue
                current = self.memos.records.get([c.id])[0]
                if current is None or _redundant(current):
                    break
                survivor, dup = sorted((current, other), key=lambda x: (x.created_at, x.id == c.id))
                if self._merge(survivor, dup, cos):
                    merged += 1
                    gone.add(dup.id)
                    self.stats.deduplicated += 1
                break
        if ids is None:
            self._mark_seen(namespace, "dedup", [i for i in hot_ids if i not in gone])
        return merged

    def _merge(self, survivor: MemCube, dup: MemCube, cosine: float) -> bool:
        actor = self.config.actor
        prov = merged_provenance([survivor, dup])
        prov = [p for p in prov if not (p.kind == "cube" and p.ref == survivor.id)]
        keep = self._update(survivor, {
            "provenance": prov, "importance": max(survivor.importance, dup.importance),
            "tags": tuple(dict.fromkeys((*survivor.tags, *dup.tags))),
        }, "dedup")
        folded = self._update(dup, {
            "tier": Tier.ARCHIVE, "status": Status.FUSED,
            "metadata": {**dup.metadata, "fused_into": survivor.id},
        }, "dedup")
        ok = self._commit([keep, folded], {survivor.id: survivor, dup.id: dup})
        if ok:
            self.stats.archived += 1
            self.memos.records.audit([_audit("fuse", dup, self.now(), actor,
                                             f"near-duplicate of {survivor.id} (cosine {cosine:.3f})",
                                             {"into": survivor.id})])
        return ok

    def resolve_conflicts(self, namespace: Sequence[str] = (), *, ids: Sequence[str] | None = None) -> int:
        """Supersede facts contradicted by newer ones (new cubes since the last pass, or ``ids``).

        Candidates are similar cubes (cosine >= ``conflict_min_cosine``) of the conflict
        types that are not near-duplicates; the model decides when one is given (within
        its budget), else the no-LLM rules of :func:`~.fuse.contradicts`. Returns how
        many cubes were superseded.
        """
        cfg = self.config.fuse
        if not cfg.conflicts:
            return 0
        todo, hot_ids = self._unseen(namespace, "conflicts", ids)
        todo = [c for c in todo if c.memory_type in cfg.conflict_types and c.valid_to is None
                and not _redundant(c)]
        vectors = self.memos.records.embeddings([c.id for c in todo])
        done = 0
        for c in todo:
            if c.id not in vectors:
                continue
            for other, cos in self._neighbours(c, vectors[c.id], cfg.dedup_neighbours, cfg.conflict_min_cosine):
                if (other.memory_type not in cfg.conflict_types or other.valid_to is not None
                        or _redundant(other)):
                    continue
                if near_duplicate(c.content, other.content, cos, min_cosine=cfg.dedup_cosine,
                                  min_ratio=cfg.dedup_text_ratio):
                    continue
                older, newer = sorted((c, other), key=lambda x: (x.valid_from or x.created_at, x.created_at,
                                                                 x.id == c.id))
                reason = self._contradiction(older, newer)
                if reason and self.supersede(older.id, newer.id, reason=reason):
                    done += 1
                    if older.id == c.id:
                        break
        if ids is None:
            self._mark_seen(namespace, "conflicts", hot_ids)
        return done

    def _contradiction(self, older: MemCube, newer: MemCube) -> str | None:
        cfg = self.config.fuse
        if cfg.conflict_llm and self.llm.model is not None:
            answer = self.llm.ask(_CONFLICT_SYSTEM, f"OLDER: {older.content}\nNEWER: {newer.content}")
            if answer is not None:
                word = answer.strip().split()[0].strip(".,!:").upper() if answer.strip() else ""
                if word in ("YES", "NO"):
                    return "contradiction (model)" if word == "YES" else None
        return contradicts(older.content, newer.content)

    def supersede(self, old_id: str, new_id: str, *, reason: str = "superseded") -> bool:
        """Mark ``old_id`` as superseded by ``new_id``: ``valid_to`` = the new fact's start,
        ``metadata["superseded_by"]``, a history entry (reason ``"supersede"``) and an audit record.

        Both cubes stay searchable; ``as_of`` searches see the old fact only while it held.
        """
        old, new = self.memos.records.get([old_id, new_id])
        if old is None or new is None or old.valid_to is not None:
            return False
        until = new.valid_from or new.created_at
        if old.valid_from is not None and until <= old.valid_from:
            until = old.valid_from + timedelta(microseconds=1)
        planned = self._update(old, {
            "valid_to": until, "metadata": {**old.metadata, "superseded_by": new.id},
        }, "supersede")
        if not self._commit([planned], {old.id: old}):
            return False
        self.stats.superseded += 1
        self.memos.records.audit([_audit("supersede", old, self.now(), self.config.actor, reason, {"by": new.id})])
        return True

    def summarize(self, namespace: Sequence[str] = ()) -> int:
        """Fold clusters of cold episodic cubes in the long-term tier into summary cubes; returns summaries written.

        Threaded cubes are cut into topical segments of consecutive units
        (:func:`~.fuse.segment_thread`); unthreaded ones are clustered by similarity.
        A summary (memory type ``summary``, long-term tier, a deterministic key) keeps the
        provenance of every source; its sources move to the archive with status
        ``fused`` and ``metadata["fused_into"]``, where :meth:`search` reaches them
        through the summary. One transaction per batch of clusters.
        """
        cfg = self.config.fuse
        if not cfg.summarize:
            return 0
        pool = [c for c in self._cubes(namespace, tiers=(Tier.LONG_TERM,), types=cfg.summarize_types)
                if not _redundant(c) and c.status is not Status.FUSED
                and (cfg.summarize_max_heat is None or self.heat(c) < cfg.summarize_max_heat)]
        if len(pool) < cfg.cluster_min_size:
            return 0
        vectors = self.memos.records.embeddings([c.id for c in pool])
        groups: dict[tuple[tuple[str, ...], str | None], list[MemCube]] = {}
        for c in pool:
            groups.setdefault((c.namespace, c.thread_id if c.position is not None else None), []).append(c)
        clusters: list[list[MemCube]] = []
        for (_, thread), members in groups.items():
            by_id = {c.id: c for c in members}
            if thread is None:
                parts = cluster_by_similarity([(c.id, vectors.get(c.id)) for c in members],
                                              max_size=cfg.cluster_max_size, join_cosine=cfg.cluster_break_cosine)
            else:
                members.sort(key=lambda c: c.position)  # type: ignore[arg-type, return-value]
                runs: list[list[MemCube]] = [[members[0]]]
                for prev, c in zip(members, members[1:]):
                    if c.position == prev.position + 1:  # type: ignore[operator]
                        runs[-1].append(c)
                    else:
                        runs.append([c])
                parts = []
                for run in runs:
                    parts.extend(segment_thread([(c.id, vectors.get(c.id)) for c in run],
                                                max_size=cfg.cluster_max_size, min_size=cfg.cluster_min_size,
                                                break_cosine=cfg.cluster_break_cosine))
            clusters.extend([by_id[i] for i in part] for part in parts if len(part) >= cfg.cluster_min_size)
        written = 0
        for start in range(0, len(clusters), 16):
            batch = clusters[start:start + 16]
            planned: list[PlannedCube] = []
            expected: dict[str, MemCube] = {}
            for sources in batch:
                planned.extend(self._plan_summary(sources))
                expected.update({s.id: s for s in sources})
            if self._commit(planned, expected):
                written += len(batch)
                n_sources = sum(len(b) for b in batch)
                self.stats.summaries += len(batch)
                self.stats.summarized += n_sources
                self.stats.archived += n_sources
        return written

    def _plan_summary(self, sources: list[MemCube]) -> list[PlannedCube]:
        cfg = self.config.fuse
        sources = sorted(sources, key=lambda c: (c.created_at, c.position or 0, c.id))
        content = None
        if cfg.summary_llm and self.llm.model is not None:
            budget = self.llm.budget.max_input_tokens - 120
            lines = fit_texts([f"- {s.content}" for s in sources], budget)
            when = sources[0].created_at.date().isoformat()
            content = self.llm.ask(_SUMMARY_SYSTEM, f"Memories from {when}:\n" + "\n".join(lines))
        if not content:
            content = extractive_summary([s.content for s in sources], [s.importance for s in sources],
                                         cfg.summary_max_tokens)
        summary = MemCube(
            content=content, namespace=sources[0].namespace, key=summary_key([s.id for s in sources]),
            memory_type=MemoryType.SUMMARY, tier=Tier.LONG_TERM, status=Status.GENERATED,
            metadata={"summary_of": len(sources)}, created_at=sources[0].created_at,
            last_accessed_at=max((s.last_accessed_at for s in sources if s.last_accessed_at), default=None),
            importance=max(s.importance for s in sources),
            valid_from=min((s.valid_from for s in sources if s.valid_from), default=None),
            provenance=merged_provenance(sources, detach_threads=True),
            tags=tuple(dict.fromkeys(t for s in sources for t in s.tags)),
            owner=sources[0].owner, permissions=sources[0].permissions, source="lifecycle:summary",
        )
        planned = [PlannedCube.for_cube(summary, reembed=True)]
        for s in sources:
            planned.append(self._update(s, {
                "tier": Tier.ARCHIVE, "status": Status.FUSED, "metadata": {**s.metadata, "fused_into": summary.id},
            }, "summarize"))
        return planned

    # ----------------------------------------------------------------- forget
    def forget(self, namespace: Sequence[str] = (), *, by_heat: bool = True) -> dict[str, int]:
        """Forget (delete) cubes whose TTL passed, and (with ``by_heat`` and ``TierConfig.forget_heat_floor``
        set) cold, unimportant, idle cubes in ``forget_tiers``. Each deletion is audited with its reason."""
        cfg = self.config.tiers
        now = self.now()
        records = self.memos.records
        due = records.query(CubeQuery(namespace_prefix=_ns(namespace), statuses=_ALL_STATUSES,
                                      include_expired=True,
                                      cube_conditions=(Condition(("expires_at",), "$lte", now),)),
                            with_history=False)
        expired = records.delete([c.id for c in due], reason=f"forgotten: ttl expired (checked {now.isoformat()})",
                                 actor=self.config.actor) if due else []
        forgotten: list[str] = []
        if by_heat and cfg.forget_heat_floor is not None:
            tiers = [Tier(t) for t in cfg.forget_tiers]
            idle = now - timedelta(hours=cfg.forget_min_age_hours)
            conditions = (Condition(("importance",), "$lte", cfg.forget_max_importance),
                          Condition(("created_at",), "$lte", idle))
            for c in self._cubes(namespace, tiers=tiers, conditions=conditions):
                last = max(t for t in (c.last_accessed_at, c.created_at) if t is not None)
                h = self.heat(c)
                if h < cfg.forget_heat_floor and c.importance <= cfg.forget_max_importance and last <= idle:
                    why = (f"forgotten: heat {h:.3f} below floor {cfg.forget_heat_floor} "
                           f"(importance {c.importance:.2f}, idle since {last.date().isoformat()})")
                    forgotten.extend(records.delete([c.id], reason=why, actor=self.config.actor))
        gone = [*expired, *forgotten]
        self.memos.drop_derived(gone, reason="forget")  # vectors, graph traces, change listeners
        self.stats.expired += len(expired)
        self.stats.forgotten += len(forgotten)
        return {"expired": len(expired), "forgotten": len(forgotten)}

    # ------------------------------------------------------------ consolidate
    def consolidate(self, namespace: Sequence[str] = ()) -> ConsolidationReport:
        """One full pass over ``namespace``: forget expired, dedup, conflicts, rebalance,
        summarise, rebalance again, forget below the heat floor, store heat.

        Each step commits on its own and is idempotent; a pass interrupted anywhere can
        simply run again.
        """
        started = time.perf_counter()
        report = ConsolidationReport(namespace=_ns(namespace))
        with self._pass_lock:
            self.llm.reset_pass()
            archived0, forgotten0, expired0 = self.stats.archived, self.stats.forgotten, self.stats.expired
            self.forget_expired(namespace)
            report.deduplicated = self.dedup(namespace)
            report.superseded = self.resolve_conflicts(namespace)
            report.moved = self.rebalance(namespace)
            s0 = self.stats.summarized
            report.summaries = self.summarize(namespace)
            report.summarized = self.stats.summarized - s0
            report.moved += self.rebalance(namespace)
            self.forget(namespace)
            report.heat_updated = self.refresh_heat(namespace)
            report.archived = self.stats.archived - archived0
            report.forgotten = self.stats.forgotten - forgotten0
            report.expired = self.stats.expired - expired0
        report.elapsed_ms = (time.perf_counter() - started) * 1000.0
        return report

    async def aconsolidate(self, namespace: Sequence[str] = ()) -> ConsolidationReport:
        """Async twin of :meth:`consolidate`."""
        return await asyncio.to_thread(self.consolidate, namespace)

    def forget_expired(self, namespace: Sequence[str] = ()) -> int:
        """Only the TTL part of :meth:`forget`; returns cubes forgotten."""
        return self.forget(namespace, by_heat=False)["expired"]

    # ----------------------------------------------------------------- search
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
            self.memos.records.touch(ids, self.now())
        if ids and record:
            self.memos.records.record_coaccess([ids[: self.config.preload.coaccess_group]], self.now())
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
        present = set(self.memos.records.query_ids(CubeQuery(ids=frozenset(wanted), now=self.now()), order_by=None))
        units = frozenset(t for t in MemoryType if t is not MemoryType.SUMMARY)
        candidates = set(self.memos.records.query_ids(
            CubeQuery(namespace_prefix=_ns(namespace), tiers=frozenset(HOT_TIERS), types=units, now=self.now()),
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
            records = self.memos.records
            scope = CubeQuery(namespace_prefix=_ns(namespace), now=self.now())
            speakers = {str(s).lower() for s in records.distinct_metadata(scope, "speaker", limit=100)}
            terms: list[str] = []
            for t in texts:
                for entity in analyze_query(t).entities:
                    for word in entity.split():
                        if word.lower() not in speakers and word.lower() not in terms:
                            terms.append(word.lower())
            if terms:
                for h in records.keyword_search(terms, scope, cfg.entity_k):
                    picks.setdefault(h.id, "entity")
        if intent and cfg.coaccess_k:
            added = 0
            for h in self.memos.records.coaccessed(intent[:5], limit=cfg.coaccess_k * 3):
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

    # ------------------------------------------------------------------ views
    def tier_counts(self, namespace: Sequence[str] = ()) -> dict[str, int]:
        """How many cubes each tier holds under ``namespace``."""
        counts = {t.value: 0 for t in Tier}
        for t in Tier:
            counts[t.value] = self.memos.records.count(CubeQuery(namespace_prefix=_ns(namespace),
                                                                 tiers=frozenset({t}), now=self.now()))
        return counts


def _fit_budget(hits: list[Any], max_tokens: int) -> list[Any]:
    """Keep hits in order while their rendered texts fit ``max_tokens`` (as ``MemOS.search`` does)."""
    from ..render import count_tokens, render_memory

    out, used = [], 0
    for h in hits:
        n = count_tokens(render_memory(h.cube))
        if used + n <= max_tokens:
            out.append(SearchHit(cube=h.cube, score=h.score, reasons=h.reasons, rank=len(out) + 1))
            used += n
    return out


def _audit(action: str, cube: MemCube, at: datetime, actor: str, reason: str, detail: dict[str, Any]) -> Any:
    from ..storage.base import AuditRecord

    return AuditRecord(action=action, cube_id=cube.id, namespace=cube.namespace, at=at, actor=actor, reason=reason,
                       detail=detail)


__all__ = ["ConsolidationReport", "LifecycleStats", "MemLifecycle", "PreloadResult"]
