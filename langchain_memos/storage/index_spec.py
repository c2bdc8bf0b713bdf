"""What an embedded vector index is (engine and folder), and opening it: shared by the store and its index worker.

Example:
    >>> import tempfile
    >>> spec = WorkerSpec(sqlite_path="unused", index_path=tempfile.mkdtemp() + "/faiss")
    >>> index = open_index(spec)
    >>> type(index).__name__, index.count()
    ('FaissVectorIndex', 0)
    >>> index.close()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError
from .base import VectorIndex


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker opens (all picklable): the SQLite file and the vector index, a ``"faiss"`` or
    ``"chroma"`` folder (``collection``: the Chroma collection)."""

    sqlite_path: str
    index_path: str
    engine: str = "faiss"
    collection: str = "memos"
    hnsw: dict[str, Any] = field(default_factory=dict)
    busy_timeout_s: float = 30.0


def open_index(spec: WorkerSpec) -> VectorIndex:
    """The persistent vector index ``spec`` names (what the worker, and an index falling back inline, open).

    Raises:
        InvalidInputError: ``spec.engine`` is neither ``"faiss"`` nor ``"chroma"``.
    """
    if spec.engine == "faiss":
        from .faiss_index import FaissVectorIndex

        return FaissVectorIndex.persistent(spec.index_path, lock_timeout_s=spec.busy_timeout_s, hnsw=spec.hnsw)
    if spec.engine == "chroma":
        from .chroma import ChromaVectorIndex

        return ChromaVectorIndex.persistent(spec.index_path, collection_name=spec.collection,
                                            lock_timeout_s=spec.busy_timeout_s, hnsw=spec.hnsw)
    raise InvalidInputError(f"unknown index engine {spec.engine!r}; use 'faiss' or 'chroma'")


__all__ = ["WorkerSpec", "open_index"]
