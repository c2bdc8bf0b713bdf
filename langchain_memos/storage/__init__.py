"""Storage engines behind small protocols (see :mod:`langchain_memos.storage.base`).

The protocols and query types are imported eagerly (they are light); the engines
are imported on first attribute access, so ``import langchain_memos`` never
imports ``chromadb``.

Example:
    >>> from langchain_memos.storage import SQLiteRecordStore, RecordStore
    >>> isinstance(SQLiteRecordStore(None), RecordStore)
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import (
    NS_SEP,
    AuditLog,
    AuditRecord,
    CubeQuery,
    CubeRecords,
    ExpiryState,
    KeywordIndex,
    PendingVectors,
    RecordStore,
    ScoredId,
    StoreAdmin,
    ThreadLinks,
    TierState,
    VectorIndex,
    ns_from_key,
    ns_key,
)

if TYPE_CHECKING:  # pragma: no cover
    from .chroma import ChromaVectorIndex
    from .sqlite import SQLiteRecordStore

_LAZY = {
    "SQLiteRecordStore": ".sqlite",
    "ChromaVectorIndex": ".chroma",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "NS_SEP",
    "AuditLog",
    "AuditRecord",
    "ChromaVectorIndex",
    "CubeQuery",
    "CubeRecords",
    "ExpiryState",
    "KeywordIndex",
    "PendingVectors",
    "RecordStore",
    "SQLiteRecordStore",
    "ScoredId",
    "StoreAdmin",
    "ThreadLinks",
    "TierState",
    "VectorIndex",
    "ns_from_key",
    "ns_key",
]
