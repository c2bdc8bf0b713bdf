"""The embedded vector index: a faiss HNSW graph in memory, kept on disk as a snapshot plus an append-only log.

:class:`FaissVectorIndex` implements :class:`~langchain_memos.storage.base.VectorIndex` in
this process (or in the index worker, see :mod:`~langchain_memos.storage.index_worker`).
It holds unit vectors in a ``faiss.IndexHNSWFlat`` with inner product, so a score is the
cosine similarity. Why not Chroma here: an insert costs 60-120 us against the 270 us of
Chroma's persistent upsert (half of which is Chroma's own log, repeating the record store,
which holds every embedding anyway), and a query of 750 neighbours at 100k vectors about
2 ms.

How it works:

* **Labels per vector version.** Every upsert appends new labels (faiss's HNSW cannot remove
  a vector); the id's earlier label becomes dead, and searches skip dead labels through an
  ``IDSelectorBitmap`` of the live ones. A snapshot rebuilds the graph from the live vectors
  once dead labels are more than :data:`REBUILD_DEAD_SHARE` of it.
* **Files** (in the folder ``path``): ``CURRENT`` names the generation; ``snapshot-<gen>.faiss``
  is the graph and ``snapshot-<gen>.ids`` the id of each of its labels and which are live;
  ``log-<gen>.bin`` holds every upsert and delete since, as checksummed frames appended
  under the cross-process :class:`~langchain_memos.storage.locks.IndexLock` (the format:
  :mod:`~langchain_memos.storage.faiss_frames`). Opening reads
  the snapshot and replays the log; a torn frame at the end (a writer that died mid-write)
  is ignored and cut off by the next writer. A new snapshot is written (and ``CURRENT``
  switched by an atomic rename) once the log holds :data:`SNAPSHOT_SHARE` as many vectors as
  the snapshot (at least :data:`SNAPSHOT_MIN`), and at :meth:`close` once it holds
  :data:`CLOSE_SNAPSHOT_MIN`, so opening never replays more than a share of the graph.
* **Several processes.** Every write moves the lock's change token; a process that finds a
  token other than its own reads the log's new frames (or, after a new snapshot, the new
  generation) before it reads or writes.
* **Large ``k``.** A query asking for at least :data:`EXACT_SHARE` of the live vectors (or an
  index of at most :data:`EXACT_MAX` vectors) is scored exactly over the stored vectors.
* **Allow-lists** (:mod:`~langchain_memos.storage.faiss_allow`): ``search_allowed`` searches the graph
  among a fixed set of ids only (a record store's kept matches of a filter), ``search_rids`` among the
  cubes of a rid list (a filter's rids; each vector's rid comes with its upsert and is kept in the files
  too; an index written before that learns them with :meth:`FaissVectorIndex.learn_rids`), each through an
  ``IDSelectorBitmap`` of their labels kept with the set.

``faiss`` (the ``faiss-cpu`` package) is imported when an index is built.

Example:
    >>> index = FaissVectorIndex.in_memory()
    >>> index.upsert(["a", "b"], [[1.0, 0.0], [0.6, 0.8]])
    >>> [(h.id, round(h.score, 2)) for h in index.search([1.0, 0.0], k=5)]
    [('a', 1.0), ('b', 0.6)]
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import EngineUnavailableError, InvalidInputError, MemOSError, StorageError
from .base import ScoredId
from .faiss_allow import AllowLists
from .faiss_frames import DELETE, UPSERT, frame, pack_ids, read_frames, unpack_ids
from .locks import IndexLock
from .vector_input import as_floats, dimension_error, upsert_rows

log = logging.getLogger(__name__)

#: HNSW settings (``hnsw`` overrides them by these names, as for Chroma): neighbours per node,
#: candidates kept while inserting, and the least candidates kept while searching (a query for
#: ``k`` neighbours keeps at least ``k``).
DEFAULT_HNSW: dict[str, int] = {"max_neighbors": 16, "ef_construction": 40, "ef_search": 100}

#: A query for at least this share of the live vectors is scored exactly (HNSW would visit most anyway).
EXACT_SHARE = 0.25

#: Indexes of at most this many live vectors are always scored exactly (a matrix product of a few ms at most).
EXACT_MAX = 2048

#: A new snapshot once the log holds this share of the snapshot's vectors, and at least :data:`SNAPSHOT_MIN`.
SNAPSHOT_SHARE = 0.5
SNAPSHOT_MIN = 4096

#: :meth:`FaissVectorIndex.close` writes a snapshot when the log holds at least this many vectors.
CLOSE_SNAPSHOT_MIN = 1024

#: A snapshot rebuilds the graph from the live vectors when more than this share of its labels are dead.
REBUILD_DEAD_SHARE = 0.3


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise EngineUnavailableError("the faiss vector index needs the `faiss-cpu` package; install it with "
                                     "`pip install 'faiss-cpu>=1.9,<2'`, or use vector_backend='chroma'") from exc
    return faiss


def unit_rows(matrix: Any) -> Any:
    """``matrix`` (float32 rows) scaled to unit length; zero rows stay zero."""
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms == 0, 1.0, norms), dtype=np.float32)


# --------------------------------------------------------------------------- the index
class FaissVectorIndex(AllowLists):
    """A :class:`~langchain_memos.storage.base.VectorIndex` over a faiss HNSW graph (see the module docs).

    Args:
        path: The folder of its files (created when missing); ``None`` keeps it in memory only.
        lock_timeout_s: How long a call waits for another process's hold on the index.
        hnsw: Overrides of :data:`DEFAULT_HNSW` (for a new graph; ``ef_search`` applies at once).

    Raises:
        EngineUnavailableError: ``faiss-cpu`` is not installed.
        StorageError: The folder cannot be created or its files cannot be read.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout_s: float = 30.0,
                 hnsw: Mapping[str, Any] | None = None) -> None:
        self._faiss = _import_faiss()
        unknown = set(hnsw or {}) - set(DEFAULT_HNSW) - {"space"}
        if unknown or (hnsw or {}).get("space", "cosine") != "cosine":
            raise InvalidInputError(f"hnsw settings {sorted(unknown) or ['space']} are not supported by the faiss "
                                    f"index; use {sorted(DEFAULT_HNSW)} (space is always cosine)")
        self.hnsw = {**DEFAULT_HNSW, **{k: int(v) for k, v in (hnsw or {}).items() if k != "space"}}
        self.folder = Path(path).expanduser() if path is not None else None
        self._mutex = threading.RLock()
        self._closed = False
        self._lock: IndexLock | None = None
        self._seen = ""
        #: Whether opening found the files unreadable and started an empty index (see ``open_engines``).
        self.started_empty = False
        self._empty_state()
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the faiss index folder {self.folder} ({exc}); check it is writable") \
                from exc
        self._lock = IndexLock(self.folder.with_name(self.folder.name + ".lock"), timeout_s=lock_timeout_s)
        try:
            try:
                with self._lock.hold(exclusive=False):
                    self._load(self._current_generation())
                    self._seen = self._lock.token()
            except StorageError as exc:  # damaged files (a disk error, a copy cut short): start again, empty
                self._start_over(exc)
        except BaseException:
            self._lock.close()
            raise

    def _start_over(self, damaged: StorageError) -> None:
        """Replace an unreadable index with a new, empty generation, and say so in :attr:`started_empty`:
        the record store holds every embedding, and whoever opened the index queues them again."""
        log.warning("langchain-memos: %s; starting an empty faiss index, filled again from the record store", damaged)
        assert self._lock is not None
        with self._lock.hold(exclusive=True):
            try:
                generation = self._current_generation()
            except StorageError:
                generation = 0
            self._empty_state()
            self._generation = generation
            self._write_snapshot()  # generation + 1, empty; the damaged files are removed
            self._seen = self._lock.bump()
        self.started_empty = True

    @classmethod
    def persistent(cls, path: str | os.PathLike[str], *, lock_timeout_s: float = 30.0,
                   hnsw: Mapping[str, Any] | None = None) -> "FaissVectorIndex":
        """An index kept in the folder ``path``, safe to share between processes."""
        return cls(path, lock_timeout_s=lock_timeout_s, hnsw=hnsw)

    @classmethod
    def in_memory(cls, *, hnsw: Mapping[str, Any] | None = None) -> "FaissVectorIndex":
        """An index in this process's memory only (tests, ``MemOSConfig(path=None)``)."""
        return cls(None, hnsw=hnsw)

    def __repr__(self) -> str:
        return f"FaissVectorIndex({str(self.folder) if self.folder is not None else 'in memory'})"

    # ------------------------------------------------------------ in-memory state
    def _empty_state(self) -> None:
        import numpy as np

        self._graph: Any = None  # built at the first upsert, when the dimension is known
        self._ids: list[str] = []  # label -> id
        self._label: dict[str, int] = {}  # id -> its live label
        self._live = np.zeros(0, dtype=bool)
        self._reset_rids()
        self._bitmap: Any = None  # the live labels packed for IDSelectorBitmap (None: not built or all live)
        self._allowed: dict[int, tuple[Any, Any]] = {}  # AllowLists: id(key) -> (the key, what is kept for it)
        self._generation = 0
        self._offset = 0  # bytes of the log applied
        self._snapshot_count = 0  # labels in the snapshot
        self._log_count = 0  # vectors the log added since

    def _new_graph(self, dim: int) -> Any:
        graph = self._faiss.IndexHNSWFlat(dim, self.hnsw["max_neighbors"], self._faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.hnsw["ef_construction"]
        return graph

    def _stored(self) -> Any:
        """Every label's unit vector, as a read-only view of the graph's storage."""
        import numpy as np

        flat = self._faiss.downcast_index(self._graph.storage)
        n, dim = flat.ntotal, flat.d
        return np.asarray(self._faiss.rev_swig_ptr(flat.get_xb(), n * dim)).reshape(n, dim) if n else \
            np.zeros((0, dim), dtype=np.float32)

    def _apply_upsert(self, ids: list[str], unit: Any, rids: Any = None) -> None:
        import numpy as np

        if self._graph is None:
            self._graph = self._new_graph(unit.shape[1])
        dead = [old for old in (self._label.get(i) for i in ids) if old is not None]
        self._live[dead] = False
        self._rids_dead(dead)
        first = len(self._ids)
        self._graph.add(unit)
        self._ids.extend(ids)
        self._label.update(zip(ids, range(first, first + len(ids))))
        if len(self._live) < len(self._ids):
            grown = np.zeros(max(len(self._ids), 2 * len(self._live)), dtype=bool)
            grown[:first] = self._live[:first]
            self._live = grown
        self._live[first:first + len(ids)] = True
        self._rids_added(first, rids)
        self._bitmap = None
        self._allowed.clear()

    def _apply_delete(self, ids: Sequence[str]) -> None:
        dead = [old for old in (self._label.pop(i, None) for i in ids) if old is not None]
        self._live[dead] = False
        self._rids_dead(dead)
        self._bitmap = None
        self._allowed.clear()

    def _live_selector(self) -> Any:
        """``None`` when every label is live, else an ``IDSelectorBitmap`` over the live ones."""
        import numpy as np

        total = len(self._ids)
        if len(self._label) == total:
            return None
        if self._bitmap is None:
            self._bitmap = np.packbits(self._live[:total], bitorder="little")
        return self._faiss.IDSelectorBitmap(total, self._faiss.swig_ptr(self._bitmap))

    # ------------------------------------------------------------ files
    def _path(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / name

    def _current_generation(self) -> int:
        try:
            return int(self._path("CURRENT").read_text("ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {self._path('CURRENT')} ({exc}); run MemOS.check() to rebuild the "
                               "vector index from the record store") from exc

    def _load(self, generation: int) -> None:
        """Read generation ``generation`` (its snapshot, then its whole log)."""
        import numpy as np

        self._empty_state()
        self._generation = generation
        graph_file, ids_file = self._path(f"snapshot-{generation}.faiss"), self._path(f"snapshot-{generation}.ids")
        if graph_file.exists():
            try:
                self._graph = self._faiss.read_index(str(graph_file))
                data = ids_file.read_bytes()
                self._ids, past = unpack_ids(data)
                total = len(self._ids)
                self._live = np.frombuffer(data, dtype=bool, count=total, offset=past).copy()
                past += total
                rids = np.frombuffer(data, dtype="<i8", count=total, offset=past) \
                    if len(data) - past >= 8 * total else None  # (None: written before rids were kept)
            except Exception as exc:
                raise StorageError(f"cannot read the faiss snapshot {graph_file} ({exc}); run MemOS.check() to "
                                   "rebuild the vector index from the record store") from exc
            self._label = {self._ids[i]: i for i in np.flatnonzero(self._live).tolist()}
            self._reset_rids(rids)
            self._snapshot_count = len(self._ids)
        self._read_log()

    def _read_log(self) -> None:
        """Apply the log's frames past the ones already applied."""
        try:
            with open(self._path(f"log-{self._generation}.bin"), "rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return
        start = self._offset
        for op, ids, vectors, rids, end in read_frames(data):
            if op == UPSERT:
                self._apply_upsert(ids, vectors, rids)
                self._log_count += len(ids)
            else:
                self._apply_delete(ids)
            self._offset = start + end

    def _append(self, data: bytes) -> None:
        """Append one frame to the log (cutting off a torn frame a dead writer left), then record it."""
        path = self._path(f"log-{self._generation}.bin")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size != self._offset:
                    os.ftruncate(fd, self._offset)
                os.pwrite(fd, data, self._offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot append to the faiss log {path} ({exc}); check the disk has room") from exc
        self._offset += len(data)

    def _write_snapshot(self) -> None:
        """Write the next generation (rebuilt from live vectors when many labels are dead) and switch to it."""
        import numpy as np

        total = len(self._ids)
        if self._graph is not None and total and total - len(self._label) > REBUILD_DEAD_SHARE * total:
            keep = np.flatnonzero(self._live[:total])
            vectors, ids, rids = self._stored()[keep].copy(), [self._ids[i] for i in keep.tolist()], self._rids[keep]
            dim = self._graph.d
            self._empty_state_keep_generation()
            self._graph = self._new_graph(dim)
            if ids:
                self._apply_upsert(ids, vectors, rids)
        generation = self._generation + 1
        try:
            if self._graph is not None:
                self._faiss.write_index(self._graph, str(self._path(f"snapshot-{generation}.faiss")))
                total = len(self._ids)
                live, rids = self._live[:total].astype(bool), self._rids[:total].astype("<i8")
                self._path(f"snapshot-{generation}.ids").write_bytes(
                    pack_ids(self._ids) + live.tobytes() + rids.tobytes())
            tmp = self._path("CURRENT.tmp")
            with open(tmp, "w", encoding="ascii") as current:
                current.write(str(generation))
                current.flush()
                os.fsync(current.fileno())
            os.replace(tmp, self._path("CURRENT"))
        except Exception as exc:
            raise StorageError(f"cannot write a faiss snapshot in {self.folder} ({exc}); check the disk has "
                               "room") from exc
        old = self._generation
        self._generation, self._offset = generation, 0
        self._snapshot_count, self._log_count = len(self._ids), 0
        for name in (f"snapshot-{old}.faiss", f"snapshot-{old}.ids", f"log-{old}.bin"):
            with contextlib.suppress(OSError):
                self._path(name).unlink()

    def _empty_state_keep_generation(self) -> None:
        generation, offset = self._generation, self._offset
        self._empty_state()
        self._generation, self._offset = generation, offset

    # ------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _locked(self, action: str, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        """Hold this index (and, on disk, the cross-process lock), caught up with other processes' writes."""
        if self._closed:
            raise StorageError(f"this FaissVectorIndex is closed; open a new one to {action}")
        if not self._mutex.acquire(blocking=wait):
            yield False  # another thread of this process holds it (it does this thread's writing)
            return
        try:
            if self._lock is None:
                yield True
                return
            with self._lock.hold(exclusive=exclusive, wait=wait) as held:
                if held and self._lock.token() != self._seen:
                    generation = self._current_generation()
                    if generation != self._generation:
                        self._load(generation)
                    else:
                        self._read_log()
                    self._seen = self._lock.token()
                yield held
        finally:
            self._mutex.release()

    @contextlib.contextmanager
    def writer(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the index for several writes at once (re-entrant); yields whether it is held (``wait=False``
        yields ``False`` at once when another thread or process is writing)."""
        with self._locked("write", exclusive=True, wait=wait) as held:
            yield held

    def _write(self, data: bytes) -> None:
        """Log a frame and move the change token (the caller holds the index exclusively and applied it)."""
        if self._lock is None:
            return
        self._append(data)
        if self._log_count >= max(SNAPSHOT_MIN, SNAPSHOT_SHARE * self._snapshot_count):
            self._write_snapshot()
        self._seen = self._lock.bump()

    # ------------------------------------------------------------ VectorIndex
    def upsert(self, ids: Sequence[str], embeddings: Sequence[Sequence[float]], *,
               rids: Sequence[int | None] | None = None) -> None:
        """Insert or replace vectors (an id given twice keeps its last vector).

        Args:
            ids: The cubes' ids.
            embeddings: One vector per id.
            rids: One record-store rid per id (``None`` for one not known), for :meth:`search_rids`; without
                them, :meth:`search_rids` answers ``None`` while these vectors are live.

        Raises:
            InvalidInputError: Lengths differ, or an embedding has NaN/inf.
            EmbeddingDimensionError: The index holds vectors of another dimension.
        """
        import numpy as np

        if rids is not None and len(rids) != len(ids):
            raise InvalidInputError(f"upsert() needs one rid per id; got {len(ids)} ids, {len(rids)} rids")
        matrix = upsert_rows(ids, embeddings)
        if matrix is None:
            return
        if isinstance(matrix, list):
            raise dimension_error(len(matrix[0]), next(len(r) for r in matrix if len(r) != len(matrix[0])))
        last = {i: n for n, i in enumerate(ids)}  # the last vector of an id given twice
        if len(last) < len(ids):
            matrix = matrix[list(last.values())]
        rows = None if rids is None else np.fromiter((-1 if rids[n] is None else int(rids[n]) for n in last.values()),
                                                     dtype=np.int64, count=len(last))
        ids, unit = list(last), unit_rows(matrix)
        with self._locked("upsert vectors", exclusive=True):
            if self._graph is not None and self._graph.d != unit.shape[1]:
                raise dimension_error(self._graph.d, unit.shape[1])
            self._apply_upsert(ids, unit, rows)
            self._log_count += len(ids)
            self._write(frame(UPSERT, ids, unit, rows))

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors; unknown ids are ignored."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        with self._locked("delete vectors", exclusive=True):
            known = [i for i in ids if i in self._label]
            if known:
                self._apply_delete(known)
                self._write(frame(DELETE, known))

    def search(self, embedding: Sequence[float], k: int, *, ids: Sequence[str] | None = None) -> list[ScoredId]:
        """Top-``k`` ids by cosine similarity, best first.

        Args:
            embedding: The query vector.
            k: How many results at most.
            ids: Only these ids (``None`` = all); scored exactly, unknown ids ignored.

        Raises:
            InvalidInputError: The query is empty or has NaN/inf.
            EmbeddingDimensionError: The index holds vectors of another dimension.
        """
        import numpy as np

        query = np.asarray([as_floats(embedding, "query embedding")], dtype=np.float32)
        if k <= 0 or (ids is not None and not ids):
            return []
        with self._searching(query) as unit:
            if unit is None:
                return []
            live = len(self._label)
            if ids is not None:
                labels = [self._label[i] for i in dict.fromkeys(ids) if i in self._label]
                return self._exact(unit[0], np.asarray(labels, dtype=np.int64), k)
            if live <= EXACT_MAX or k >= EXACT_SHARE * live:
                return self._exact(unit[0], np.flatnonzero(self._live[:len(self._ids)]), k)
            params = self._faiss.SearchParametersHNSW(efSearch=max(self.hnsw["ef_search"], k))
            selector = self._live_selector()
            if selector is not None:
                params.sel = selector
            return self._graph_hits(unit, min(int(k), live), params)

    @contextlib.contextmanager
    def _searching(self, query: Any) -> Iterator[Any]:
        """Hold the index for a search and yield ``query`` (one float32 row) as a unit row (``None``: nothing is
        indexed)."""
        with self._locked("search", exclusive=False):
            if self._graph is None or not self._label:
                yield None
                return
            if self._graph.d != query.shape[1]:
                raise dimension_error(self._graph.d, query.shape[1])
            yield unit_rows(query)

    def _graph_hits(self, unit: Any, k: int, params: Any) -> list[ScoredId]:
        """The HNSW graph's ``k`` nearest labels to the unit query row, as hits."""
        scores, labels = self._graph.search(unit, k, params=params)
        return [ScoredId(self._ids[label], float(score))
                for score, label in zip(scores[0].tolist(), labels[0].tolist()) if label >= 0]

    def _exact(self, unit_query: Any, labels: Any, k: int) -> list[ScoredId]:
        """The ``k`` best of ``labels`` by exact inner product, ties by id."""
        import numpy as np

        if not len(labels):
            return []
        scores = self._stored()[labels] @ unit_query
        if len(labels) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            labels, scores = labels[top], scores[top]
        hits = [ScoredId(self._ids[label], float(score)) for label, score in zip(labels.tolist(), scores.tolist())]
        return sorted(hits, key=lambda h: (-h.score, h.id))

    def learn_rids(self, ids: Sequence[str], rids: Sequence[int]) -> int:
        """Take the rids of vectors upserted without them (an index written before rids were kept): each live
        vector of ``ids`` whose rid is not known gets the rid at the same place; ids the index does not hold and
        vectors whose rid is known are left alone. Once every live vector's rid is known, a snapshot keeps them
        (the log's frames stay as written, so older versions still read it). Returns how many were taken.

        Raises:
            InvalidInputError: Not one rid per id.
        """
        import numpy as np

        if len(ids) != len(rids):
            raise InvalidInputError(f"learn_rids() needs one rid per id; got {len(ids)} ids, {len(rids)} rids")
        with self._locked("learn rids", exclusive=True):
            taken = {label: int(rid) for label, rid in ((self._label.get(i), rid) for i, rid in zip(ids, rids))
                     if label is not None and rid is not None and rid >= 0 and self._rids[label] < 0}
            if not taken:
                return 0
            self._rids_learned(np.fromiter(taken, dtype=np.int64, count=len(taken)),
                               np.fromiter(taken.values(), dtype=np.int64, count=len(taken)))
            self._allowed.clear()
            if self._lock is not None and not self._rids_unknown:
                self._write_snapshot()
                self._seen = self._lock.bump()
            return len(taken)

    def ids(self) -> set[str]:
        """Every id in the index."""
        with self._locked("list ids", exclusive=False):
            return set(self._label)

    def count(self) -> int:
        """How many vectors the index holds."""
        with self._locked("count vectors", exclusive=False):
            return len(self._label)

    def reset(self) -> None:
        """Drop every vector: an empty index again (a new, empty generation on disk)."""
        with self._locked("reset the index", exclusive=True):
            self._empty_state_keep_generation()
            if self._lock is not None:
                self._write_snapshot()
                self._seen = self._lock.bump()

    def close(self) -> None:
        """Write a snapshot when the log has grown (so the next open is quick), release the lock; idempotent."""
        if self._closed:
            return
        try:
            if self._lock is not None and self._log_count >= CLOSE_SNAPSHOT_MIN:
                with contextlib.suppress(MemOSError), self._locked("close", exclusive=True, wait=False) as held:
                    if held and self._log_count >= CLOSE_SNAPSHOT_MIN:
                        self._write_snapshot()
                        self._seen = self._lock.bump()
        finally:
            with self._mutex:
                self._closed = True
                self._empty_state()
                if self._lock is not None:
                    self._lock.close()


__all__ = ["DEFAULT_HNSW", "FaissVectorIndex"]
