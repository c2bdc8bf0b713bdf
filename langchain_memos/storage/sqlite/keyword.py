"""The keyword (BM25) index of the SQLite engine: FTS5 rows and search
(:class:`~langchain_memos.storage.base.KeywordIndex`).

The ``fts`` table holds one row per keyword-indexed cube (rowid = the cube's
``rid``) with the columns of :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS`.
Rows are written by the record writes (:mod:`.records`) through the functions
here, in the caller's transaction; the search statement comes from the pure
compiler (:func:`.compiler.keyword_search_sql`).

A search first scores only its *head* (:func:`.compiler.keyword_head_sql`): the best
few times ``k`` keyword rows that pass the top-level metadata filters (and, for a scope
of at most :data:`~.compiler.SMALL_SCOPE` cubes, lie in its namespace), whose cubes alone
are joined and tested for the rest of the query. When the head settles the search
(:func:`.compiler.head_answer`) that is the answer, exactly the full statement's;
otherwise the full statement runs, and the scope's next :data:`HEAD_REST` searches
skip the head.

A top-level metadata filter lists its rids from the ``metadata_fields`` index for every head
(about 5 ms for a tenth of 100,000 cubes). Each connection keeps those lists for the last
:data:`KEPT_FILTERS` filters as temp tables, labelled with the store's change token and filled
again once it moved; a head whose token moved while it ran is not used (the full statement
answers), so a kept list never lags the rows it is tested against.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from ...filters import Condition
from ..base import CubeQuery, ScoredId, ns_key
from .compiler import (SMALL_SCOPE, bm25_weights, filter_key, filter_rids_sql, fts_match, head_answer,
                       keyword_head_sql, keyword_search_sql, small_scope_sql)
from .connection import SQLiteConnection
from .schema import FTS_INSERT


def put_keyword_row(conn: sqlite3.Connection, rid: int, values: Sequence[str]) -> None:
    """Add the keyword row of the cube with row id ``rid`` (column values in ``KEYWORD_COLUMNS`` order),
    and log it for the keyword mirror (:mod:`~langchain_memos.storage.keyword_mirror`)."""
    conn.execute(FTS_INSERT, (rid, *values))
    conn.execute(LOG_KEYWORD_ROW, (rid,))


def drop_keyword_row(conn: sqlite3.Connection, rid: int) -> None:
    """Remove the keyword row of the cube with row id ``rid`` (none: nothing happens), and log it."""
    if conn.execute("DELETE FROM fts WHERE rowid = ?", (rid,)).rowcount:
        conn.execute(LOG_KEYWORD_ROW, (rid,))


#: Logs a keyword row written or dropped (``keyword_log``, read by the keyword mirror).
LOG_KEYWORD_ROW = "INSERT INTO keyword_log(rid) VALUES (?)"


def replace_keywords(conn: sqlite3.Connection, cube_id: str, values: Sequence[str] | None) -> None:
    """Replace (or drop, for ``None``) the keyword row of a stored cube; an unknown id is ignored."""
    found = conn.execute("SELECT rid FROM cubes WHERE id = ?", (cube_id,)).fetchone()
    if found is None:
        return
    drop_keyword_row(conn, found[0])
    if values is not None:
        put_keyword_row(conn, found[0], values)


def merge_keyword_index(conn: sqlite3.Connection) -> None:
    """Merge the index's segments, so no term of a deleted row survives in it (used by erasure)."""
    conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")


#: Keyword rows scored into a search's head per result asked for (see :func:`.compiler.keyword_head_sql`).
HEAD_PER_RESULT = 4
#: Searches of a scope that go straight to the full statement after its head did not settle one.
HEAD_REST = 32
#: Scopes whose rest is remembered (the oldest is forgotten first).
HEAD_SCOPES = 256
#: Top-level metadata filters whose rids a connection keeps as temp tables (the oldest is dropped first).
KEPT_FILTERS = 8


