"""Stored embeddings and the vector-index outbox of the SQLite engine
(:class:`~langchain_memos.storage.base.PendingVectors`).

Embeddings are float32 blobs in ``vectors`` (so every vector index can be rebuilt).
``cubes.has_vector`` / ``cubes.indexed`` flag the cubes whose embedding is not yet
confirmed in the vector index; an archived cube is never pending.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any, Sequence

from ...cube import Tier
from ...errors import EmbeddingDimensionError
from ..base import CubeQuery, WaitingVector, ns_from_key, ns_key
from .compiler import compile_query, expiry_cutoff
from .connection import SQLiteConnection
from .values import json_list

#: The most rows a scope's embedding matrix may have to be kept for the next exact search of that scope
#: (8,192 rows of 384 floats are 12 MiB).
MATRIX_KEPT_ROWS = 8192


def float32_matrix(blobs: Sequence[bytes]) -> Any:
    """The stored float32 embeddings ``blobs`` as one read-only matrix, a row each (``(0, 0)`` for none).

    Every stored vector of a store has the store's dimension (checked on write), so the blobs are
    joined into one buffer.
    """
    import numpy as np

    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)


def check_dim(conn: sqlite3.Connection, dim: int) -> None:
    """Record the store's embedding dimension on its first embedding; refuse any other one after that."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'embedding_dim'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta(name, value) VALUES ('embedding_dim', ?)", (str(dim),))
    elif int(row[0]) != dim:
        raise EmbeddingDimensionError(
            f"this store holds {row[0]}-dimensional embeddings but got {dim}-dimensional ones; "
            "use the embedding model the store was built with, or open a new store (a new path) "
            "for the new model"
        )


def put_vector(conn: sqlite3.Connection, cube_id: str, dim: int, blob: bytes) -> None:
    """Insert or replace the embedding (float32 bytes of ``dim`` values) of one cube."""
    conn.execute("INSERT INTO vectors(id, dim, vec) VALUES (?, ?, ?) "
                 "ON CONFLICT(id) DO UPDATE SET dim = excluded.dim, vec = excluded.vec", (cube_id, dim, blob))


def drop_vector(conn: sqlite3.Connection, cube_id: str) -> None:
    """Remove the embedding of one cube (none: nothing happens)."""
    conn.execute("DELETE FROM vectors WHERE id = ?", (cube_id,))


