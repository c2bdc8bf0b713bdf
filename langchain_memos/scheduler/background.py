"""MemScheduler: lifecycle jobs on a background thread with a bounded queue.

Jobs are small, idempotent units (:class:`Job`); each of their steps commits in
one MemOS transaction, so a process that stops mid-job loses no acknowledged
write and the next run redoes what was left. The scheduler:

* runs jobs one at a time on one daemon thread, from a bounded ``queue.Queue``
  (``submit`` blocks while it is full, or raises :class:`SchedulerFullError`);
* coalesces a job with an equal ``key`` that is still queued (two "consolidate
  namespace X" requests run once);
* optionally consolidates the configured namespaces every ``period_s``;
* reports :meth:`MemScheduler.status` and waits with :meth:`MemScheduler.wait`;
* shuts down cleanly: the running job finishes, queued ones run (or are cancelled).

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     with MemScheduler(memos) as scheduler:
    ...         ids = scheduler.add(["Alice likes tea"], ("u",), thread="t1")
    ...         handle = scheduler.consolidate(("u",))
    ...         scheduler.wait(10)
    ...         handle.result().namespace
    True
    ('u',)
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

from ..errors import MemOSError


class SchedulerFullError(MemOSError):
    """The scheduler's queue is full; wait (``MemScheduler.wait``), submit with ``block=True``, or raise ``queue_size``."""


class SchedulerClosedError(MemOSError):
    """The scheduler was shut down; create a new one to run more jobs."""


@dataclass(frozen=True)
class SchedulerConfig:
    """Settings of a :class:`MemScheduler`.

    Attributes:
        queue_size: Most jobs waiting at once (the queue is bounded).
        period_s: Consolidate ``namespaces`` every this many seconds when idle (``None``: only on request).
        namespaces: Namespace prefixes the periodic consolidation covers.
        lifecycle: The lifecycle policy (heat, tiers, fuse, preload), used when the
            scheduler builds its own :class:`~langchain_memos.lifecycle.MemLifecycle`.
    """

    queue_size: int = 64
    period_s: float | None = None
    namespaces: tuple[tuple[str, ...], ...] = ((),)
    lifecycle: Any = None

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"SchedulerConfig.queue_size must be >= 1, got {self.queue_size}")
        if self.period_s is not None and not self.period_s > 0:
            raise ValueError(f"SchedulerConfig.period_s must be > 0 or None, got {self.period_s}")


@dataclass
class Job:
    """One unit of background work.

    Attributes:
        kind: A label (``"consolidate"``, ``"preload"``, ``"fuse"``...).
        run: The work: called with the :class:`~langchain_memos.lifecycle.MemLifecycle`.
        key: Jobs with the same key coalesce while queued (``None``: never).
    """

    kind: str
    run: Callable[[Any], Any]
    key: str | None = None


def consolidate_job(namespace: Sequence[str] = ()) -> Job:
    """A full lifecycle pass over ``namespace`` (see ``MemLifecycle.consolidate``)."""
    ns = tuple(namespace)
    return Job("consolidate", lambda life: life.consolidate(ns), key=f"consolidate:{ns!r}")


def preload_job(namespace: Sequence[str], thread: str, query: str | None = None,
                recent: Sequence[str] = ()) -> Job:
    """Predict and pull into ``thread``'s working set what the next step needs."""
    ns, rec = tuple(namespace), tuple(recent)
    return Job("preload", lambda life: life.preload(ns, thread, query=query, recent=rec),
               key=f"preload:{ns!r}:{thread}")


def fuse_job(ids: Sequence[str]) -> Job:
    """Write-time fusion (dedup, conflicts) of just-written cubes."""
    ids = tuple(ids)
    return Job("fuse", lambda life: life.fuse_new(ids))


def expire_job(namespace: Sequence[str] = ()) -> Job:
    """Forget what expired (TTL) and, when configured, what fell below the heat floor."""
    ns = tuple(namespace)
    return Job("expire", lambda life: life.forget(ns), key=f"expire:{ns!r}")


class JobHandle:
    """The state and result of a submitted job (a small future).

    Attributes:
        job: The job.
        state: ``"queued"``, ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
        submitted_at / started_at / finished_at: ``time.time()`` stamps (``None`` until reached).
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.state = "queued"
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()

    def __repr__(self) -> str:
        return f"JobHandle({self.job.kind!r}, state={self.state!r})"

    def done(self) -> bool:
        """Whether it finished (done, failed or cancelled)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished; False on timeout."""
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """The job's return value (re-raises its error; ``TimeoutError`` if not finished in time)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.job.kind!r} did not finish within {timeout}s")
        if self.state == "cancelled":
            raise SchedulerClosedError(f"job {self.job.kind!r} was cancelled at shutdown")
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> BaseException | None:
        """The job's error, if it failed."""
        return self._error

    def _finish(self, state: str, result: Any = None, error: BaseException | None = None) -> None:
        self.state, self._result, self._error = state, result, error
        self.finished_at = time.time()
        self._done.set()


