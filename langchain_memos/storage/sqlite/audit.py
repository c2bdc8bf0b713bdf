"""The audit log of the SQLite engine (:class:`~langchain_memos.storage.base.AuditLog`).

Deletes, erasures and tier moves append their records in their own transaction
through :func:`append_audit`; erasure scrubs what the log says about the erased
cubes with :func:`scrub_audit`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Mapping, Sequence

from ...cube import to_utc
from ...errors import InvalidInputError
from ..base import AuditRecord, ns_from_key, ns_key
from .compiler import prefix_sql
from .connection import SQLiteConnection
from .schema import AUDIT_INSERT
from .values import dumps, from_epoch, json_list

#: What an erased audit row keeps: its action, cube id and time; namespace, reason and detail go.
_SCRUB = "UPDATE audit SET ns = '', reason = 'erased', detail = '{\"erased\": true}'"


def append_audit(conn: sqlite3.Connection, action: str, cube_id: str | None, ns: str, at: float,
                 actor: str | None, reason: str | None, detail: Mapping[str, Any]) -> None:
    """Append one audit row in the caller's transaction (``ns``: the namespace key, ``at``: epoch seconds)."""
    conn.execute(AUDIT_INSERT, (action, cube_id, ns, at, actor, reason, dumps(dict(detail), "audit detail")))


def scrub_audit(conn: sqlite3.Connection, cube_ids: Sequence[str], prefixes: Sequence[Sequence[str]],
                actors: Sequence[str]) -> None:
    """Blank the rows about ``cube_ids`` or under namespace ``prefixes``, and every mention of ``actors``."""
    conn.execute(f"{_SCRUB} WHERE cube_id IN (SELECT value FROM json_each(?))", (json_list(cube_ids),))
    for prefix in prefixes:
        where, params = prefix_sql("ns", tuple(prefix))
        conn.execute(f"{_SCRUB} WHERE {where}", params)
    for actor in actors:
        conn.execute(f"{_SCRUB}, actor = NULL WHERE actor = ?", (actor,))


class SQLiteAuditLog(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.AuditLog` on the engine's connection (a mixin of the record store)."""

    def audit(self, records: Iterable[AuditRecord]) -> None:
        """Append records to the audit log (one transaction)."""
        rows = []
        for rec in records:
            at = to_utc(rec.at)
            if at is None:
                raise InvalidInputError("an AuditRecord needs a datetime `at`")
            rows.append((rec.action, rec.cube_id, ns_key(rec.namespace), at.timestamp(), rec.actor, rec.reason,
                         dumps(rec.detail or {}, "audit detail")))
        if rows:
            self.write_transaction(lambda conn: conn.executemany(AUDIT_INSERT, rows))

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records, optionally for one cube."""
        sql = "SELECT action, cube_id, ns, at, actor, reason, detail FROM audit"
        params: list[Any] = []
        if cube_id is not None:
            sql += " WHERE cube_id = ?"
            params.append(cube_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        rows = self.read_transaction(lambda conn: conn.execute(sql, params).fetchall())
        return [AuditRecord(action=a, cube_id=c, namespace=ns_from_key(ns), at=from_epoch(at), actor=actor,
                            reason=reason, detail=json.loads(detail)) for a, c, ns, at, actor, reason, detail in rows]


__all__ = ["SQLiteAuditLog", "append_audit", "scrub_audit"]
