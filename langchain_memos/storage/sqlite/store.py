"""The SQLite record store: one class composed of the engine's parts, one per storage protocol."""

from __future__ import annotations

from .audit import SQLiteAuditLog
from .connection import SQLiteConnection
from .expiry import SQLiteExpiryState
from .keyword import SQLiteKeywordIndex
from .records import SQLiteCubeRecords
from .threads import SQLiteThreadLinks
from .tiers import SQLiteTierState
from .vectors import SQLitePendingVectors


class SQLiteRecordStore(SQLiteCubeRecords, SQLiteKeywordIndex, SQLiteThreadLinks, SQLitePendingVectors,
                        SQLiteTierState, SQLiteExpiryState, SQLiteAuditLog, SQLiteConnection):
    """A :class:`~langchain_memos.storage.base.RecordStore` on one SQLite file (or in memory).

    Each base implements one small protocol of :mod:`langchain_memos.storage.base` over
    the shared connection of :class:`~.connection.SQLiteConnection` (``StoreAdmin``), whose
    constructor it takes: ``SQLiteRecordStore(path, busy_timeout_s=30.0)``, ``path=None``
    for a private in-memory database.

    Example:
        >>> from langchain_memos.storage.base import CubeQuery
        >>> with SQLiteRecordStore(None) as store:
        ...     store.count(CubeQuery())
        0
    """


__all__ = ["SQLiteRecordStore"]
