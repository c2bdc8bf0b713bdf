"""Sliding TTLs and expired cubes in the SQLite engine (:class:`~langchain_memos.storage.base.ExpiryState`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Sequence

from ...cube import to_utc
from ...errors import InvalidInputError
from .connection import SQLiteConnection
from .values import dumps, epoch, json_list


class SQLiteExpiryState(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.ExpiryState` on the engine's connection (a mixin of the record store)."""

    def refresh_expiry(self, ids: Sequence[str], at: datetime) -> None:
        """Move ``expires_at`` to ``at + ttl_minutes`` for the ids that have a sliding TTL."""
        if not ids:
            return
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("refresh_expiry() needs a datetime `at`")

        def tx(conn: sqlite3.Connection) -> None:
            rows = conn.execute("SELECT id, data FROM cubes WHERE id IN (SELECT value FROM json_each(?)) "
                                "AND json_extract(data, '$.ttl_minutes') IS NOT NULL", (json_list(ids),)).fetchall()
            for cube_id, raw in rows:
                data = json.loads(raw)
                expires = when + timedelta(minutes=float(data["ttl_minutes"]))
                data["expires_at"] = expires.isoformat()
                conn.execute("UPDATE cubes SET expires_at = ?, data = ? WHERE id = ?",
                             (expires.timestamp(), dumps(data, "cube"), cube_id))

        self.write_transaction(tx)

    def expired_ids(self, at: datetime, limit: int | None = None) -> list[str]:
        """Ids whose ``expires_at`` is at or before ``at`` (oldest expiry first)."""
        rows = self.read_transaction(lambda conn: conn.execute(
            "SELECT id FROM cubes WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (epoch(at), -1 if limit is None else int(limit))).fetchall())
        return [r[0] for r in rows]


__all__ = ["SQLiteExpiryState"]