@dataclass
class SchedulerStatus:
    """A snapshot of a :class:`MemScheduler`.

    Attributes:
        running: The worker thread is alive and accepting jobs.
        queued: Jobs waiting.
        in_flight: The kind of the job running now, or ``None``.
        submitted / completed / failed / cancelled / coalesced: Counters.
        last_error: The last job error (type, message and the top of the traceback).
        jobs: Completed jobs per kind.
        lifecycle: The lifecycle's running totals (``LifecycleStats.to_dict()``).
    """

    running: bool
    queued: int
    in_flight: str | None
    submitted: int
    completed: int
    failed: int
    cancelled: int
    coalesced: int
    last_error: str | None
    jobs: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, Any] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        """Nothing queued or running."""
        return self.queued == 0 and self.in_flight is None


_STOP = object()


class MemScheduler:
    """Runs lifecycle jobs for one MemOS on a background thread.

    Args:
        target: A :class:`~langchain_memos.memos.MemOS` (a
            :class:`~langchain_memos.lifecycle.MemLifecycle` is built for it) or a ``MemLifecycle``.
        config: Queue size, periodic consolidation, lifecycle policy.
        model: Optional chat model for the lifecycle's LLM stages (when it builds one).
        clock: The lifecycle clock (when it builds one).
        warmer: An ``ActivationManager`` (or any callable) refreshed when the activation tier changes.
        start: Start the worker thread now.
    """

    def __init__(self, target: Any, config: SchedulerConfig | None = None, *, model: Any | None = None,
                 clock: Callable[[], datetime] | None = None, warmer: Any | None = None, start: bool = True) -> None:
        from ..lifecycle import MemLifecycle

        self.config = config or SchedulerConfig()
        if isinstance(target, MemLifecycle):
            self.lifecycle = target
            if warmer is not None:
                target.add_activation_listener(warmer)
        else:
            self.lifecycle = MemLifecycle(target, self.config.lifecycle, model=model, clock=clock,
                                          on_activation_change=warmer)
        self.memos = self.lifecycle.memos
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        self._cond = threading.Condition()
        self._pending: dict[str, JobHandle] = {}
        self._unfinished = 0
        self._in_flight: JobHandle | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._counts = {"submitted": 0, "completed": 0, "failed": 0, "cancelled": 0, "coalesced": 0}
        self._by_kind: dict[str, int] = {}
        self._last_error: str | None = None
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._closed:
                raise SchedulerClosedError("this scheduler was shut down; create a new MemScheduler")
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="memos-scheduler", daemon=True)
            self._thread.start()

    def shutdown(self, wait: bool = True, timeout: float | None = None, *, cancel_pending: bool = False) -> bool:
        """Stop accepting jobs and stop the worker.

        Args:
            wait: Block until the worker has stopped (the running job always finishes).
            timeout: Most seconds to wait.
            cancel_pending: Cancel queued jobs instead of running them first.

        Returns:
            True when the worker has stopped (or never ran).
        """
        with self._cond:
            if not self._closed:
                self._closed = True
                if cancel_pending:
                    self._drain()
        thread = self._thread
        if thread is None:
            self._drain()
            return True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        if wait:
            thread.join(timeout)
        return not thread.is_alive()

    def close(self) -> None:
        """``shutdown(wait=True)``."""
        self.shutdown(wait=True)

    def __enter__(self) -> "MemScheduler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    # ------------------------------------------------------------------ jobs
    def submit(self, job: Job | Callable[[Any], Any], *, block: bool = True,
               timeout: float | None = None) -> JobHandle:
        """Queue a job (a :class:`Job` or a callable taking the lifecycle).

        A job whose ``key`` equals a still-queued job's returns that job's handle.

        Raises:
            SchedulerFullError: The queue stayed full (``block=False``, or past ``timeout``).
            SchedulerClosedError: After :meth:`shutdown`.
        """
        if not isinstance(job, Job):
            if not callable(job):
                raise TypeError("submit() takes a Job or a callable that accepts the MemLifecycle")
            job = Job(getattr(job, "__name__", "job"), job)
        with self._cond:
            if self._closed:
                raise SchedulerClosedError("this scheduler was shut down; create a new MemScheduler")
            if job.key is not None and job.key in self._pending:
                self._counts["coalesced"] += 1
                return self._pending[job.key]
            handle = JobHandle(job)
            self._unfinished += 1
            if job.key is not None:
                self._pending[job.key] = handle
        try:
            self._queue.put(handle, block=block, timeout=timeout)
        except queue.Full:
            with self._cond:
                self._unfinished -= 1
                if job.key is not None and self._pending.get(job.key) is handle:
                    del self._pending[job.key]
                self._cond.notify_all()
            raise SchedulerFullError(f"the scheduler queue is full ({self.config.queue_size} jobs); "
                                     "wait() for it to drain, submit with block=True, or raise queue_size") from None
        with self._cond:
            self._counts["submitted"] += 1
        if self._thread is None or not self._thread.is_alive():
            self.start()
        return handle

    def consolidate(self, namespace: Sequence[str] = (), **kwargs: Any) -> JobHandle:
        """Queue a consolidation pass over ``namespace``."""
        return self.submit(consolidate_job(namespace), **kwargs)

    def preload(self, namespace: Sequence[str], thread: str, query: str | None = None,
                recent: Sequence[str] = (), **kwargs: Any) -> JobHandle:
        """Queue a preload for ``thread`` (see ``MemLifecycle.preload``)."""
        return self.submit(preload_job(namespace, thread, query, recent), **kwargs)

    def expire(self, namespace: Sequence[str] = (), **kwargs: Any) -> JobHandle:
        """Queue forgetting of expired (and, if configured, too cold) cubes."""
        return self.submit(expire_job(namespace), **kwargs)

    def add(self, items: Any, namespace: Sequence[str], *, thread: str | None = None, **options: Any) -> list[str]:
        """Write now (the ids are acknowledged when this returns), then fuse them in the background.

        With ``thread`` the new cubes also join that thread's working set (right away).
        """
        ids = self.lifecycle.add(items, namespace, thread=thread, fuse=False, **options)
        if ids:
            self.submit(fuse_job(ids))
        return ids

    def search(self, query: str, namespace: Sequence[str] = (), k: int = 10, **options: Any) -> list[Any]:
        """``MemLifecycle.search`` on the caller's thread (summaries expand into archived sources)."""
        return self.lifecycle.search(query, namespace, k, **options)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._unfinished > 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def status(self) -> SchedulerStatus:
        """A snapshot of the queue, the counters and the lifecycle totals."""
        with self._cond:
            alive = self._thread is not None and self._thread.is_alive()
            return SchedulerStatus(
                running=alive and not self._closed, queued=self._queue.qsize(),
                in_flight=self._in_flight.job.kind if self._in_flight is not None else None,
                last_error=self._last_error, jobs=dict(self._by_kind),
                lifecycle=self.lifecycle.stats.to_dict(), **self._counts)

    # ------------------------------------------------------------------ worker
    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, JobHandle):
                with self._cond:
                    if item.job.key is not None and self._pending.get(item.job.key) is item:
                        del self._pending[item.job.key]
                    self._counts["cancelled"] += 1
                    self._unfinished -= 1
                    self._cond.notify_all()
                item._finish("cancelled")

    def _periodic(self) -> None:
        for ns in self.config.namespaces:
            try:
                self.submit(consolidate_job(ns), block=False)
            except (SchedulerFullError, SchedulerClosedError):
                return

    def _run(self) -> None:
        period = self.config.period_s
        while True:
            try:
                item = self._queue.get(timeout=period) if period else self._queue.get()
            except queue.Empty:
                with self._cond:
                    closed = self._closed
                if not closed:
                    self._periodic()
                continue
            if item is _STOP:
                return
            handle: JobHandle = item
            with self._cond:
                if handle.job.key is not None and self._pending.get(handle.job.key) is handle:
                    del self._pending[handle.job.key]
                self._in_flight = handle
            handle.state = "running"
            handle.started_at = time.time()
            try:
                result = handle.job.run(self.lifecycle)
            except BaseException as exc:  # a failing job never stops the scheduler
                tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                with self._cond:
                    self._counts["failed"] += 1
                    self._last_error = f"{handle.job.kind}: {tb}"
                handle._finish("failed", error=exc)
            else:
                with self._cond:
                    self._counts["completed"] += 1
                    self._by_kind[handle.job.kind] = self._by_kind.get(handle.job.kind, 0) + 1
                handle._finish("done", result=result)
            finally:
                with self._cond:
                    self._in_flight = None
                    self._unfinished -= 1
                    self._cond.notify_all()


__all__ = [
    "Job",
    "JobHandle",
    "MemScheduler",
    "SchedulerClosedError",
    "SchedulerConfig",
    "SchedulerFullError",
    "SchedulerStatus",
    "consolidate_job",
    "expire_job",
    "fuse_job",
    "preload_job",
]
