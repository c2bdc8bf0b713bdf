"""Lifecycle state in the SQLite engine: tiers, working sets, heat, access counts, co-access
(:class:`~langchain_memos.storage.base.TierState`).

The ``working_set`` and ``coaccess`` tables are created on first use. A tier move
changes only the ``tier`` and ``status`` of a cube (column and stored cube) and
audits it in the same transaction.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from typing import Mapping, Sequence

from ...cube import Status, Tier, to_utc
from ...errors import InvalidInputError
from ..base import ScoredId, TierMove
from .audit import append_audit
from .compiler import prefix_sql
from .connection import SQLiteConnection
from .schema import LIFECYCLE_SCHEMA
from .values import dumps, from_epoch, json_list


def moved_status(current: Status, target: Tier, wanted: Status | None) -> Status:
    """The status a cube gets when it moves to ``target`` (see ``TierMove.status``)."""
    if wanted is not None:
        return Status(wanted)
    if current in (Status.FUSED, Status.EXPIRED):
        return current
    if target is Tier.ARCHIVE:
        return Status.ARCHIVED
    if target in (Tier.WORKING, Tier.ACTIVATION):
        return Status.ACTIVATED
    if current in (Status.ARCHIVED, Status.ACTIVATED):
        return Status.GENERATED
    return current



class SQLiteTierState(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.TierState` on the engine's connection (a mixin of the record store)."""

    def _ensure_lifecycle_tables(self) -> None:
        """Create the working-set and co-access tables on first use (idempotent, cheap after the first call)."""
        if getattr(self, "_lifecycle_tables", False):
            return

        def tx(conn: sqlite3.Connection) -> None:
            for statement in LIFECYCLE_SCHEMA:
                conn.execute(statement)

        self.write_transaction(tx)
        self._lifecycle_tables = True

    def move_tiers(self, moves: Sequence[TierMove], at: datetime, *, actor: str | None = None) -> list[str]:
        """Apply tier moves and working-set joins/leaves in one transaction; return ids whose tier changed.

        See :meth:`langchain_memos.storage.base.RecordStore.move_tiers`. Only the ``tier``
        and ``status`` columns (and the same fields of the stored cube) change; each
        change writes an audit record (action ``"tier_move"``) in the same transaction.
        """
        if not moves:
            return []
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("move_tiers() needs a datetime `at`")
        self._ensure_lifecycle_tables()
        epoch = when.timestamp()
        hot = {t.value for t in Tier if t is not Tier.ARCHIVE}

        def tx(conn: sqlite3.Connection) -> list[str]:
            moved: list[str] = []
            for m in moves:
                target = Tier(m.tier)
                row = conn.execute("SELECT rid, ns, tier, status, has_vector, json_extract(data, '$.version'), heat "
                                   "FROM cubes WHERE id = ?", (m.id,)).fetchone()
                if row is None:
                    continue
                rid, ns, tier, status, has_vector, version, heat = row
                if m.expected_version is not None and int(version or 0) != int(m.expected_version):
                    continue
                if m.expected_tier is not None and tier != Tier(m.expected_tier).value:
                    continue
                if target is Tier.WORKING:
                    if m.thread is not None:
                        conn.execute("INSERT INTO working_set(ns, thread, cube_id, joined_at) VALUES (?, ?, ?, ?) "
                                     "ON CONFLICT(ns, thread, cube_id) DO UPDATE SET joined_at = excluded.joined_at",
                                     (ns, m.thread, m.id, epoch))
                elif m.thread is not None:
                    conn.execute("DELETE FROM working_set WHERE ns = ? AND thread = ? AND cube_id = ?",
                                 (ns, m.thread, m.id))
                    if tier == Tier.WORKING.value and conn.execute(
                            "SELECT 1 FROM working_set WHERE cube_id = ? LIMIT 1", (m.id,)).fetchone():
                        continue  # another thread still holds it in its working set
                else:
                    conn.execute("DELETE FROM working_set WHERE cube_id = ?", (m.id,))
                new_status = moved_status(Status(status), target, m.status)
                if target.value == tier and new_status.value == status:
                    continue
                # back from the archive (whose vectors the index drops): index the embedding again
                reindex = bool(has_vector) and target.value in hot and tier not in hot
                conn.execute("UPDATE cubes SET tier = ?, status = ?, indexed = CASE WHEN ? THEN 0 ELSE indexed END, "
                             "data = json_set(data, '$.tier', ?, '$.status', ?) WHERE rid = ?",
                             (target.value, new_status.value, 1 if reindex else 0, target.value, new_status.value,
                              rid))
                detail = {"from": tier, "to": target.value, "status": new_status.value, "heat": heat,
                          **({"thread": m.thread} if m.thread is not None else {}), **(m.detail or {})}
                append_audit(conn, "tier_move", m.id, ns, epoch, actor, m.reason, detail)
                moved.append(m.id)
            return moved

        return self.write_transaction(tx)

    def working_set(self, namespace_prefix: Sequence[str],
                    thread: str | None = None) -> list[tuple[str, str, datetime]]:
        """``(thread, cube id, joined at)`` of working-set members under a namespace prefix, oldest join first.

        ``thread`` restricts to one thread. Only cubes still in the ``WORKING`` tier are listed.
        """
        self._ensure_lifecycle_tables()
        where, params = prefix_sql("w.ns", tuple(namespace_prefix))
        if thread is not None:
            where, params = f"{where} AND w.thread = ?", [*params, thread]
        sql = (f"SELECT w.thread, w.cube_id, w.joined_at FROM working_set AS w JOIN cubes AS c ON c.id = w.cube_id "
               f"WHERE c.tier = ? AND {where} ORDER BY w.joined_at, w.thread, w.cube_id")
        rows = self.read_transaction(lambda conn: conn.execute(sql, [Tier.WORKING.value, *params]).fetchall())
        return [(t, cube_id, from_epoch(at)) for t, cube_id, at in rows]

    def set_heat(self, heats: Mapping[str, float]) -> None:
        """Store computed heat scores (column and stored cube); unknown ids are ignored."""
        rows = []
        for cube_id, value in heats.items():
            value = float(value)
            if not math.isfinite(value):
                raise InvalidInputError(f"heat of cube {cube_id} must be finite, got {value}")
            rows.append((value, value, cube_id))
        if rows:
            self.write_transaction(lambda conn: conn.executemany(
                "UPDATE cubes SET heat = ?, data = json_set(data, '$.heat', ?) WHERE id = ?", rows))

    def touch(self, ids: Sequence[str], at: datetime, heat_delta: float = 0.0) -> None:
        """Count one access per id (an id listed twice counts twice), set ``last_accessed_at``, add heat.

        Unknown ids are ignored.
        """
        if not ids:
            return
        when = to_utc(at)
        if when is None or not math.isfinite(heat_delta):
            raise InvalidInputError("touch() needs a datetime `at` and a finite heat_delta")
        iso, epoch = when.isoformat(), when.timestamp()

        def tx(conn: sqlite3.Connection) -> None:
            for cube_id in ids:
                row = conn.execute("SELECT data FROM cubes WHERE id = ?", (cube_id,)).fetchone()
                if row is None:
                    continue
                data = json.loads(row[0])
                data["access_count"] = int(data.get("access_count", 0)) + 1
                data["heat"] = float(data.get("heat", 0.0)) + float(heat_delta)
                data["last_accessed_at"] = iso
                conn.execute("UPDATE cubes SET access_count = ?, heat = ?, last_accessed_at = ?, data = ? "
                             "WHERE id = ?",
                             (data["access_count"], data["heat"], epoch, dumps(data, "cube"), cube_id))

        self.write_transaction(tx, bookkeeping=True)

    def record_coaccess(self, groups: Sequence[Sequence[str]], at: datetime) -> None:
        """Count each pair of ids retrieved together in a group, in both directions (unknown ids ignored)."""
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("record_coaccess() needs a datetime `at`")
        pairs = []
        for group in groups:
            ids = list(dict.fromkeys(group))
            pairs.extend((a, b, when.timestamp(), a, b) for a in ids for b in ids if a != b)
        if not pairs:
            return
        self._ensure_lifecycle_tables()
        self.write_transaction(lambda conn: conn.executemany(
            "INSERT INTO coaccess(a, b, n, last_at) SELECT ?, ?, 1, ? WHERE EXISTS (SELECT 1 FROM cubes WHERE id = ?) "
            "AND EXISTS (SELECT 1 FROM cubes WHERE id = ?) "
            "ON CONFLICT(a, b) DO UPDATE SET n = n + 1, last_at = excluded.last_at", pairs))

    def coaccessed(self, ids: Sequence[str], limit: int = 20) -> list[ScoredId]:
        """Cubes most often retrieved together with ``ids`` (excluding ``ids``), best first."""
        if not ids or limit <= 0:
            return []
        self._ensure_lifecycle_tables()
        listed = json_list(ids)
        rows = self.read_transaction(lambda conn: conn.execute(
            "SELECT b, SUM(n) AS s FROM coaccess WHERE a IN (SELECT value FROM json_each(?)) "
            "AND b NOT IN (SELECT value FROM json_each(?)) GROUP BY b ORDER BY s DESC, b LIMIT ?",
            (listed, listed, int(limit))).fetchall())
        return [ScoredId(b, float(s)) for b, s in rows]


__all__ = ["SQLiteTierState", "moved_status"]
