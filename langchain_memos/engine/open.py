"""Open the configured engines: the record store, the vector index and the graph engine.

Example:
    >>> from langchain_memos.config import MemOSConfig
    >>> records, vectors = open_engines(MemOSConfig(path=None, vector_backend="chroma-ephemeral"))
    >>> type(records).__name__, type(vectors).__name__
    ('SQLiteRecordStore', 'ChromaVectorIndex')
    >>> records.close(); vectors.close()
"""

from __future__ import annotations

from typing import Any

from ..config import MemOSConfig
from ..errors import InvalidInputError
from ..storage.base import RecordStore, VectorIndex
from ..storage.index_spec import WorkerSpec, open_index
from ..storage.index_worker import WorkerVectorIndex, worker_supported


def open_graph(config: MemOSConfig, records: RecordStore) -> Any:
    """The configured graph engine (``None`` when ``graph_backend`` is ``None``)."""
    backend = config.graph_backend
    if backend is None:
        return None
    if backend == "sqlite":
        from ..graph.sqlite import SQLiteGraphStore
        from ..storage.sqlite import SQLiteRecordStore

        if isinstance(records, SQLiteRecordStore):
            return SQLiteGraphStore(records=records)
        directory = config.directory
        return SQLiteGraphStore(directory / "graph.sqlite3" if directory is not None else None,
                                busy_timeout_s=config.busy_timeout_s)
    if backend == "neo4j":
        from ..graph.neo4j import Neo4jGraphStore

        return Neo4jGraphStore(config.neo4j_uri, config.neo4j_user, config.neo4j_password,
                               database=config.neo4j_database)
    raise InvalidInputError(f"unknown graph_backend {backend!r}; use 'sqlite', 'neo4j' or None")


def open_engines(config: MemOSConfig) -> tuple[RecordStore, VectorIndex]:
    """The configured record store and vector index (created under ``config.directory`` when set).

    An embedded index opened in a folder that did not exist yet (a new store, a deleted index
    folder, or a store that used the other embedded engine), or whose files could not be read,
    starts empty: every embedding of
    the record store is queued for it (:meth:`~..storage.base.PendingVectors.requeue_all_vectors`),
    and searches score what is still waiting exactly until it is indexed.
    """
    from ..storage.sqlite import SQLiteRecordStore

    directory = config.directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    records = SQLiteRecordStore(config.sqlite_path, busy_timeout_s=config.busy_timeout_s)
    backend = config.vector_backend
    if backend == "chroma-http":
        from ..storage.chroma import ChromaVectorIndex

        vectors: VectorIndex = ChromaVectorIndex.http(
            config.chroma_host, config.chroma_port, ssl=config.chroma_ssl, headers=config.chroma_headers or None,
            collection_name=config.collection, lock_path=directory / f"{config.collection}.chroma-http.lock"
            if directory is not None else None, lock_timeout_s=config.busy_timeout_s, hnsw=config.hnsw)
    elif backend == "faiss" and directory is None:
        from ..storage.faiss_index import FaissVectorIndex

        vectors = FaissVectorIndex.in_memory(hnsw=config.hnsw)
    elif backend == "chroma-ephemeral" or (backend == "chroma" and directory is None):
        from ..storage.chroma import ChromaVectorIndex

        vectors = ChromaVectorIndex.ephemeral(hnsw=config.hnsw)  # a unique collection: ephemeral clients share a process
    elif backend in ("faiss", "chroma"):
        folder = config.faiss_path if backend == "faiss" else config.chroma_path
        assert folder is not None
        spec = WorkerSpec(sqlite_path=str(config.sqlite_path), index_path=str(folder), engine=backend,
                          collection=config.collection, hnsw=dict(config.hnsw), busy_timeout_s=config.busy_timeout_s)
        fresh = not folder.exists()
        vectors = open_index(spec)
        if fresh or getattr(vectors, "started_empty", False):
            records.requeue_all_vectors()  # (the record store set itself up when it opened)
        if config.index_worker_after is not None and worker_supported():
            vectors = WorkerVectorIndex(vectors, spec, start_after=config.index_worker_after,
                                        reopen_inline=lambda: open_index(spec))
    else:
        raise InvalidInputError(f"unknown vector_backend {backend!r}; use 'faiss', 'chroma', 'chroma-http' or "
                                "'chroma-ephemeral'")
    return records, vectors


__all__ = ["open_engines", "open_graph"]
