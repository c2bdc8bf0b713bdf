"""Build the embedded vector index on a second core: a worker process that owns the index.

Building an HNSW graph is most of a bulk write's cost (faiss 60-120 us a vector, Chroma's
persistent client about 270, holding Python's GIL). :class:`WorkerVectorIndex` moves the
persistent index (:func:`~langchain_memos.storage.index_spec.open_index`: faiss or Chroma)
into a child process instead: the caller commits cubes and their
embeddings to SQLite (the source of truth) and only *tells* the worker to index
(:func:`~langchain_memos.storage.sync.index_pending`, run in the worker with its
own SQLite connection), then goes on with the next batch while the worker builds
the graph on another core. At most :data:`MAX_IN_FLIGHT` index requests are
outstanding, so the index never falls far behind.

The worker also runs the vector stage of a large scope
(:meth:`WorkerVectorIndex.vector_candidates`: the index query, then which of its ids
match the query's scope and filters, read from its own SQLite connection), so that
stage runs on the worker's core beside the keyword search in this process, and only
the matching pool crosses the pipe.

Reads stay exact: the worker serves every request in order over one pipe, so a
search sent after a write runs after that write's indexing; until a row is
confirmed indexed, ``MemOS`` also scores it exactly from the record store.

The worker starts lazily: an index begins inline (in-process, the same engine) and hands over to a
worker once ``start_after`` vectors have been indexed through it, so small and
short-lived stores never start a process. If the worker cannot start or dies,
the index falls back inline (in this process) and logs a warning; rows
the worker had not confirmed are still flagged in SQLite and are indexed again.
The worker is a plain ``python -m langchain_memos.storage.index_worker`` child
(never ``multiprocessing``, which would re-import the caller's ``__main__``); it
exits when its pipe closes, including when this process dies. POSIX only
(elsewhere the index stays inline).

Example:
    >>> from langchain_memos.storage.index_worker import worker_supported
    >>> isinstance(worker_supported(), bool)
    True
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .. import errors as _errors
from ..errors import StorageError
from ..cube import utcnow
from .base import CubeQuery, RecordStore, ScoredId, VectorIndex
from .index_spec import WorkerSpec, open_index
from .keyword_mirror import KeywordMirror
from .packing import pack_hits, unpack_hits
from .sync import index_pending, learn_rids

log = logging.getLogger(__name__)

#: Index requests a writer may have outstanding before it waits for the worker.
MAX_IN_FLIGHT = 2

#: Vectors indexed in-process before an index hands over to its worker (``MemOSConfig.index_worker_after``).
DEFAULT_START_AFTER = 5000

#: Seconds to wait for a new worker's interpreter to answer, then for it to open its engines.
HELLO_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0


def worker_supported() -> bool:
    """Whether this platform can run the index worker (POSIX: the pipe is passed as a file descriptor)."""
    return os.name == "posix"


# --------------------------------------------------------------------------- child side
def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` where ``/proc`` has it: ``ru_maxrss`` of a process started by fork and
    exec also counts the pages its parent had at the fork. Elsewhere ``ru_maxrss``
    (bytes on macOS, KiB on Linux).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def serve(conn: Connection, spec: WorkerSpec) -> None:
    """The worker's loop: open the engines, then answer requests in order until the pipe closes."""
    from .sqlite import SQLiteRecordStore

    from ..engine.vector_steps import VectorSteps  # at run time: engine imports storage, not the reverse

    records = SQLiteRecordStore(spec.sqlite_path, busy_timeout_s=spec.busy_timeout_s)
    records.setup()
    vectors = open_index(spec)
    steps = VectorSteps()
    steps.records, steps.vectors = records, vectors
    mirror = KeywordMirror(records)  # built beside the requests; until then keyword searches go to FTS5
    threading.Thread(target=mirror.build, name="memos-keyword-mirror", daemon=True).start()
    threading.Thread(target=_learn_rids, args=(records, vectors), name="memos-learn-rids", daemon=True).start()

    def index() -> int | None:
        indexed = index_pending(records, vectors, wait=True)
        mirror.catch_up()
        return indexed

    def keyword(cq: CubeQuery, terms: list[str], k: int, weights: list[float] | None) -> Any:
        found = mirror.search(terms, cq, k, weights)
        return None if found is None else pack_hits(found)

    handlers: dict[str, Callable[..., Any]] = {
        "index": index,
        "keyword": keyword,
        "candidates": lambda cq, embedding, pool, bound: pack_hits(steps.vector_candidates(cq, embedding, pool,
                                                                                           bound=bound)),
        "upsert": vectors.upsert,
        "delete": vectors.delete,
        "search": lambda embedding, k, kwargs: pack_hits(vectors.search(embedding, k, **kwargs)),
        "ids": vectors.ids,
        "count": vectors.count,
        "reset": vectors.reset,
        "peak_rss_mb": peak_rss_mb,
    }
    # what is alive now (the engines, their modules) lives as long as the worker: a full collection
    # that walks it took 40-60 ms in the middle of a search at 100k vectors; the collector skips it
    gc.freeze()
    conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):
                return  # the owner closed the pipe or died
            if op == "close":
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", handlers[op](*args)))
            except Exception as exc:  # every failure goes back to the caller, typed
                conn.send(("error", (type(exc).__name__, str(exc))))
    finally:
        vectors.close()
        records.close()