class SQLitePendingVectors(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.PendingVectors` on the engine's connection (a record store mixin)."""

    def embeddings(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """Stored embeddings of these ids as read-only float32 numpy arrays; absent ids are left out."""
        import numpy as np

        if not ids:
            return {}
        rows = self.read_transaction(lambda conn: conn.execute(
            "SELECT id, vec FROM vectors WHERE id IN (SELECT value FROM json_each(?))", (json_list(ids),)).fetchall())
        return {cube_id: np.frombuffer(blob, dtype="<f4") for cube_id, blob in rows}

    def embedding_matrix(self, query: CubeQuery, limit: int | None = None) -> tuple[list[str], Any]:
        """Ids and stored embeddings (a float32 matrix, one row each) of the cubes matching ``query``
        that have one, at most ``limit`` (one statement; the rows are joined into one buffer).

        The whole matrix of a scope (no ``limit``, ``ids`` or ``cube_conditions``) of at most
        :data:`MATRIX_KEPT_ROWS` rows is kept, with each row's expiry, for the next call on that scope
        while the database is unchanged (:meth:`~.connection.SQLiteConnection.kept_read`); rows that
        expired since are dropped from what is returned.
        """
        if limit is None and query.ids is None and not query.cube_conditions:  # (those may test access counts)
            return self._scope_matrix(query)
        where, params = compile_query(query)
        rows = self.read_transaction(lambda conn: conn.execute(
            f"SELECT c.id, v.vec FROM cubes AS c JOIN vectors AS v ON v.id = c.id WHERE {where} LIMIT ?",
            [*params, -1 if limit is None else int(limit)]).fetchall())
        return [r[0] for r in rows], float32_matrix([r[1] for r in rows])

    def _scope_matrix(self, query: CubeQuery) -> tuple[list[str], Any]:
        """:meth:`embedding_matrix` of a whole scope: every row with its expiry, kept between calls
        (:meth:`~.connection.SQLiteConnection.kept_read`), the rows expired by now dropped."""
        import numpy as np

        where, params = compile_query(replace(query, include_expired=True, now=None))  # expiry applied below
        sql = f"SELECT c.id, c.expires_at, v.vec FROM cubes AS c JOIN vectors AS v ON v.id = c.id WHERE {where}"

        def read(conn: sqlite3.Connection) -> tuple[list[str], Any, Any]:
            rows = conn.execute(sql, params).fetchall()
            expires = np.array([np.inf if r[1] is None else r[1] for r in rows], dtype=np.float64)
            return [r[0] for r in rows], expires, float32_matrix([r[2] for r in rows])

        ids, expires, matrix = self.kept_read(("embedding_matrix", where, *params), read,
                                              keep=lambda value: len(value[0]) <= MATRIX_KEPT_ROWS)
        cutoff = expiry_cutoff(query)
        if cutoff is not None:
            live = expires > cutoff
            if not live.all():
                return [i for i, keep in zip(ids, live) if keep], matrix[live]
        return list(ids), matrix

    def unindexed_ids(self, limit: int | None = None) -> list[str]:
        """Ids with an embedding not yet confirmed in the vector index (sorted)."""
        lim = -1 if limit is None else int(limit)
        rows = self.read_transaction(lambda conn: conn.execute(
            "SELECT id FROM cubes WHERE has_vector = 1 AND indexed = 0 ORDER BY id LIMIT ?", (lim,)).fetchall())
        return [r[0] for r in rows]

    def mark_indexed(self, ids: Sequence[str], indexed: bool = True) -> None:
        """Record that these ids' embeddings are in the vector index (``indexed=False``: that they need re-indexing)."""
        if not ids:
            return
        self.write_transaction(lambda conn: conn.execute(
            "UPDATE cubes SET indexed = ? WHERE id IN (SELECT value FROM json_each(?))",
            (1 if indexed else 0, json_list(ids))))

    def requeue_all_vectors(self) -> int:
        """Mark every stored embedding outside the archive (which the index never holds) as waiting for the
        vector index; return how many were marked."""
        return self.write_transaction(lambda conn: conn.execute(
            "UPDATE cubes SET indexed = 0 WHERE has_vector = 1 AND indexed = 1 AND tier != ?",
            (Tier.ARCHIVE.value,)).rowcount)

    def vector_rids(self, after: int, limit: int) -> list[tuple[str, int]]:
        """``(id, rid)`` of up to ``limit`` cubes with an embedding whose rid is past ``after``, by rid (to teach an
        index written before rids were kept the rid of each vector it holds)."""
        return self.read_transaction(lambda conn: conn.execute(
            "SELECT id, rid FROM cubes WHERE rid > ? AND has_vector = 1 ORDER BY rid LIMIT ?",
            (int(after), int(limit))).fetchall())

    def unindexed_embeddings(self, limit: int) -> list[WaitingVector]:
        """Up to ``limit`` cubes waiting for the vector index, each with its rid.

        Archived cubes are listed too (the caller leaves them out of the hot index and
        confirms them all the same). Nothing is changed: see :meth:`confirm_indexed`.
        """
        import numpy as np

        rows = self.read_transaction(lambda conn: conn.execute(
            "SELECT c.id, c.ns, c.tier, v.vec, c.rid FROM cubes AS c LEFT JOIN vectors AS v ON v.id = c.id "
            "WHERE c.has_vector = 1 AND c.indexed = 0 LIMIT ?", (int(limit),)).fetchall())
        return [WaitingVector(cube_id, ns_from_key(ns), Tier(tier),
                              None if vec is None else np.frombuffer(vec, dtype="<f4"), rid)
                for cube_id, ns, tier, vec, rid in rows]

    def confirm_indexed(self, entries: Sequence[WaitingVector]) -> int:
        """Flag cubes as indexed if they still have the namespace, tier and embedding given; return how many.

        ``entries`` are rows of :meth:`unindexed_embeddings` after the index took them.
        A cube written again in between (new embedding, tier or namespace, or deleted and written again as a
        new row) keeps waiting, so the index always ends up with the last version (and its rid), and a crash
        between the index write and this call leaves the rows waiting (indexed again
        by the next writer or ``MemOS.check()``), never flagged with a stale vector.
        """
        import numpy as np

        rows = [(w.id, ns_key(w.namespace), Tier(w.tier).value,
                 None if w.embedding is None else np.asarray(w.embedding, dtype="<f4").tobytes(), w.rid, w.rid)
                for w in entries]
        if not rows:
            return 0
        sql = ("UPDATE cubes SET indexed = 1 WHERE id = ? AND ns = ? AND tier = ? AND indexed = 0 "
               "AND (SELECT v.vec FROM vectors AS v WHERE v.id = cubes.id) IS ? AND (? IS NULL OR rid = ?)")
        return self.write_transaction(lambda conn: conn.executemany(sql, rows).rowcount)


__all__ = ["SQLitePendingVectors", "check_dim", "drop_vector", "put_vector"]
