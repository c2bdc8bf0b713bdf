"""langchain-memos: MemOS-style managed memory for LangGraph and LangChain agents.

Every memory is a :class:`MemCube` with metadata and a lifecycle; :class:`MemOS`
stores them (SQLite + Chroma by default, one directory, zero setup) and finds
them with hybrid retrieval.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     _ = memos.add("Bob is allergic to peanuts", namespace=("users", "bob"))
    ...     [h.cube.content for h in memos.search("peanuts", namespace=("users", "bob"))]
    ['Bob is allergic to peanuts']

Names are imported lazily, so ``import langchain_memos`` loads no engine or model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "MemOS": "langchain_memos.memos",
    "SearchHit": "langchain_memos.memos",
    "SearchResults": "langchain_memos.engine.timings",
    "SearchTimings": "langchain_memos.engine.timings",
    "IntegrityReport": "langchain_memos.memos",
    "MemOSConfig": "langchain_memos.config",
    "RetrievalConfig": "langchain_memos.retrieval.pipeline",
    "MemCube": "langchain_memos.cube",
    "MemoryType": "langchain_memos.cube",
    "Tier": "langchain_memos.cube",
    "Status": "langchain_memos.cube",
    "Provenance": "langchain_memos.cube",
    "Permissions": "langchain_memos.cube",
    "HistoryEntry": "langchain_memos.cube",
    "MemOSError": "langchain_memos.errors",
    "InvalidInputError": "langchain_memos.errors",
    "InvalidNamespaceError": "langchain_memos.errors",
    "NonJSONValueError": "langchain_memos.errors",
    "ContentTooLargeError": "langchain_memos.errors",
    "UnknownFilterOperatorError": "langchain_memos.errors",
    "EmbeddingDimensionError": "langchain_memos.errors",
    "CubeNotFoundError": "langchain_memos.errors",
    "PermissionDeniedError": "langchain_memos.errors",
    "StorageError": "langchain_memos.errors",
    "StoreLockedError": "langchain_memos.errors",
    "EngineUnavailableError": "langchain_memos.errors",
    "GraphIngestError": "langchain_memos.errors",
    "LocalMiniLMEmbeddings": "langchain_memos.embeddings",
    "HashingEmbeddings": "langchain_memos.embeddings",
    "render_memory_block": "langchain_memos.render",
}

__all__ = sorted(_EXPORTS) + ["__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())




if TYPE_CHECKING:  # pragma: no cover
    from .config import MemOSConfig
    from .cube import HistoryEntry, MemCube, MemoryType, Permissions, Provenance, Status, Tier
    from .embeddings import HashingEmbeddings, LocalMiniLMEmbeddings
    from .errors import (
        ContentTooLargeError,
        CubeNotFoundError,
        EmbeddingDimensionError,
        EngineUnavailableError,
        GraphIngestError,
        InvalidInputError,
        InvalidNamespaceError,
        MemOSError,
        NonJSONValueError,
        PermissionDeniedError,
        StorageError,
        StoreLockedError,
        UnknownFilterOperatorError,
    )
    from .engine.timings import SearchResults, SearchTimings
    from .memos import IntegrityReport, MemOS, SearchHit
    from .render import render_memory_block
    from .retrieval.pipeline import RetrievalConfig