def _learn_rids(records: Any, vectors: Any) -> None:
    """:func:`~.sync.learn_rids` beside the requests: an index written before rids were kept answers through the
    paths without rids until it has learned them; a failure leaves it there."""
    try:
        learn_rids(records, vectors)
    except Exception as exc:  # noqa: BLE001 - nothing waits for it
        log.warning("langchain-memos: the index could not learn its vectors' rids (%s); filtered searches take "
                    "the paths without them", exc)


def _child_main() -> None:
    """Entry point of ``python -m langchain_memos.storage.index_worker FD``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides when to stop (it closes the pipe)
    conn = Connection(int(sys.argv[1]))
    kind, payload = conn.recv()
    if kind != "spec":
        raise SystemExit(f"index worker: expected a spec, got {kind!r}")
    conn.send(("started", os.getpid()))
    try:
        spec = WorkerSpec(**payload)
        serve(conn, spec)
    except Exception as exc:  # opening failed: tell the owner why, then exit
        try:
            conn.send(("error", (type(exc).__name__, str(exc))))
        except OSError:
            pass
        raise SystemExit(1) from exc


# --------------------------------------------------------------------------- owner side
def _rebuild_error(name: str, message: str) -> Exception:
    """The worker's exception as the same typed error here (any other type becomes a StorageError)."""
    cls = getattr(_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, _errors.MemOSError) and cls is not _errors.GraphIngestError:
        return cls(message)
    return StorageError(f"the index worker failed: {name}: {message}")


class WorkerDied(Exception):
    """The worker's pipe broke (it exited or was killed); internal, never leaves this module."""


