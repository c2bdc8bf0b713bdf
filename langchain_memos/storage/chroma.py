"""The default vector index: one Chroma collection (embedded, persistent or over HTTP).

:class:`ChromaVectorIndex` implements :class:`~langchain_memos.storage.base.VectorIndex`.
Chroma never embeds anything here: the collection is created with
``embedding_function=None`` and cosine space, and every call passes embeddings.

The collection holds ids and vectors only, no Chroma metadata: every filter
(namespace, tier, status, metadata) is tested against the record store, and a
metadata record costs Chroma about a third of its write time per vector. Collections
written by earlier versions keep their old metadata, which nothing reads.

``chromadb`` is imported lazily (it takes about a second), only when an index is built.

Example:
    >>> index = ChromaVectorIndex.ephemeral()          # doctest: +SKIP
    >>> index.upsert(["a", "b"], [[0.1, 0.2], [0.2, 0.1]])  # doctest: +SKIP
    >>> index.search([0.1, 0.2], k=5)                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import re
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..errors import EngineUnavailableError, MemOSError, StorageError
from .base import ScoredId
from .locks import IndexLock
from .vector_input import as_floats, dimension_error, upsert_rows

#: HNSW build settings of new collections (existing collections keep theirs). A smaller
#: ``ef_construction`` than Chroma's 100 inserts about 1.5x faster; search keeps
#: ``ef_search`` 100, and MemOS scores small candidate sets exactly anyway.
DEFAULT_HNSW: dict[str, Any] = {"ef_construction": 40}

#: Page size used when listing every id.
_PAGE = 5000
_DIM_RE = re.compile(r"dimension of (\d+), got (\d+)")


def _import_chromadb() -> Any:
    try:
        import chromadb
    except ImportError as exc:  # pragma: no cover - chromadb is a hard dependency
        raise EngineUnavailableError("the Chroma vector index needs the `chromadb` package; "
                                     "install it with `pip install 'chromadb>=1.0,<2'`") from exc
    return chromadb


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _client(factory: Any, **kwargs: Any) -> Any:
    """Build a chromadb client with telemetry off.

    Chroma shares one system per path/server within a process and refuses a second
    client with different settings; in that case the default settings are tried.
    """
    try:
        return factory(settings=_settings(), **kwargs)
    except ValueError as exc:
        if "different settings" not in str(exc):
            raise
        return factory(**kwargs)


def _private_persistent_client(folder: Path) -> tuple[Any, Callable[[], None]]:
    """A ``PersistentClient`` on ``folder`` with a Chroma system of its own, and the function that stops it.

    Chroma shares one system (one in-memory HNSW) per path within a process; an index
    that must reopen after another process wrote cannot refresh a shared one, so each
    gets its own: the cached system (if any) is set aside while the client is built,
    then put back.
    """
    chromadb = _import_chromadb()
    from chromadb.api.shared_system_client import SharedSystemClient as Shared

    key = str(folder)
    systems, counts = Shared._identifier_to_system, Shared._identifier_to_refcount
    kept_system, kept_count = systems.pop(key, None), counts.pop(key, None)
    try:
        client = _client(chromadb.PersistentClient, path=key)
        system = systems.pop(client._identifier)
        counts.pop(client._identifier, None)
    except MemOSError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot open a Chroma index in {folder} ({exc}); check the folder is writable "
                           "and not used by another Chroma version") from exc
    finally:
        if kept_system is not None:
            systems[key] = kept_system
        if kept_count is not None:
            counts[key] = kept_count
    return client, system.stop


class ChromaVectorIndex:
    """A :class:`~langchain_memos.storage.base.VectorIndex` over one Chroma collection.

    Args:
        client: A ``chromadb`` client (``PersistentClient``, ``HttpClient``, ``EphemeralClient``).
        collection_name: The collection to use (created with cosine space when missing).

    Raises:
        StorageError: The collection exists with a space other than cosine.
        EngineUnavailableError: The client cannot reach its server.
    """

    def __init__(self, client: Any, collection_name: str = "memos", *, location: str | None = None,
                 lock: IndexLock | None = None, reopen: Callable[[], tuple[Any, Callable[[], None]]] | None = None,
                 release: Callable[[], None] | None = None, hnsw: Mapping[str, Any] | None = None) -> None:
        self.collection_name = collection_name
        self.hnsw = {**DEFAULT_HNSW, **(hnsw or {}), "space": "cosine"}
        self._where = location or "Chroma"
        self._closed = False
        self._lock = lock
        self._reopen = reopen
        self._release = release
        self._seen = ""
        self._client: Any = None
        self._collection: Any = None
        with self._locked(exclusive=True):  # creating the collection is a write other processes must not race
            self._attach(client)
            if self._lock is not None:
                self._seen = self._lock.token() or self._lock.bump()

    def _attach(self, client: Any) -> None:
        self._client = client
        with self._errors("open the collection"):
            self._collection = client.get_or_create_collection(
                self.collection_name, embedding_function=None, configuration={"hnsw": dict(self.hnsw)})
            self._max_batch = int(client.get_max_batch_size())
        self._check_space()

    # ------------------------------------------------------------ constructors
    @classmethod
    def persistent(cls, path: str | Path, collection_name: str = "memos", *,
                   lock_timeout_s: float = 30.0, hnsw: Mapping[str, Any] | None = None) -> "ChromaVectorIndex":
        """An embedded index stored in the folder ``path`` (created when missing), safe to share between processes.

        Every process (and every instance) gets its own Chroma client, and a file lock
        next to the folder (``<path>.lock``) serialises writes across processes; a
        client reopens when another one wrote since it last looked (see
        :class:`~langchain_memos.storage.locks.IndexLock`).

        Raises:
            StorageError: The folder cannot be created or holds an incompatible index.
            StoreLockedError: Another process held the lock past ``lock_timeout_s``.
        """
        _import_chromadb()
        folder = Path(path).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the Chroma folder {folder} ({exc}); check it is writable") from exc
        lock = IndexLock(folder.with_name(folder.name + ".lock"), timeout_s=lock_timeout_s)
        state: dict[str, Any] = {}

        def reopen() -> tuple[Any, Callable[[], None]]:
            if "stop" in state:
                state.pop("stop")()
            client, stop = _private_persistent_client(folder)
            state["stop"] = stop
            return client, stop

        def release() -> None:
            if "stop" in state:
                state.pop("stop")()
            lock.close()

        try:
            with lock.hold(exclusive=True):
                client, _ = reopen()
            return cls(client, collection_name, location=f"Chroma at {folder}", lock=lock, reopen=reopen,
                       release=release, hnsw=hnsw)
        except BaseException:
            release()
            raise

    @classmethod
    def http(cls, host: str, port: int, ssl: bool = False, headers: Mapping[str, str] | None = None,
             collection_name: str = "memos", *, lock_path: str | Path | None = None,
             lock_timeout_s: float = 30.0, hnsw: Mapping[str, Any] | None = None) -> "ChromaVectorIndex":
        """An index on a Chroma server (``chroma run``) reached over HTTP.

        ``lock_path``: a lock file that serialises this host's writers to the collection
        (so two processes never index two versions of one cube out of order); the
        server itself needs no reopening.

        Raises:
            EngineUnavailableError: No server answers at ``host:port``.
        """
        chromadb = _import_chromadb()
        try:
            client = _client(chromadb.HttpClient, host=host, port=int(port), ssl=ssl, headers=dict(headers or {}))
        except Exception as exc:
            raise EngineUnavailableError(
                f"cannot reach a Chroma server at {host}:{port} ({exc}); is the Chroma server running at "
                f"{host}:{port}? start it with `chroma run --path DIR --host {host} --port {port}`") from exc
        lock = IndexLock(lock_path, timeout_s=lock_timeout_s) if lock_path is not None else None
        return cls(client, collection_name, location=f"Chroma server at {host}:{port}", lock=lock,
                   release=lock.close if lock is not None else None, hnsw=hnsw)

    @classmethod
    def ephemeral(cls, collection_name: str | None = None, *,
                  hnsw: Mapping[str, Any] | None = None) -> "ChromaVectorIndex":
        """An in-memory index (tests). Ephemeral clients of one process share data, so the
        default collection name is unique per call."""
        chromadb = _import_chromadb()
        try:
            client = _client(chromadb.EphemeralClient)
        except Exception as exc:
            raise StorageError(f"cannot start an in-memory Chroma client ({exc}); create the client yourself "
                               "and pass it to ChromaVectorIndex(client)") from exc
        return cls(client, collection_name or f"memos-{uuid.uuid4().hex}", location="ephemeral Chroma", hnsw=hnsw)

    # ------------------------------------------------------------ plumbing
    def __repr__(self) -> str:
        return f"ChromaVectorIndex({self._where}, collection={self.collection_name!r})"

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate chromadb and transport errors into typed errors that name the fix."""
        if self._closed:
            raise StorageError(f"this ChromaVectorIndex is closed; open a new one to {action}")
        try:
            yield
        except MemOSError:
            raise
        except Exception as exc:
            raise self._translate(exc, action) from exc

    def _translate(self, exc: Exception, action: str) -> MemOSError:
        text = str(exc)
        dims = _DIM_RE.search(text)
        if dims:
            return dimension_error(int(dims.group(1)), int(dims.group(2)))
        names = {cls.__name__ for cls in type(exc).__mro__}
        if isinstance(exc, (ConnectionError, TimeoutError)) or names & {"ConnectError", "TransportError",
                                                                      "TimeoutException", "NetworkError"} \
                or "could not connect" in text.lower():
            return EngineUnavailableError(
                f"{self._where} failed to {action}: {text}; is the Chroma server running? start it with "
                "`chroma run --path DIR --port N` and check host/port")
        return StorageError(f"{self._where} failed to {action}: {type(exc).__name__}: {text}; "
                            "run MemOS.check() to rebuild the index from the record store if this persists")

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        """Hold the cross-process lock (persistent indexes) and reopen the client if another one wrote."""
        if self._lock is None:
            yield True
            return
        with self._lock.hold(exclusive=exclusive, wait=wait) as held:
            if held and self._reopen is not None and self._client is not None and self._lock.token() != self._seen:
                with self._errors("reopen after another process wrote"):
                    client, _ = self._reopen()
                self._attach(client)
                self._seen = self._lock.token()
            yield held

    @contextlib.contextmanager
    def writer(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the index for several writes at once (re-entrant); yields whether it is held.

        With ``wait=False`` it yields ``False`` at once when another thread or process
        is writing (the caller leaves its work for that writer, see
        :func:`langchain_memos.storage.sync.index_pending`).
        """
        with self._locked(exclusive=True, wait=wait) as held:
            yield held

    def _changed(self) -> None:
        """Record a write: a new change token tells other processes to reopen."""
        if self._lock is not None:
            self._seen = self._lock.bump()

    def _check_space(self) -> None:
        # configuration_json, not .configuration: the latter warns about the (intended) absent embedding function
        config = getattr(self._collection, "configuration_json", None) or {}
        space = None
        for kind in ("hnsw", "spann"):
            section = config.get(kind) if isinstance(config, Mapping) else None
            if isinstance(section, Mapping) and section.get("space"):
                space = section["space"]
        if space is None:
            space = (self._collection.metadata or {}).get("hnsw:space")
        if space is not None and space != "cosine":
            raise StorageError(f"Chroma collection {self.collection_name!r} uses {space!r} distance but this index "
                               "needs cosine; use another collection_name or delete that collection")

    def _batches(self, n: int) -> Iterator[slice]:
        step = max(1, self._max_batch)
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    # ------------------------------------------------------------ VectorIndex
    def upsert(self, ids: Sequence[str], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert or replace vectors in batches of the client's max batch size.

        Raises:
            InvalidInputError: Lengths differ or an embedding has NaN/inf.
            EmbeddingDimensionError: The collection holds vectors of another dimension.
        """
        vectors = upsert_rows(ids, embeddings)
        if vectors is None:
            return
        ids = list(ids)
        with self._locked(exclusive=True), self._errors("upsert vectors"):
            try:
                for part in self._batches(len(ids)):
                    self._collection.upsert(ids=ids[part], embeddings=vectors[part])
            finally:
                self._changed()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors; unknown ids are ignored."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        with self._locked(exclusive=True), self._errors("delete vectors"):
            try:
                for part in self._batches(len(ids)):
                    self._collection.delete(ids=ids[part])
            finally:
                self._changed()

    def search(self, embedding: Sequence[float], k: int, *, ids: Sequence[str] | None = None) -> list[ScoredId]:
        """Top-``k`` ids by cosine similarity (``1 - cosine distance``), best first.

        Args:
            embedding: The query vector.
            k: How many results at most.
            ids: Only these ids (``None`` = all); scored exactly, unknown ids ignored.
        """
        query = as_floats(embedding, "query embedding")
        if k <= 0 or (ids is not None and not ids):
            return []
        if ids is not None:
            return self._search_ids(query, k, list(dict.fromkeys(ids)))
        with self._locked(exclusive=False), self._errors("search"):
            # Chroma answers n_results beyond the collection size (and an empty one) with what it has;
            # count() costs milliseconds on a large collection, so it only clamps huge k
            n_results = int(k) if k <= _PAGE else min(int(k), self._collection.count())
            if n_results == 0:
                return []
            res = self._collection.query(query_embeddings=[query], n_results=n_results, include=["distances"])
        found = res["ids"][0] if res["ids"] else []
        dists = res["distances"][0] if res.get("distances") else []
        return [ScoredId(i, 1.0 - float(d)) for i, d in zip(found, dists)]

    def _search_ids(self, query: list[float], k: int, ids: list[str]) -> list[ScoredId]:
        """Exact cosine scoring over an explicit id list (Chroma's ``query(ids=...)`` fails on unknown ids)."""
        import numpy as np

        got_ids: list[str] = []
        got_vecs: list[Any] = []
        with self._locked(exclusive=False), self._errors("search"):
            for part in self._batches(len(ids)):
                res = self._collection.get(ids=ids[part], include=["embeddings"])
                got_ids.extend(res["ids"])
                if len(res["ids"]):
                    got_vecs.extend(np.asarray(res["embeddings"], dtype=np.float64))
        if not got_ids:
            return []
        mat = np.vstack(got_vecs)
        q = np.asarray(query, dtype=np.float64)
        if mat.shape[1] != q.shape[0]:
            raise dimension_error(mat.shape[1], q.shape[0])
        norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
        scores = (mat @ q) / np.where(norms == 0, 1.0, norms)
        order = sorted(range(len(got_ids)), key=lambda i: (-scores[i], got_ids[i]))[:k]
        return [ScoredId(got_ids[i], float(scores[i])) for i in order]

    def ids(self) -> set[str]:
        """Every id in the index."""
        out: set[str] = set()
        with self._locked(exclusive=False), self._errors("list ids"):
            offset = 0
            while True:
                page = self._collection.get(include=[], limit=_PAGE, offset=offset)["ids"]
                out.update(page)
                if len(page) < _PAGE:
                    return out
                offset += len(page)

    def count(self) -> int:
        """How many vectors the index holds."""
        with self._locked(exclusive=False), self._errors("count vectors"):
            return int(self._collection.count())

    def reset(self) -> None:
        """Drop the collection and create it again, empty (repair of an index a crash left unreadable)."""
        with self._locked(exclusive=True), self._errors("reset the collection"):
            try:
                self._client.delete_collection(self.collection_name)
            finally:
                self._attach(self._client)
                self._changed()

    def close(self) -> None:
        """Release the client (and, for a persistent index, its private Chroma system and lock); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._collection = None
        self._client = None
        if self._release is not None:
            self._release()


__all__ = ["ChromaVectorIndex"]