class SQLiteKeywordIndex(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.KeywordIndex` on the engine's connection (a mixin of the record store)."""

    def __init__(self, path: str | Path | None, **options: Any) -> None:
        self._head_rest: dict[tuple[str, bool], int] = {}  # scope -> searches left that skip the head
        self._head_lock = threading.Lock()
        # id(connection) -> (the connection, filter_key -> (temp table, change token it was filled at))
        self._kept_filters: dict[int, tuple[sqlite3.Connection, OrderedDict[Any, tuple[str, Any]]]] = {}
        self._filter_names = itertools.count()
        super().__init__(path, **options)

    def keyword_search(self, terms: Sequence[str], query: CubeQuery, k: int, *,
                       column_weights: Sequence[float] | None = None) -> list[ScoredId]:
        """BM25 search for any of ``terms``, best first (score = ``-bm25``, larger is better).

        Args:
            terms: Plain words (see :func:`fts_match`; FTS5 syntax in them is inert).
            query: Restricts the cubes searched.
            k: How many results.
            column_weights: BM25 weights of :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS` (default: all 1.0).
        """
        match = fts_match(terms)
        if match is None or k <= 0:
            return []
        weights = bm25_weights(column_weights)
        # on its own connection: the engine runs it beside the vector stage's reads
        scope = (ns_key(query.namespace_prefix), query.exact_namespace)
        rows = self._head_search(match, query, k, weights, scope) if query.ids is None else None
        if rows is None:
            sql, params = keyword_search_sql(match, query, k, weights)
            rows = self.side_read(lambda conn: conn.execute(sql, params).fetchall())
        return [ScoredId(cube_id, float(score)) for cube_id, score in rows]

    def _head_search(self, match: str, query: CubeQuery, k: int, weights: Sequence[float],
                     scope: tuple[str, bool]) -> list[tuple[str, float]] | None:
        """The search's answer from its head (see the module docstring), or ``None``: the scope rests, or
        the head did not settle it (the scope then rests for :data:`HEAD_REST` searches)."""
        with self._head_lock:
            rest = self._head_rest.pop(scope, 0)
            if rest > 1:
                self._head_rest[scope] = rest - 1
        if rest:
            return None
        head = HEAD_PER_RESULT * k
        counting = small_scope_sql(query, SMALL_SCOPE)
        filters = [c for c in query.conditions if len(c.path) == 1]
        token = self.read_transaction(self.change_token) if filters else None

        def read(conn: sqlite3.Connection) -> list[Any]:
            try:
                kept = self._filter_tables(conn, filters, token) if filters else None
                small = counting is not None and conn.execute(*counting).fetchone()[0] <= SMALL_SCOPE
                return conn.execute(*keyword_head_sql(match, query, head, weights, scope_rowids=small,
                                                      kept=kept)).fetchall()
            except BaseException:  # a rolled-back transaction takes its new tables along: forget them all
                self._kept_filters.pop(id(conn), None)
                raise

        found = self.side_read(read)
        if filters and self.read_transaction(self.change_token) != token:
            return None  # a write landed meanwhile: the kept lists may be older than the rows read
        rows = head_answer(found, head, k)
        if rows is None:
            with self._head_lock:
                self._head_rest[scope] = HEAD_REST
                while len(self._head_rest) > HEAD_SCOPES:
                    self._head_rest.pop(next(iter(self._head_rest)))
        return rows

    def _filter_tables(self, conn: sqlite3.Connection, filters: Sequence[Condition], token: Any) -> dict[Any, str]:
        """Temp tables on ``conn`` holding the rids of each top-level filter as of ``token`` (filled again
        where the token moved); returns filter_key -> table, for :func:`.compiler.keyword_head_sql`."""
        held = self._kept_filters.get(id(conn))
        if held is None or held[0] is not conn:
            held = self._kept_filters[id(conn)] = (conn, OrderedDict())
        tables = held[1]
        out: dict[Any, str] = {}
        for cond in filters:
            key = filter_key(cond)
            name, filled_at = tables.pop(key, (None, None))
            if name is None:
                name = f"memos_filter_{next(self._filter_names)}"
            if filled_at != token:
                rids, params = filter_rids_sql(cond)
                conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
                conn.execute(f"CREATE TEMP TABLE {name} (rid INTEGER PRIMARY KEY)")
                conn.execute(f"INSERT OR IGNORE INTO temp.{name} {rids}", params)
            tables[key] = (name, token)
            out[key] = name
        while len(tables) > max(KEPT_FILTERS, len(out)):  # this search's tables are the newest
            conn.execute(f"DROP TABLE IF EXISTS temp.{tables.popitem(last=False)[1][0]}")
        return out


__all__ = ["SQLiteKeywordIndex", "drop_keyword_row", "merge_keyword_index", "put_keyword_row", "replace_keywords"]
