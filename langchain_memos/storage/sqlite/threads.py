"""Thread positions in the SQLite engine (:class:`~langchain_memos.storage.base.ThreadLinks`).

A cube written with a thread id and a position gets ``cubes.thread`` /
``cubes.position`` (indexed per namespace), which is what keyword documents'
context and next-unit columns are built from.
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

from ...cube import MemCube
from ..base import ns_key
from .connection import SQLiteConnection
from .records import load_cubes
from .values import json_list


class SQLiteThreadLinks(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.ThreadLinks` on the engine's connection (a mixin of the record store)."""

    def next_in_thread(self, ids: Sequence[str]) -> dict[str, str]:
        """For each id with a thread and position, the id of the next cube of its thread."""
        if not ids:
            return {}
        sql = ("SELECT c.id, (SELECT n.id FROM cubes AS n WHERE n.ns = c.ns AND n.thread = c.thread "
               "AND n.position > c.position ORDER BY n.position LIMIT 1) FROM cubes AS c "
               "WHERE c.id IN (SELECT value FROM json_each(?)) AND c.thread IS NOT NULL")
        rows = self.read_transaction(lambda conn: conn.execute(sql, (json_list(ids),)).fetchall())
        return {cube_id: nxt for cube_id, nxt in rows if nxt is not None}

    def thread_units(self, namespace: Sequence[str], thread: str, lo: int, hi: int) -> list[MemCube]:
        """Cubes of one thread with ``lo <= position <= hi``, ordered by position (without history)."""
        sql = ("SELECT id, data FROM cubes WHERE ns = ? AND thread = ? AND position BETWEEN ? AND ? "
               "ORDER BY position")

        def tx(conn: sqlite3.Connection) -> list[MemCube]:
            rows = conn.execute(sql, (ns_key(tuple(namespace)), thread, int(lo), int(hi))).fetchall()
            loaded = load_cubes(conn, rows, with_history=False)
            return [loaded[r[0]] for r in rows]

        return self.read_transaction(tx)

    def thread_max_position(self, namespace: Sequence[str], thread: str) -> int | None:
        """The largest position used in a thread, or ``None`` for a new thread."""
        row = self.read_transaction(lambda conn: conn.execute(
            "SELECT MAX(position) FROM cubes WHERE ns = ? AND thread = ?",
            (ns_key(tuple(namespace)), thread)).fetchone())
        return None if row is None or row[0] is None else int(row[0])


__all__ = ["SQLiteThreadLinks"]
