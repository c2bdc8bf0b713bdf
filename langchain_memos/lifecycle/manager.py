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
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from ..cube import HOT_TIERS, MemCube, MemoryType, Status, Tier, to_utc, utcnow
from ..engine import apply_update, embed_texts, retire
from ..filters import Condition
from ..ingest import PlannedCube
from ..policy.heat import cube_heat
from ..policy.llm_budget import BudgetedLLM
from ..policy.tiers import capacity_moves, rebalance_moves, working_evictions
from ..storage.base import CubeQuery, TierMove
from .config import LifecycleConfig
from .fusing import FusionSteps
from .recall import RecallSteps
from .reports import ConsolidationReport, LifecycleStats, PreloadResult

if TYPE_CHECKING:  # pragma: no cover
    from ..memos import MemOS

_ALL_STATUSES = frozenset(Status)


def _ns(namespace: Sequence[str]) -> tuple[str, ...]:
    return tuple(namespace)


class MemLifecycle(FusionSteps, RecallSteps):
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

    def __init__(self, memos: MemOS, config: LifecycleConfig | None = None, *, model: Any | None = None,
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
        return self.memos.engine.cubes(query, with_history=False, order_by="created_at ASC")

    def _live(self, namespace: Sequence[str]) -> list[MemCube]:
        """The hot tiers' cubes plus archived cubes that were ever accessed (the only archived ones
        whose heat can matter), so a pass never scans the whole archive."""
        hot = self._cubes(namespace, tiers=HOT_TIERS)
        used = self._cubes(namespace, tiers=(Tier.ARCHIVE,), conditions=(Condition(("access_count",), "$gt", 0),))
        return hot + used

    def _query_vector(self, text: str) -> list[float] | None:
        """The query embedding of ``text`` (``None`` for an empty one); the engine keeps it
        (:attr:`~langchain_memos.engine.MemoryEngine.query_vectors`), so a preload's embedding is
        reused by the search after it."""
        return self.memos.embed_query(text) if text.strip() else None

    def clear_query_cache(self) -> None:
        """Forget the kept query embeddings (the engine's: :attr:`~langchain_memos.engine.MemoryEngine.query_vectors`)."""
        self.memos.engine.query_vectors.clear()

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
        self.memos.engine.set_heat(changed)
        return len(changed)

    def touch(self, ids: Sequence[str]) -> None:
        """Count one access (a read) for each id on the lifecycle clock."""
        if ids:
            self.memos.engine.touch(list(ids), self.now())

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
            if self.memos.engine.count(query) <= cap:
                continue
            cubes = self._cubes(namespace, tiers=(tier,))
            moves = capacity_moves(tier, cubes, self.heat, cap, down)
            moved += len(self._move(moves, {c.id: c.tier for c in cubes}))
        return moved

    def working_set(self, thread: str, namespace: Sequence[str] = ()) -> list[str]:
        """Ids in ``thread``'s working set, oldest join first."""
        return [cube_id for _, cube_id, _ in self.memos.engine.working_set(_ns(namespace), thread)]

    def _enforce_working(self, namespace: Sequence[str], thread: str | None = None,
                         protect: set[str] | None = None) -> list[str]:
        cap = self.config.tiers.working_capacity
        members = self.memos.engine.working_set(_ns(namespace), thread)
        if cap is None or not members:
            return []
        cubes = {c.id: c for c in self._cubes((), ids={m[1] for m in members})}
        moves = working_evictions(members, cubes, self.heat, cap, protect)
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
        heat = {c.id: self.heat(c) for c in cubes}
        planned, act_before = rebalance_moves(cubes, heat, cfg)
        moves = {m.id: m for m in planned}
        done = self._move(planned, {c.id: c.tier for c in cubes})
        if any(i in act_before or moves[i].tier is Tier.ACTIVATION for i in done):
            self._notify_activation()
        return moved + len(done)

    # ----------------------------------------------------------------- forget
    def forget(self, namespace: Sequence[str] = (), *, by_heat: bool = True) -> dict[str, int]:
        """Forget (delete) cubes whose TTL passed, and (with ``by_heat`` and ``TierConfig.forget_heat_floor``
        set) cold, unimportant, idle cubes in ``forget_tiers``. Each deletion is audited with its reason."""
        cfg = self.config.tiers
        now = self.now()
        due = self.memos.engine.cube_ids(CubeQuery(namespace_prefix=_ns(namespace), statuses=_ALL_STATUSES,
                                                   include_expired=True,
                                                   cube_conditions=(Condition(("expires_at",), "$lte", now),)),
                                         order_by="created_at ASC")
        cold: list[tuple[list[str], str]] = []
        if by_heat and cfg.forget_heat_floor is not None:
            tiers = [Tier(t) for t in cfg.forget_tiers]
            idle = now - timedelta(hours=cfg.forget_min_age_hours)
            conditions = (Condition(("importance",), "$lte", cfg.forget_max_importance),
                          Condition(("created_at",), "$lte", idle))
            for c in self._cubes(namespace, tiers=tiers, conditions=conditions):
                last = max(t for t in (c.last_accessed_at, c.created_at) if t is not None)
                h = self.heat(c)
                if h < cfg.forget_heat_floor and c.importance <= cfg.forget_max_importance and last <= idle:
                    cold.append(([c.id], f"forgotten: heat {h:.3f} below floor {cfg.forget_heat_floor} "
                                         f"(importance {c.importance:.2f}, idle since {last.date().isoformat()})"))
        # audited deletes, then vectors, graph traces and change listeners of all of them
        gone = retire(self.memos.engine, [(due, f"forgotten: ttl expired (checked {now.isoformat()})"), *cold],
                      actor=self.config.actor, reason="forget")
        expired = len(set(gone) & set(due))
        self.stats.expired += expired
        self.stats.forgotten += len(gone) - expired
        return {"expired": expired, "forgotten": len(gone) - expired}

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

    # ------------------------------------------------------------------ views
    def tier_counts(self, namespace: Sequence[str] = ()) -> dict[str, int]:
        """How many cubes each tier holds under ``namespace``."""
        counts = {t.value: 0 for t in Tier}
        for t in Tier:
            counts[t.value] = self.memos.engine.count(CubeQuery(namespace_prefix=_ns(namespace),
                                                                 tiers=frozenset({t}), now=self.now()))
        return counts


__all__ = ["ConsolidationReport", "LifecycleStats", "MemLifecycle", "PreloadResult"]
