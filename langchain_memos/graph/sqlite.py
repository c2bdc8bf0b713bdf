"""The embedded graph engine: entity and relation tables in the SQLite file of the record store.

:class:`SQLiteGraphStore` implements :class:`~langchain_memos.graph.base.GraphStore`. It shares
the connection, lock and busy-retry transactions of a
:class:`~langchain_memos.storage.sqlite.SQLiteRecordStore` (the same file, so one backup holds
everything), or opens its own database when given a path. Every value is a bound parameter;
names are stored verbatim and never formatted into SQL.

Example:
    >>> from langchain_memos.graph.model import Entity, Relation
    >>> store = SQLiteGraphStore(None)
    >>> a, b = Entity("Alice", ("u",), "person"), Entity("Paris", ("u",), "place")
    >>> store.put_entities([a, b])
    >>> _ = store.put_relations([Relation(a.id, "lives_in", b.id, ("u",), text="Alice lives in Paris")])
    >>> [n.entity.name for n in store.neighbours([a.id])]
    ['Paris']
    >>> store.close()
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..cube import to_utc
from ..storage.base import NS_SEP, ns_key
from ..storage.sqlite import SQLiteRecordStore
from .base import RelationQuery, walk_neighbours
from .model import Entity, Neighbour, Relation, normalize_name

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS graph_entities (
        id TEXT PRIMARY KEY,
        ns TEXT NOT NULL,
        kind TEXT NOT NULL,
        row TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS graph_entities_ns ON graph_entities(ns, kind)",
    """CREATE TABLE IF NOT EXISTS graph_names (
        ns TEXT NOT NULL,
        norm TEXT NOT NULL,
        entity_id TEXT NOT NULL REFERENCES graph_entities(id) ON DELETE CASCADE,
        PRIMARY KEY (ns, norm, entity_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS graph_names_entity ON graph_names(entity_id)",
    """CREATE TABLE IF NOT EXISTS graph_relations (
        id TEXT PRIMARY KEY,
        ns TEXT NOT NULL,
        subject TEXT NOT NULL,
        predicate TEXT NOT NULL,
        object TEXT NOT NULL,
        valid_from REAL,
        valid_to REAL,
        recorded_at REAL NOT NULL,
        row TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS graph_relations_ns ON graph_relations(ns, subject, predicate)",
    "CREATE INDEX IF NOT EXISTS graph_relations_subject ON graph_relations(subject)",
    "CREATE INDEX IF NOT EXISTS graph_relations_object ON graph_relations(object)",
    """CREATE TABLE IF NOT EXISTS graph_sources (
        relation_id TEXT NOT NULL REFERENCES graph_relations(id) ON DELETE CASCADE,
        cube_id TEXT NOT NULL,
        PRIMARY KEY (relation_id, cube_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS graph_sources_cube ON graph_sources(cube_id)",
)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else to_utc(value).timestamp()  # type: ignore[union-attr]


def _json(items: Sequence[Any]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


def _prefix(column: str, prefix: Sequence[str]) -> tuple[str, list[Any]]:
    if not prefix:
        return "1", []
    key = ns_key(prefix)
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [key, key + NS_SEP, key + chr(ord(NS_SEP) + 1)]



@lru_cache(maxsize=16384)
def stored_relation(row: str) -> Relation:
    """The relation stored as the JSON ``row``, parsed once per distinct row (relations are immutable
    values, so one object serves every search that reads the row; the last 16,384 rows are kept)."""
    return Relation.from_row(json.loads(row))

class SQLiteGraphStore:
    """The memory graph in SQLite tables (``graph_entities``, ``graph_names``, ``graph_relations``, ``graph_sources``).

    Args:
        path: A database file (``None`` / ``":memory:"``: a private in-memory database).
            Ignored when ``records`` is given.
        records: A record store whose database (connection, lock, retries) the graph shares.
        busy_timeout_s: Lock wait when the store opens its own database.
    """

    def __init__(self, path: str | Path | None = None, *, records: SQLiteRecordStore | None = None,
                 busy_timeout_s: float = 30.0) -> None:
        self._owns = records is None
        self._db = records if records is not None else SQLiteRecordStore(path, busy_timeout_s=busy_timeout_s)
        self._closed = False
        self.setup()

    def __repr__(self) -> str:
        return f"SQLiteGraphStore({self._db!r})"

    # ------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        """Create the graph tables and indexes; idempotent."""

        def tx(conn: sqlite3.Connection) -> None:
            for statement in _SCHEMA:
                conn.execute(statement)

        self._db.write_transaction(tx)

    def close(self) -> None:
        """Close the database when this store opened it; idempotent."""
        if not self._closed:
            self._closed = True
            if self._owns:
                self._db.close()

    # ------------------------------------------------------------ entities
    @staticmethod
    def _write_entity(conn: sqlite3.Connection, e: Entity) -> None:
        ns = ns_key(e.namespace)
        conn.execute("INSERT INTO graph_entities(id, ns, kind, row) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                     "SET ns = excluded.ns, kind = excluded.kind, row = excluded.row",
                     (e.id, ns, e.kind, json.dumps(e.to_row(), ensure_ascii=False, sort_keys=True)))
        conn.execute("DELETE FROM graph_names WHERE entity_id = ?", (e.id,))
        conn.executemany("INSERT OR IGNORE INTO graph_names(ns, norm, entity_id) VALUES (?, ?, ?)",
                         [(ns, normalize_name(n), e.id) for n in e.names if normalize_name(n)])

    def put_entities(self, entities: Sequence[Entity]) -> None:
        """Insert or replace entities by id."""
        if not entities:
            return

        def tx(conn: sqlite3.Connection) -> None:
            for e in entities:
                self._write_entity(conn, e)

        self._db.write_transaction(tx)

    def entities(self, namespace_prefix: Sequence[str] = (), *, ids: Sequence[str] | None = None,
                 kind: str | None = None, limit: int | None = None) -> list[Entity]:
        """Entities under a prefix, optionally by id or kind, ordered by id."""
        where, params = _prefix("ns", namespace_prefix)
        if ids is not None:
            where += " AND id IN (SELECT value FROM json_each(?))"
            params.append(_json(ids))
        if kind is not None:
            where += " AND kind = ?"
            params.append(kind)
        sql = f"SELECT row FROM graph_entities WHERE {where} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self._db.read_transaction(lambda conn: conn.execute(sql, params).fetchall())
        return [Entity.from_row(json.loads(r[0])) for r in rows]

    def find_entities(self, namespace: Sequence[str], names: Sequence[str]) -> dict[str, list[Entity]]:
        """Entities of exactly ``namespace`` named (or aliased) by one of ``names``, by normalised name."""
        norms = sorted({normalize_name(n) for n in names} - {""})
        if not norms:
            return {}
        rows = self._db.read_transaction(lambda conn: conn.execute(
            "SELECT n.norm, e.row FROM graph_names AS n JOIN graph_entities AS e ON e.id = n.entity_id "
            "WHERE n.ns = ? AND n.norm IN (SELECT value FROM json_each(?)) ORDER BY n.norm, e.id",
            (ns_key(namespace), _json(norms))).fetchall())
        out: dict[str, list[Entity]] = {}
        for norm, row in rows:
            out.setdefault(norm, []).append(Entity.from_row(json.loads(row)))
        return out

    # ------------------------------------------------------------ relations
    @staticmethod
    def _write_relation(conn: sqlite3.Connection, r: Relation) -> None:
        conn.execute(
            "INSERT INTO graph_relations(id, ns, subject, predicate, object, valid_from, valid_to, recorded_at, row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET ns = excluded.ns, "
            "subject = excluded.subject, predicate = excluded.predicate, object = excluded.object, "
            "valid_from = excluded.valid_from, valid_to = excluded.valid_to, recorded_at = excluded.recorded_at, "
            "row = excluded.row",
            (r.id, ns_key(r.namespace), r.subject, r.predicate, r.object, _epoch(r.valid_from), _epoch(r.valid_to),
             _epoch(r.recorded_at), json.dumps(r.to_row(), ensure_ascii=False, sort_keys=True)))
        conn.execute("DELETE FROM graph_sources WHERE relation_id = ?", (r.id,))
        conn.executemany("INSERT OR IGNORE INTO graph_sources(relation_id, cube_id) VALUES (?, ?)",
                         [(r.id, c) for c in r.provenance])

    def put_relations(self, relations: Sequence[Relation]) -> list[str]:
        """Insert or replace relations by id; return their ids."""
        if not relations:
            return []

        def tx(conn: sqlite3.Connection) -> None:
            for r in relations:
                self._write_relation(conn, r)

        self._db.write_transaction(tx)
        return [r.id for r in relations]

    @staticmethod
    def _relation_sql(q: RelationQuery) -> tuple[str, list[Any]]:
        where, params = _prefix("r.ns", q.namespace_prefix)
        if q.ids is not None:
            where += " AND r.id IN (SELECT value FROM json_each(?))"
            params.append(_json(sorted(q.ids)))
        if q.entity_ids is not None:
            listed = _json(sorted(q.entity_ids))
            where += (" AND r.id IN (SELECT id FROM graph_relations WHERE subject IN (SELECT value FROM json_each(?)) "
                      "UNION SELECT id FROM graph_relations WHERE object IN (SELECT value FROM json_each(?)))")
            params += [listed, listed]
        if q.subject is not None:
            where += " AND r.subject = ?"
            params.append(q.subject)
        if q.predicate is not None:
            where += " AND r.predicate = ?"
            params.append(q.predicate)
        if q.sources is not None:
            where += (" AND r.id IN (SELECT relation_id FROM graph_sources WHERE cube_id IN "
                      "(SELECT value FROM json_each(?)))")
            params.append(_json(sorted(q.sources)))
        if q.as_of is not None:
            t = _epoch(q.as_of)
            where += " AND (r.valid_from IS NULL OR r.valid_from <= ?) AND (r.valid_to IS NULL OR ? < r.valid_to)"
            params += [t, t]
        if q.current:
            where += " AND r.valid_to IS NULL"
        sql = f"SELECT r.row FROM graph_relations AS r WHERE {where} ORDER BY r.recorded_at DESC, r.id"
        if q.limit is not None:
            sql += " LIMIT ?"
            params.append(int(q.limit))
        return sql, params

    def relations(self, query: RelationQuery = RelationQuery()) -> list[Relation]:
        """Relations matching ``query``, newest ``recorded_at`` first."""
        sql, params = self._relation_sql(query)
        rows = self._db.read_transaction(lambda conn: conn.execute(sql, params).fetchall())
        return [stored_relation(r[0]) for r in rows]

    def neighbours(self, entity_ids: Sequence[str], *, hops: int = 1, as_of: datetime | None = None,
                   current: bool = False, limit: int = 200) -> list[Neighbour]:
        """Entities within 1 or 2 hops of ``entity_ids`` (see :func:`~.base.walk_neighbours`)."""
        return walk_neighbours(self, entity_ids, hops=hops, as_of=as_of, current=current, limit=limit)

    def supersede(self, relation_id: str, valid_to: datetime, superseded_by: str | None = None) -> bool:
        """End a still-valid relation at ``valid_to``; it stays in history."""

        def tx(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT row FROM graph_relations WHERE id = ? AND valid_to IS NULL",
                               (relation_id,)).fetchone()
            if row is None:
                return False
            data = json.loads(row[0])
            old = Relation.from_row(data)
            ended = Relation.from_row({**data, "valid_to": to_utc(valid_to).isoformat(),  # type: ignore[union-attr]
                                       "superseded_by": superseded_by})
            assert ended.id == old.id
            self._write_relation(conn, ended)
            return True

        return self._db.write_transaction(tx)

    # ------------------------------------------------------------ deletion
    @staticmethod
    def _drop_orphans(conn: sqlite3.Connection, namespaces: Sequence[str]) -> None:
        conn.execute("DELETE FROM graph_entities WHERE ns IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
                     "(SELECT 1 FROM graph_relations AS r WHERE r.subject = graph_entities.id) AND NOT EXISTS "
                     "(SELECT 1 FROM graph_relations AS r WHERE r.object = graph_entities.id)", (_json(namespaces),))

    def remove_sources(self, cube_ids: Sequence[str]) -> list[Relation]:
        """Forget these cubes as sources; delete relations left without one, then orphaned entities."""
        if not cube_ids:
            return []

        def tx(conn: sqlite3.Connection) -> list[Relation]:
            rows = conn.execute(
                "SELECT row FROM graph_relations WHERE id IN (SELECT relation_id FROM graph_sources WHERE cube_id IN "
                "(SELECT value FROM json_each(?)))", (_json(cube_ids),)).fetchall()
            gone = set(cube_ids)
            removed: list[Relation] = []
            namespaces: set[str] = set()
            for (row,) in rows:
                r = Relation.from_row(json.loads(row))
                left = tuple(c for c in r.provenance if c not in gone)
                namespaces.add(ns_key(r.namespace))
                if left:
                    self._write_relation(conn, Relation.from_row({**r.to_row(), "provenance": list(left)}))
                else:
                    conn.execute("DELETE FROM graph_relations WHERE id = ?", (r.id,))
                    removed.append(r)
            if namespaces:
                self._drop_orphans(conn, sorted(namespaces))
            return removed

        return self._db.write_transaction(tx)

    def delete_namespace(self, namespace_prefix: Sequence[str]) -> tuple[int, int]:
        """Delete every entity and relation under a prefix; return ``(entities, relations)`` deleted."""
        where, params = _prefix("ns", namespace_prefix)

        def tx(conn: sqlite3.Connection) -> tuple[int, int]:
            relations = conn.execute(f"DELETE FROM graph_relations WHERE {where}", params).rowcount
            entities = conn.execute(f"DELETE FROM graph_entities WHERE {where}", params).rowcount
            return entities, relations

        return self._db.write_transaction(tx)

    def counts(self, namespace_prefix: Sequence[str] = ()) -> tuple[int, int]:
        """``(entities, relations)`` under a prefix."""
        where, params = _prefix("ns", namespace_prefix)

        def tx(conn: sqlite3.Connection) -> tuple[int, int]:
            e = conn.execute(f"SELECT COUNT(*) FROM graph_entities WHERE {where}", params).fetchone()[0]
            r = conn.execute(f"SELECT COUNT(*) FROM graph_relations WHERE {where}", params).fetchone()[0]
            return int(e), int(r)

        return self._db.read_transaction(tx)

    # ------------------------------------------------------------ export / import
    def export_rows(self, namespace_prefix: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """Every row under a prefix as JSON-safe dicts (lossless)."""
        return {"entities": [e.to_row() for e in self.entities(namespace_prefix)],
                "relations": [r.to_row() for r in sorted(self.relations(RelationQuery(namespace_prefix=tuple(
                    namespace_prefix))), key=lambda r: r.id)]}

    def import_rows(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[int, int]:
        """Load :meth:`export_rows` output (ids kept); return ``(entities, relations)`` loaded."""
        entities = [Entity.from_row(r) for r in rows.get("entities", ())]
        relations = [Relation.from_row(r) for r in rows.get("relations", ())]

        def tx(conn: sqlite3.Connection) -> None:
            for e in entities:
                self._write_entity(conn, e)
            for r in relations:
                self._write_relation(conn, r)

        self._db.write_transaction(tx)
        return len(entities), len(relations)


__all__ = ["SQLiteGraphStore"]