class _Worker:
    """One child process and its pipe; every call holds the owner's lock."""

    def __init__(self, spec: WorkerSpec) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            # its own session: a Ctrl-C in the terminal reaches the owner, which then closes the pipe
            self.process = subprocess.Popen(
                [sys.executable, "-m", "langchain_memos.storage.index_worker", str(child.fileno())],
                pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                close_fds=True, start_new_session=True)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.conn = Connection(os.dup(parent.fileno()))
        parent.close()
        self.in_flight = 0
        try:
            self.send("spec", asdict(spec))
            # two steps: the interpreter answers at once, opening the engines may take longer
            for step, timeout in (("started", HELLO_TIMEOUT_S), ("ready", START_TIMEOUT_S)):
                if not self.conn.poll(timeout):
                    raise StorageError(f"the index worker was not {step} within {timeout:g}s")
                kind, payload = self._recv()
                if kind == "error":
                    raise _rebuild_error(*payload)
        except BaseException:
            self.kill()
            raise

    def _recv(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerDied(str(exc) or "the pipe closed") from exc

    def send(self, op: str, args: Any = ()) -> None:
        try:
            self.conn.send((op, args))
        except (OSError, ValueError) as exc:
            raise WorkerDied(str(exc) or "the pipe closed") from exc

    def reply(self) -> Any:
        """The next reply, in request order; a failure comes back as the typed error."""
        kind, payload = self._recv()
        if kind == "error":
            raise _rebuild_error(*payload)
        return payload

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """Let the worker finish what is queued, then stop it (killed if it does not answer)."""
        try:
            self.send("close")
            for _ in range(self.in_flight + 1):  # outstanding index replies, then the close
                if not self.conn.poll(START_TIMEOUT_S):
                    break
                self._recv()
        except WorkerDied:
            pass
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WorkerVectorIndex:
    """A persistent vector index (faiss or Chroma) whose writes and reads run in a worker process once it is busy.

    It implements :class:`~langchain_memos.storage.base.VectorIndex` plus
    :meth:`index_pending` (what ``MemOS`` calls after each commit).

    Args:
        inline: The in-process index it starts with and falls back to.
        spec: What the worker opens (the same files as ``inline``).
        start_after: Vectors indexed inline before the worker starts (0: at the first
            index request). An index that already holds that many (a store opened again)
            starts its worker at once, so its searches run there too.
        reopen_inline: Opens a fresh inline index (the same files); used when the worker
            dies, or in a forked copy of this process. Without it those raise a
            :class:`~langchain_memos.errors.StorageError` that says to reopen the store.
    """

    def __init__(self, inline: VectorIndex, spec: WorkerSpec, *, start_after: int = DEFAULT_START_AFTER,
                 reopen_inline: Callable[[], VectorIndex] | None = None) -> None:
        self.spec = spec
        self.start_after = max(0, int(start_after))
        self._inline: VectorIndex | None = inline
        self._reopen_inline = reopen_inline
        self._worker: _Worker | None = None
        self._failed = not worker_supported()
        self._indexed_inline = 0
        self._inline_users = 0  # calls running on the inline index right now (outside the lock)
        self._owner_pid = os.getpid()
        self._lock = threading.RLock()
        self._closed = False
        if not self._failed and self._held(inline) >= max(self.start_after, 1):
            with self._lock:
                self._maybe_start(force=True)

    @staticmethod
    def _held(inline: VectorIndex) -> int:
        """How many vectors the index holds already (0 when it cannot say: it stays inline until it is written)."""
        try:
            return inline.count()
        except _errors.MemOSError:
            return 0

    def __repr__(self) -> str:
        where = "worker" if self._worker is not None else "inline"
        return f"WorkerVectorIndex({self.spec.engine} at {self.spec.index_path}, {where})"

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, or ``None`` while indexing inline."""
        return self._worker.process.pid if self._worker is not None else None

    # ------------------------------------------------------------ switching
    def start_worker(self) -> bool:
        """Start the worker now instead of after ``start_after`` vectors; return whether it runs.

        It stays inline (and returns ``False``) where workers are not supported, one
        failed, or a call on the inline index is still running.
        """
        with self._lock:
            self._check_open("start its worker")
            self._maybe_start(force=True)
            return self._worker is not None

    def _maybe_start(self, *, force: bool = False) -> None:
        """Hand the index over to a new worker when it is due and no inline call is running (caller holds
        the lock, so none can begin). The inline client is closed only after the worker answered: if
        the worker does not start, the index stays inline."""
        due = force or self._indexed_inline >= self.start_after
        if self._worker is not None or self._failed or not due or self._inline_users:
            return
        try:
            self._worker = _Worker(self.spec)
        except Exception as exc:  # noqa: BLE001 - any failure to start leaves the index inline
            log.warning("langchain-memos: the index worker did not start (%s); indexing in this process", exc)
            self._failed = True
            return
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()

    def _worker_died(self, exc: BaseException) -> VectorIndex:
        """Drop a dead worker and continue inline (its unconfirmed rows are still waiting in SQLite)."""
        log.warning("langchain-memos: the index worker stopped (%s); indexing in this process", exc)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
        return self._fall_back_inline()

    def _fall_back_inline(self) -> VectorIndex:
        self._failed = True
        if self._reopen_inline is None:
            raise StorageError("the index worker is gone and this index cannot reopen the index in-process; "
                               "reopen the store")
        self._inline = self._reopen_inline()
        return self._inline

    def _current_worker(self) -> _Worker | None:
        """The worker, if this process owns it. In a forked child the pipe is the parent's: the
        child leaves it alone and indexes in-process."""
        if self._worker is not None and os.getpid() != self._owner_pid:
            self._worker = None
            self._fall_back_inline()
        return self._worker

    @contextlib.contextmanager
    def _exchange(self) -> Iterator[None]:
        """Guard one request/reply exchange with the worker (the caller holds the lock).

        A dead worker is replaced by the inline index and the caller goes on after the
        block, inline. A typed error the worker answered with passes through: the pipe
        is still in step. Anything else (e.g. Ctrl-C mid-exchange) leaves the pipe out of
        step, so the worker is dropped before it propagates.
        """
        try:
            yield
        except WorkerDied as exc:
            self._worker_died(exc)
        except _errors.MemOSError:
            raise
        except BaseException as exc:
            self._worker_died(exc)
            raise

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise StorageError(f"this vector index is closed; open a new one to {action}")

    def _run_inline(self, inline: VectorIndex, fn: Callable[[VectorIndex], Any]) -> Any:
        """Run ``fn`` on the inline index outside the lock (inline readers and writers do not queue
        behind each other); counted, so the index is not handed over under it."""
        self._inline_users += 1  # the caller holds the lock
        self._lock.release()
        try:
            return fn(inline)
        finally:
            self._lock.acquire()
            self._inline_users -= 1

    def _call(self, op: str, args: tuple[Any, ...], inline_fn: Callable[[VectorIndex], Any],
              sent: Callable[[], None] | None = None) -> Any:
        """Run ``op`` in the worker (after its outstanding index requests), or ``inline_fn`` inline; ``sent`` is
        called once the request is in the worker's queue (or, inline, before it runs)."""
        with self._lock:
            self._check_open(op)
            worker = self._current_worker()
            if worker is not None:
                with self._exchange():
                    worker.send(op, args)
                    if sent is not None:
                        sent()
                    self._drain(worker, 0)
                    return worker.reply()
            assert self._inline is not None
            if sent is not None:
                sent()
            return self._run_inline(self._inline, inline_fn)

    def _drain(self, worker: _Worker, keep: int) -> int:
        """Read index replies until at most ``keep`` are outstanding; return how many vectors they indexed.

        A failed index request is logged: its rows stay flagged in SQLite, and the next
        request (or ``MemOS.check()``) indexes them again.
        """
        total = 0
        while worker.in_flight > keep:
            worker.in_flight -= 1
            try:
                total += worker.reply() or 0
            except _errors.MemOSError as exc:
                log.warning("langchain-memos: background indexing failed (%s); the rows stay waiting", exc)
        return total

    # ------------------------------------------------------------ indexing
    def index_pending(self, records: RecordStore, *, wait: bool) -> int | None:
        """Index the embeddings waiting in ``records`` (see :func:`~langchain_memos.storage.sync.index_pending`).

        In the worker, ``wait=False`` only queues the request (returns ``None``), once
        fewer than :data:`MAX_IN_FLIGHT` are outstanding; ``wait=True`` returns when
        every queued request is done, with how many vectors they indexed. Inline, it
        is :func:`~langchain_memos.storage.sync.index_pending` on the inline index.
        """
        with self._lock:
            self._check_open("index")
            self._maybe_start()
            worker = self._current_worker()
            if worker is not None:
                with self._exchange():
                    worker.send("index")
                    worker.in_flight += 1
                    done = self._drain(worker, 0 if wait else MAX_IN_FLIGHT - 1)
                    return done if wait else None
            assert self._inline is not None
            indexed = self._run_inline(self._inline, lambda inline: index_pending(records, inline, wait=wait))
            self._indexed_inline += indexed or 0
            return indexed

    @contextlib.contextmanager
    def writer(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the inline index for several writes (its cross-process lock); in the worker, requests
        already run one at a time, so this yields ``True``."""
        with self._lock:
            self._check_open("write")
            inline = None if self._worker is not None else self._inline
            if inline is not None and hasattr(inline, "writer"):
                self._inline_users += 1
        if inline is None or not hasattr(inline, "writer"):
            yield True
            return
        try:
            with inline.writer(wait=wait) as held:
                yield held
        finally:
            with self._lock:
                self._inline_users -= 1

    # ------------------------------------------------------------ VectorIndex
    def upsert(self, ids: Sequence[str], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert or replace vectors (see :meth:`~langchain_memos.storage.base.VectorIndex.upsert`)."""
        import numpy as np

        try:
            matrix: Any = np.asarray(embeddings, dtype=np.float32)
        except (TypeError, ValueError):
            matrix = [list(e) for e in embeddings]
        self._call("upsert", (list(ids), matrix), lambda inline: inline.upsert(ids, embeddings))

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors; unknown ids are ignored."""
        self._call("delete", (list(ids),), lambda inline: inline.delete(ids))

    def search(self, embedding: Sequence[float], k: int, *, ids: Sequence[str] | None = None) -> list[ScoredId]:
        """Top-``k`` ids by cosine similarity, best first."""
        import numpy as np

        kwargs = {"ids": list(ids) if ids is not None else None}
        try:  # one float64 buffer, not a pickled list of floats (values as given: the index checks them)
            query: Any = np.asarray(embedding, dtype=np.float64)
        except (TypeError, ValueError):
            query = list(embedding)
        found = self._call("search", (query, k, kwargs), lambda inline: pack_hits(inline.search(embedding, k, **kwargs)))
        return unpack_hits(found)

    def vector_candidates(self, cq: CubeQuery, embedding: Sequence[float], pool: int,
                          bound: tuple[int, int] | None = None, sent: Callable[[], None] | None = None,
                          ) -> list[ScoredId] | None:
        """:meth:`~langchain_memos.engine.vector_steps.VectorSteps.vector_candidates` run in the worker, with its
        own SQLite connection checking the index's ids against ``cq`` (``bound``: the caller's match bound of
        ``cq``, so the worker does not read it again; ``sent``: called once the request is in the worker's
        queue); ``None`` while indexing inline.

        So the vector stage of a large scope (the index query, then reading which of its ids match)
        runs on the worker's core while this process runs the keyword search, and no index hit
        crosses the pipe, only the ``pool`` that match. ``cq.now`` is set to this process's clock.
        """
        import numpy as np

        return self._ask("candidates", cq, np.asarray(embedding, dtype=np.float64), int(pool),
                         None if bound is None else (int(bound[0]), int(bound[1])), sent=sent)

    def keyword_candidates(self, terms: Sequence[str], cq: CubeQuery, k: int,
                           column_weights: Sequence[float] | None = None) -> list[ScoredId] | None:
        """:meth:`KeywordMirror.search <langchain_memos.storage.keyword_mirror.KeywordMirror.search>` in the
        worker: the best ``k`` keyword rows in ``cq``'s namespace and string filters (the rest of ``cq`` is
        the caller's to check); ``None`` while indexing inline or while the mirror cannot answer."""
        return self._ask("keyword", cq, [str(t) for t in terms], int(k),
                         None if column_weights is None else [float(w) for w in column_weights])

    def _ask(self, op: str, cq: CubeQuery, *args: Any, sent: Callable[[], None] | None = None) -> list[ScoredId] | None:
        """:meth:`_call` of ``op`` on ``cq`` (its ``now`` set to this process's clock) and ``args``, unpacked; ``None``
        while indexing inline (those steps are the caller's then) or when the worker answers ``None``."""
        found = self._call(op, (replace(cq, now=cq.now or utcnow()), *args), lambda inline: None, sent)
        return None if found is None else unpack_hits(found)

    def ids(self) -> set[str]:
        """Every id in the index."""
        return self._call("ids", (), lambda inline: inline.ids())

    def count(self) -> int:
        """How many vectors the index holds."""
        return self._call("count", (), lambda inline: inline.count())

    def reset(self) -> None:
        """Drop every vector (see :meth:`~langchain_memos.storage.base.VectorIndex.reset`)."""
        self._call("reset", (), lambda inline: inline.reset())

    def peak_rss_mb(self) -> float:
        """The worker's peak resident memory in MB (0 while indexing inline)."""
        return float(self._call("peak_rss_mb", (), lambda inline: 0.0))

    def close(self) -> None:
        """Finish outstanding indexing, stop the worker and close the inline client; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker, self._worker = self._worker, None
            inline, self._inline = self._inline, None
        if worker is not None:
            worker.close()
        if inline is not None:
            inline.close()


__all__ = ["DEFAULT_START_AFTER", "MAX_IN_FLIGHT", "WorkerSpec", "WorkerVectorIndex", "open_index", "peak_rss_mb",
           "serve", "worker_supported"]


if __name__ == "__main__":
    _child_main()
