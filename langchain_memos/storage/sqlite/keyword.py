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
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

from ..base import CubeQuery, ScoredId, ns_key
from .compiler import (SMALL_SCOPE, bm25_weights, fts_match, head_answer, keyword_head_sql, keyword_search_sql,
                       small_scope_sql)
from .connection import SQLiteConnection
from .schema import FTS_INSERT


def put_keyword_row(conn: sqlite3.Connection, rid: int, values: Sequence[str]) -> None:
    """Add the keyword row of the cube with row id ``rid`` (column values in ``KEYWORD_COLUMNS`` order)."""
    conn.execute(FTS_INSERT, (rid, *values))


def drop_keyword_row(conn: sqlite3.Connection, rid: int) -> None:
    """Remove the keyword row of the cube with row id ``rid`` (none: nothing happens)."""
    conn.execute("DELETE FROM fts WHERE rowid = ?", (rid,))


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


class SQLiteKeywordIndex(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.KeywordIndex` on the engine's connection (a mixin of the record store)."""

    def __init__(self, path: str | Path | None, **options: Any) -> None:
        self._head_rest: dict[tuple[str, bool], int] = {}  # scope -> searches left that skip the head
        self._head_lock = threading.Lock()
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

        def read(conn: sqlite3.Connection) -> list[Any]:
            small = counting is not None and conn.execute(*counting).fetchone()[0] <= SMALL_SCOPE
            return conn.execute(*keyword_head_sql(match, query, head, weights, scope_rowids=small)).fetchall()

        rows = head_answer(self.side_read(read), head, k)
        if rows is None:
            with self._head_lock:
                self._head_rest[scope] = HEAD_REST
                while len(self._head_rest) > HEAD_SCOPES:
                    self._head_rest.pop(next(iter(self._head_rest)))
        return rows


__all__ = ["SQLiteKeywordIndex", "drop_keyword_row", "merge_keyword_index", "put_keyword_row", "replace_keywords"]
