"""Configuration of a MemOS instance: where data lives and which engines serve it.

Example:
    >>> from langchain_memos.config import MemOSConfig
    >>> MemOSConfig(path="./memos_data").vector_backend
    'faiss'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

VectorBackend = Literal["faiss", "chroma", "chroma-http", "chroma-ephemeral"]
GraphBackend = Literal["sqlite", "neo4j"]


@dataclass
class MemOSConfig:
    """Settings for :class:`~langchain_memos.memos.MemOS`.

    Attributes:
        path: The data directory (SQLite file ``memos.sqlite3`` and the vector index's
            folder, ``faiss/`` or ``chroma/``). ``None`` keeps everything in memory (tests).
        vector_backend: ``"faiss"`` (the default: a faiss HNSW graph kept in ``path``, see
            :mod:`~langchain_memos.storage.faiss_index`; in memory when ``path`` is ``None``),
            ``"chroma"`` (Chroma's ``PersistentClient`` in ``path``), ``"chroma-http"`` (a Chroma
            server, see ``chroma_host``/``chroma_port``) or ``"chroma-ephemeral"`` (in-memory).
            Switching an existing store to the other embedded engine builds the new index from
            the embeddings in SQLite.
        chroma_host / chroma_port / chroma_ssl / chroma_headers: Server settings
            for ``"chroma-http"``.
        collection: The Chroma collection name.
        hnsw: HNSW settings over the engine's defaults (``max_neighbors`` 16 for faiss,
            ``ef_construction`` 40, ``ef_search`` 100), e.g. ``{"ef_construction": 100,
            "ef_search": 200}``. A Chroma collection or a faiss graph keeps the build settings
            it was created with.
        index_worker_after: With an embedded index (``"faiss"``, ``"chroma"``), how many vectors are
            indexed in this process before indexing moves to a worker process on another
            core (writes then return while the HNSW graph is built; see
            :mod:`~langchain_memos.storage.index_worker`). ``0``: from the first write;
            ``None``: never (always in this process). POSIX only.
        max_content_chars: Largest content a cube may hold.
        busy_timeout_s: How long a call waits for a locked SQLite database, or for the
            vector index lock another process holds, before raising
            :class:`~langchain_memos.errors.StoreLockedError`.
        embed_batch_size: Texts per call to the embedder.
        query_cache_size: Query embeddings kept by their text (least recently used out first), so a
            query searched again (every model call of an agent run searches with the same last
            message) is not embedded again; ``0`` embeds every query. See
            :mod:`~langchain_memos.engine.query_cache`.
        track_access: Count reads and retrieval hits on cubes (feeds heat).
        default_user: The acting user when a call names none (``None`` = trusted).
        graph_backend: The long-term memory graph: ``"sqlite"`` (tables in the same SQLite
            file, the default), ``"neo4j"`` (see ``neo4j_uri``...) or ``None`` (no graph).
        neo4j_uri / neo4j_user / neo4j_password / neo4j_database: Server settings for ``"neo4j"``.
        extract: Extract entities, facts and dates into the graph when messages and texts are
            added (``add(..., extract=...)`` overrides it per call; cubes passed as
            :class:`~langchain_memos.cube.MemCube` are extracted only with ``extract=True``).
        fact_cubes: Also store each extracted fact as a searchable ``fact`` cube whose validity
            follows its relation (superseded facts get ``valid_to``).
    """

    path: str | os.PathLike[str] | None = None
    vector_backend: VectorBackend = "faiss"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    chroma_ssl: bool = False
    chroma_headers: dict[str, str] = field(default_factory=dict)
    collection: str = "memos"
    hnsw: dict[str, Any] = field(default_factory=dict)
    index_worker_after: int | None = 5000
    max_content_chars: int = 100_000
    busy_timeout_s: float = 30.0
    embed_batch_size: int = 256
    query_cache_size: int = 256
    track_access: bool = True
    default_user: str | None = None
    graph_backend: GraphBackend | None = "sqlite"
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str | None = None
    extract: bool = True
    fact_cubes: bool = True

    @property
    def directory(self) -> Path | None:
        """The data directory as a :class:`Path` (``None`` when in memory)."""
        return Path(self.path) if self.path is not None else None

    @property
    def sqlite_path(self) -> Path | None:
        """Where the SQLite database lives (``None`` when in memory)."""
        return self.directory / "memos.sqlite3" if self.directory is not None else None

    @property
    def faiss_path(self) -> Path | None:
        """Where the faiss index keeps its files (``vector_backend="faiss"``)."""
        return self.directory / "faiss" if self.directory is not None else None

    @property
    def chroma_path(self) -> Path | None:
        """Where the Chroma persistent client keeps its files."""
        return self.directory / "chroma" if self.directory is not None else None
