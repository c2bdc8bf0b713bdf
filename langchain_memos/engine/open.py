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
from ..storage.index_worker import WorkerSpec, WorkerVectorIndex, worker_supported


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
    """The configured record store and vector index (created under ``config.directory`` when set)."""
    from ..storage.chroma import ChromaVectorIndex
    from ..storage.sqlite import SQLiteRecordStore

    directory = config.directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    records = SQLiteRecordStore(config.sqlite_path, busy_timeout_s=config.busy_timeout_s)
    if config.vector_backend == "chroma-http":
        vectors = ChromaVectorIndex.http(config.chroma_host, config.chroma_port, ssl=config.chroma_ssl,
                                         headers=config.chroma_headers or None, collection_name=config.collection,
                                         lock_path=directory / f"{config.collection}.chroma-http.lock"
                                         if directory is not None else None, lock_timeout_s=config.busy_timeout_s,
                                         hnsw=config.hnsw)
    elif config.vector_backend == "chroma-ephemeral" or directory is None:
        vectors = ChromaVectorIndex.ephemeral(hnsw=config.hnsw)  # a unique collection: ephemeral clients share a process
    elif config.vector_backend == "chroma":
        def persistent() -> ChromaVectorIndex:
            return ChromaVectorIndex.persistent(config.chroma_path, collection_name=config.collection,
                                                lock_timeout_s=config.busy_timeout_s, hnsw=config.hnsw)

        vectors = persistent()
        if config.index_worker_after is not None and worker_supported():
            spec = WorkerSpec(sqlite_path=str(config.sqlite_path), chroma_path=str(config.chroma_path),
                              collection=config.collection, hnsw=dict(config.hnsw),
                              busy_timeout_s=config.busy_timeout_s)
            vectors = WorkerVectorIndex(vectors, spec, start_after=config.index_worker_after,
                                        reopen_inline=persistent)
    else:
        raise InvalidInputError(
            f"unknown vector_backend {config.vector_backend!r}; use 'chroma', 'chroma-http' or 'chroma-ephemeral'"
        )
    return records, vectors


__all__ = ["open_engines", "open_graph"]
