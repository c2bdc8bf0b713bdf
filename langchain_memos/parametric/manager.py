"""ParametricMemory: distillation, the adapter store, staleness and the scheduler, wired to one MemOS.

* :meth:`ParametricMemory.distill` trains the namespace's next adapter from its eligible
  cubes (:mod:`.policy`); :meth:`~ParametricMemory.distill_if_due` only when the policy
  says so; :meth:`~ParametricMemory.schedule` queues that as a scheduler job.
* It listens to the MemOS's change events: a write or delete that supersedes, changes or
  forgets a source cube marks the adapters built from it stale at once (:mod:`.staleness`);
  with a scheduler, each affected namespace gets a distill job (the rebuild), and writes
  and tier moves in a namespace (e.g. cubes reaching the long-term tier) queue a check
  whether a (new) adapter is due. A registry
  (:class:`~.registry.AdapterRegistry`) stops serving stale adapters at its next switch;
  :meth:`~ParametricMemory.refresh_stale` also checks the record store itself and unmounts.

Example (slow: trains a model)::

    parametric = ParametricMemory(memos, "adapters", scheduler=scheduler, registry=registry)
    parametric.schedule(("users", "alice"))      # distils when enough stable cubes exist
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any, Callable, Sequence

from ..cube import MemCube, utcnow
from ..events import MemChange
from .distill import Distiller
from .errors import NoTrainingDataError, ParametricError
from .jobs import distill_job
from .manifest import AdapterManifest
from .policy import DistillDecision, DistillPolicy, distill_decision, eligible_cubes
from .staleness import mark_for_change, reconcile
from .store import AdapterStore
from .train import LoRASettings


class ParametricMemory:
    """Per-namespace LoRA adapters distilled from one MemOS's long-term memory.

    Args:
        memos: The :class:`~langchain_memos.memos.MemOS`.
        store: An :class:`~.store.AdapterStore` or its root directory.
        distiller: How adapters are trained (default: a :class:`~.distill.Distiller` built
            from ``base_model``, ``settings`` and ``replay``).
        policy: Which cubes, and when (:class:`~.policy.DistillPolicy`).
        registry: The serving :class:`~.registry.AdapterRegistry`, if any.
        scheduler: A :class:`~langchain_memos.scheduler.MemScheduler` for distill jobs.
        rebuild_stale: Queue a distill job for a namespace whose adapter went stale (needs ``scheduler``).
        watch_writes: Queue a distill check for namespaces that get writes (needs ``scheduler``).
        clock: "Now" for the policy (default: the wall clock).
    """

    def __init__(self, memos: Any, store: AdapterStore | str | os.PathLike, *, distiller: Distiller | None = None,
                 base_model: str | os.PathLike | None = None, settings: LoRASettings | None = None,
                 replay: Sequence[str] = (), policy: DistillPolicy | None = None, registry: Any = None,
                 scheduler: Any = None, rebuild_stale: bool = True, watch_writes: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.memos = memos
        self.store = store if isinstance(store, AdapterStore) else AdapterStore(store)
        self.distiller = distiller or Distiller(self.store, base_model=base_model, settings=settings, replay=replay)
        self.policy = policy or DistillPolicy()
        self.registry = registry
        self.scheduler = scheduler
        self.rebuild_stale = rebuild_stale
        self.watch_writes = watch_writes
        self.clock = clock or utcnow
        self._distill_lock = threading.Lock()
        self._unsubscribe = memos.on_change(self._on_change)
        memos.add_forget_hook(self._erase)

    def close(self) -> None:
        """Stop listening to the MemOS (idempotent)."""
        self._unsubscribe()
        if self._erase in self.memos.forget_hooks:
            self.memos.forget_hooks.remove(self._erase)

    def _erase(self, request: Any) -> None:
        """A ``MemOS.delete_user`` / ``forget_namespace`` hook: delete (and unmount) every adapter of an erased
        namespace or distilled from an erased cube, so no weights keep what was forgotten."""
        prefixes = [tuple(p) for p in request.namespaces]
        doomed = {m.adapter_id: m for m in self.store.built_from(request.cube_ids, include_stale=True)}
        for manifest in self.store.all():
            if any(tuple(manifest.namespace[:len(p)]) == p for p in prefixes):
                doomed[manifest.adapter_id] = manifest
        for manifest in doomed.values():
            if self.registry is not None:
                self.registry.unmount(manifest.namespace)
            self.store.delete(manifest)

    def __enter__(self) -> "ParametricMemory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ distillation
    def decision(self, namespace: Sequence[str]) -> DistillDecision:
        """Whether ``namespace`` is due for a (new) adapter, and from which cubes."""
        return distill_decision(self.memos, self.store, namespace, self.policy, self.clock())

    def distill(self, namespace: Sequence[str], cubes: Sequence[MemCube] | None = None) -> AdapterManifest:
        """Train and store the namespace's next adapter (from ``cubes``, default its eligible cubes).

        Sources that changed while it trained mark it stale at once.

        Raises:
            NoTrainingDataError: No eligible cubes.
        """
        namespace = tuple(namespace)
        if cubes is None:
            cubes = eligible_cubes(self.memos, namespace, self.policy, self.clock())
        if not cubes:
            raise NoTrainingDataError(f"no eligible cubes in {namespace!r} (policy {self.policy}); fix: add persona, "
                                      "preference or fact cubes to the long-term tier, or pass cubes")
        with self._distill_lock:
            manifest = self.distiller.distill(namespace, cubes)
        stale = reconcile(self.store, self.memos.engine.load, [namespace])
        return next((m for m in stale if m.version == manifest.version), manifest)

    def distill_if_due(self, namespace: Sequence[str], *, force: bool = False) -> AdapterManifest | None:
        """Distill when :meth:`decision` says so (or always with ``force``); ``None`` when not due."""
        decision = self.decision(namespace)
        if not (decision.due or (force and decision.cubes)):
            return None
        return self.distill(namespace, decision.cubes)

    def schedule(self, namespace: Sequence[str], *, force: bool = False, **submit: Any) -> Any:
        """Queue :meth:`distill_if_due` on the scheduler; returns the job handle.

        Raises:
            ParametricError: No scheduler was given.
        """
        if self.scheduler is None:
            raise ParametricError("no scheduler to run the distill job; fix: pass scheduler=MemScheduler(memos), "
                                  "or call distill_if_due() directly")
        return self.scheduler.submit(distill_job(self, namespace, force=force), **submit)

    # ------------------------------------------------------------------ staleness
    def refresh_stale(self, namespaces: Sequence[Sequence[str]] | None = None) -> list[AdapterManifest]:
        """Check adapters against the record store: mark stale ones, unmount them, queue rebuilds; returns them."""
        marked = reconcile(self.store, self.memos.engine.load, namespaces)
        if self.registry is not None:
            self.registry.unmount_stale()
        self._rebuild(marked)
        return marked

    def _rebuild(self, marked: Sequence[AdapterManifest]) -> None:
        if self.rebuild_stale and self.scheduler is not None:
            for namespace in dict.fromkeys(m.namespace for m in marked):
                self._try_submit(namespace)

    def _try_submit(self, namespace: Sequence[str]) -> None:
        from ..scheduler.background import SchedulerClosedError, SchedulerFullError

        try:
            self.schedule(namespace, block=False)
        except (SchedulerFullError, SchedulerClosedError):
            pass  # a later write, refresh_stale() or schedule() queues it again

    def _on_change(self, change: MemChange) -> None:
        """The MemOS listener: mark stale adapters, queue rebuilds and distill checks (quick; no training here)."""
        self._rebuild(mark_for_change(self.store, change))
        if self.watch_writes and self.scheduler is not None:
            for namespace in dict.fromkeys(c.namespace for c in change.written):
                self._try_submit(namespace)


__all__ = ["ParametricMemory"]
