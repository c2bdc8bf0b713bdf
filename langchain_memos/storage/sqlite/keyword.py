"""The keyword (BM25) index of the SQLite engine: FTS5 rows and search
(:class:`~langchain_memos.storage.base.KeywordIndex`).

The ``fts`` table holds one row per keyword-indexed cube (rowid = the cube's
``rid``) with the columns of :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS`.
Rows are written by the record writes (:mod:`.records`) through the functions
here, in the caller's transaction; the search statement comes from the pure
compiler (:func:`.compiler.keyword_search_sql`).
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

from ..base import CubeQuery, ScoredId
from .compiler import bm25_weights, fts_match, keyword_search_sql
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


class SQLiteKeywordIndex(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.KeywordIndex` on the engine's connection (a mixin of the record store)."""

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
        sql, params = keyword_search_sql(match, query, k, weights)
        # on its own connection: the engine runs it beside the vector stage's reads
        rows = self.side_read(lambda conn: conn.execute(sql, params).fetchall())
        return [ScoredId(cube_id, float(score)) for cube_id, score in rows]


__all__ = ["SQLiteKeywordIndex", "drop_keyword_row", "merge_keyword_index", "put_keyword_row", "replace_keywords"]
