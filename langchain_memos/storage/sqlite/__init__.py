"""The embedded record store: SQLite (WAL) with an FTS5 keyword index.

:class:`SQLiteRecordStore` implements :class:`~langchain_memos.storage.base.RecordStore`.
It is the source of truth for cubes, their history, their embeddings (float32
blobs, so every vector index can be rebuilt), a BM25 keyword index and an audit
log. One file may be opened by several threads and several processes at once:

* file databases run in WAL mode with ``synchronous=NORMAL`` and foreign keys on;
* each store holds one connection guarded by a re-entrant lock (threads of one
  process take turns; processes coordinate through SQLite's file locks);
* every write is one ``BEGIN IMMEDIATE`` transaction, retried with backoff while
  the database is busy, up to ``busy_timeout_s``; after that
  :class:`~langchain_memos.errors.StoreLockedError` is raised.

Every value reaches SQL as a bound parameter; user strings are never formatted
into statements (the pure compiler of :mod:`.compiler` builds every statement
that depends on a query). Metadata filters have exactly the semantics of
:func:`langchain_memos.filters.matches` (one known gap: a string containing a NUL
character cannot be compared by a filter). Conditions on a top-level field run
on ``metadata_fields``, an indexed copy of each cube's top-level scalar metadata
``(rid, key, type, atom)`` written from ``json_each`` in the same transaction as
the cube (so a filter like ``{"category": "books"}`` is an index lookup, not a
JSON scan of every row); nested paths compile to ``json_each`` lookups.

One module per job; :class:`SQLiteRecordStore` (:mod:`.store`) composes them:

* :mod:`.connection` -- ``SQLiteConnection``: open, busy-retried transactions, setup,
  settings, the write lock (``StoreAdmin``);
* :mod:`.records` -- cubes and history (``CubeRecords``);
* :mod:`.keyword` -- FTS5 rows and BM25 search (``KeywordIndex``);
* :mod:`.threads` -- thread positions (``ThreadLinks``);
* :mod:`.vectors` -- embeddings and the vector-index outbox (``PendingVectors``);
* :mod:`.tiers` -- tier moves, working sets, heat, co-access (``TierState``);
* :mod:`.expiry` -- sliding TTLs, expired ids (``ExpiryState``);
* :mod:`.audit` -- the audit log (``AuditLog``);
* pure helpers, no I/O: :mod:`.compiler` (queries, filters and keyword terms to SQL),
  :mod:`.rows` (write validation and row values), :mod:`.values` (epoch, JSON),
  :mod:`.schema` (tables and fixed statements).

Example:
    >>> from langchain_memos.cube import MemCube
    >>> from langchain_memos.storage.sqlite import SQLiteRecordStore
    >>> store = SQLiteRecordStore(None)
    >>> cube = MemCube(content="Alice prefers tea", namespace=("users", "alice"))
    >>> store.write([cube], [None], [cube.content])
    []
    >>> store.get([cube.id]) == [cube]
    True
    >>> store.close()
"""

from __future__ import annotations

from .compiler import MAX_QUERY_TERMS, ORDERINGS, compile_query, fts_match
from .schema import CACHE_KIB, SCHEMA_VERSION, WAL_CHECKPOINT_PAGES
from .store import SQLiteRecordStore

__all__ = [
    "CACHE_KIB",
    "MAX_QUERY_TERMS",
    "ORDERINGS",
    "SCHEMA_VERSION",
    "SQLiteRecordStore",
    "WAL_CHECKPOINT_PAGES",
    "compile_query",
    "fts_match",
]
