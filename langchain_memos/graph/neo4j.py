"""The scale-out graph engine: Neo4j through the official ``neo4j`` driver.

:class:`Neo4jGraphStore` implements :class:`~langchain_memos.graph.base.GraphStore` on Neo4j
Community 5.x or later. Entities are ``(:MemosEntity)`` nodes, relations are
``[:MEMOS_REL]`` relationships carrying their predicate as a property (relationship types cannot
be parameters, so no user text ever becomes part of a statement). Every statement is a constant
string with ``$parameters``; schema setup uses ``CREATE CONSTRAINT/INDEX ... IF NOT EXISTS``.
Each node and relationship also keeps its full JSON row, so export and import are lossless.

Example (needs a server):
    ``Neo4jGraphStore("bolt://localhost:7687", "neo4j", "secret")``
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence, TypeVar

from ..cube import to_utc
from ..errors import EngineUnavailableError, StorageError
from ..storage.base import NS_SEP, ns_key
from .base import RelationQuery, walk_neighbours
from .model import Entity, Neighbour, Relation, normalize_name

T = TypeVar("T")

SCHEMA_STATEMENTS = (
    "CREATE CONSTRAINT memos_entity_id IF NOT EXISTS FOR (e:MemosEntity) REQUIRE e.id IS UNIQUE",
    "CREATE INDEX memos_entity_ns IF NOT EXISTS FOR (e:MemosEntity) ON (e.ns)",
    "CREATE INDEX memos_rel_id IF NOT EXISTS FOR ()-[r:MEMOS_REL]-() ON (r.id)",
    "CREATE INDEX memos_rel_ns IF NOT EXISTS FOR ()-[r:MEMOS_REL]-() ON (r.ns)",
)

_PUT_ENTITIES = """
UNWIND $rows AS row
MERGE (e:MemosEntity {id: row.id})
SET e.ns = row.ns, e.kind = row.kind, e.norms = row.norms, e.row = row.row
"""

_DROP_RELATIONS = """
UNWIND $ids AS rid
MATCH ()-[r:MEMOS_REL {id: rid}]->()
DELETE r
"""

_PUT_RELATIONS = """
UNWIND $rows AS row
MERGE (s:MemosEntity {id: row.subject}) ON CREATE SET s.ns = row.ns, s.kind = 'thing', s.norms = []
MERGE (o:MemosEntity {id: row.object}) ON CREATE SET o.ns = row.ns, o.kind = 'thing', o.norms = []
CREATE (s)-[r:MEMOS_REL]->(o)
SET r.id = row.id, r.ns = row.ns, r.subject = row.subject, r.object = row.object, r.predicate = row.predicate,
    r.valid_from = row.valid_from, r.valid_to = row.valid_to, r.recorded_at = row.recorded_at,
    r.provenance = row.provenance, r.row = row.row
"""

_PREFIX = "($all OR {c} = $ns OR {c} STARTS WITH $ns_sep)"


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else to_utc(value).timestamp()  # type: ignore[union-attr]


def _prefix_params(prefix: Sequence[str]) -> dict[str, Any]:
    key = ns_key(prefix)
    return {"all": not prefix, "ns": key, "ns_sep": key + NS_SEP}


def _entity_param(e: Entity) -> dict[str, Any]:
    return {"id": e.id, "ns": ns_key(e.namespace), "kind": e.kind,
            "norms": sorted({normalize_name(n) for n in e.names} - {""}),
            "row": json.dumps(e.to_row(), ensure_ascii=False, sort_keys=True)}


def _relation_param(r: Relation) -> dict[str, Any]:
    return {"id": r.id, "ns": ns_key(r.namespace), "subject": r.subject, "object": r.object,
            "predicate": r.predicate, "valid_from": _epoch(r.valid_from), "valid_to": _epoch(r.valid_to),
            "recorded_at": _epoch(r.recorded_at), "provenance": list(r.provenance),
            "row": json.dumps(r.to_row(), ensure_ascii=False, sort_keys=True)}


def relation_cypher(q: RelationQuery) -> tuple[str, dict[str, Any]]:
    """The Cypher statement and parameters of a :class:`RelationQuery` (constant fragments only).

    Example:
        >>> text, params = relation_cypher(RelationQuery(namespace_prefix=("u",), predicate="x'}) DETACH DELETE n//"))
        >>> "DETACH" in text, params["predicate"]
        (False, "x'}) DETACH DELETE n//")
    """
    where = [_PREFIX.format(c="r.ns")]
    params: dict[str, Any] = _prefix_params(q.namespace_prefix)
    if q.ids is not None:
        where.append("r.id IN $ids")
        params["ids"] = sorted(q.ids)
    if q.entity_ids is not None:
        where.append("(r.subject IN $eids OR r.object IN $eids)")
        params["eids"] = sorted(q.entity_ids)
    if q.subject is not None:
        where.append("r.subject = $subject")
        params["subject"] = q.subject
    if q.predicate is not None:
        where.append("r.predicate = $predicate")
        params["predicate"] = q.predicate
    if q.sources is not None:
        where.append("any(c IN r.provenance WHERE c IN $sources)")
        params["sources"] = sorted(q.sources)
    if q.as_of is not None:
        where.append("(r.valid_from IS NULL OR r.valid_from <= $t) AND (r.valid_to IS NULL OR $t < r.valid_to)")
        params["t"] = _epoch(q.as_of)
    if q.current:
        where.append("r.valid_to IS NULL")
    text = f"MATCH ()-[r:MEMOS_REL]->() WHERE {' AND '.join(where)} RETURN r.row AS row ORDER BY r.recorded_at DESC, r.id"
    if q.limit is not None:
        text += " LIMIT $limit"
        params["limit"] = int(q.limit)
    return text, params


class Neo4jGraphStore:
    """The memory graph in Neo4j (Community 5.x or later).

    Args:
        uri: e.g. ``"bolt://localhost:7687"`` or ``"neo4j://host:7687"``.
        user / password: Credentials.
        database: The database name (``None``: the server's default).
        driver: An open ``neo4j.Driver`` to use instead (the store will not close it).

    Raises:
        EngineUnavailableError: The ``neo4j`` package is missing or the server cannot be reached.
    """

    def __init__(self, uri: str | None = None, user: str | None = None, password: str | None = None, *,
                 database: str | None = None, driver: Any = None) -> None:
        self._owns = driver is None
        if driver is None:
            if not uri:
                raise EngineUnavailableError("Neo4jGraphStore needs a uri; set MemOSConfig.neo4j_uri "
                                             "(e.g. 'bolt://localhost:7687') or use graph_backend='sqlite'")
            try:
                from neo4j import GraphDatabase
            except ImportError as exc:  # pragma: no cover - the package is a dependency of [neo4j]
                raise EngineUnavailableError("the Neo4j graph engine needs the neo4j driver; "
                                             "pip install 'langchain-memos[neo4j]'") from exc
            driver = GraphDatabase.driver(uri, auth=(user or "neo4j", password or ""))
        self._driver = driver
        self.database = database
        self.uri = uri
        self._closed = False
        self.setup()

    def __repr__(self) -> str:
        return f"Neo4jGraphStore({self.uri!r}, database={self.database!r})"

    # ------------------------------------------------------------ plumbing
    def _run(self, fn: Callable[[Any], T], *, write: bool) -> T:
        try:
            from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable
        except ImportError:  # pragma: no cover
            AuthError = Neo4jError = ServiceUnavailable = ()  # type: ignore[assignment,misc]
        if self._closed:
            raise StorageError("this Neo4jGraphStore is closed; open a new one")
        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(fn) if write else session.execute_read(fn)
        except ServiceUnavailable as exc:
            raise EngineUnavailableError(f"Neo4j at {self.uri} is unreachable ({exc}); start the server or fix "
                                         "MemOSConfig.neo4j_uri") from exc
        except AuthError as exc:
            raise EngineUnavailableError(f"Neo4j rejected the credentials ({exc}); check neo4j_user / "
                                         "neo4j_password") from exc
        except Neo4jError as exc:
            raise StorageError(f"Neo4j error: {exc} (check the server log; report it if it persists)") from exc

    def _rows(self, text: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._run(lambda tx: [rec.data() for rec in tx.run(text, dict(params))], write=False)

    # ------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        """Create the constraint and indexes; idempotent (``IF NOT EXISTS``)."""
        for statement in SCHEMA_STATEMENTS:
            self._run(lambda tx, s=statement: tx.run(s).consume(), write=True)

    def close(self) -> None:
        """Close the driver when this store opened it; idempotent."""
        if not self._closed:
            self._closed = True
            if self._owns:
                self._driver.close()

    # ------------------------------------------------------------ entities
    def put_entities(self, entities: Sequence[Entity]) -> None:
        """Insert or replace entities by id."""
        if entities:
            rows = [_entity_param(e) for e in entities]
            self._run(lambda tx: tx.run(_PUT_ENTITIES, {"rows": rows}).consume(), write=True)

    def entities(self, namespace_prefix: Sequence[str] = (), *, ids: Sequence[str] | None = None,
                 kind: str | None = None, limit: int | None = None) -> list[Entity]:
        """Entities under a prefix, optionally by id or kind, ordered by id."""
        where = [_PREFIX.format(c="e.ns"), "e.row IS NOT NULL"]
        params = _prefix_params(namespace_prefix)
        if ids is not None:
            where.append("e.id IN $ids")
            params["ids"] = list(ids)
        if kind is not None:
            where.append("e.kind = $kind")
            params["kind"] = kind
        text = f"MATCH (e:MemosEntity) WHERE {' AND '.join(where)} RETURN e.row AS row ORDER BY e.id"
        if limit is not None:
            text += " LIMIT $limit"
            params["limit"] = int(limit)
        return [Entity.from_row(json.loads(r["row"])) for r in self._rows(text, params)]

    def find_entities(self, namespace: Sequence[str], names: Sequence[str]) -> dict[str, list[Entity]]:
        """Entities of exactly ``namespace`` named (or aliased) by one of ``names``, by normalised name."""
        norms = sorted({normalize_name(n) for n in names} - {""})
        if not norms:
            return {}
        rows = self._rows("MATCH (e:MemosEntity) WHERE e.ns = $ns AND e.row IS NOT NULL AND "
                          "any(n IN e.norms WHERE n IN $norms) RETURN e.row AS row ORDER BY e.id",
                          {"ns": ns_key(namespace), "norms": norms})
        out: dict[str, list[Entity]] = {}
        wanted = set(norms)
        for r in rows:
            e = Entity.from_row(json.loads(r["row"]))
            for norm in sorted({normalize_name(n) for n in e.names} & wanted):
                out.setdefault(norm, []).append(e)
        return out

    # ------------------------------------------------------------ relations
    @staticmethod
    def _replace_relations(tx: Any, relations: Sequence[Relation]) -> None:
        tx.run(_DROP_RELATIONS, {"ids": [r.id for r in relations]}).consume()
        tx.run(_PUT_RELATIONS, {"rows": [_relation_param(r) for r in relations]}).consume()

    def put_relations(self, relations: Sequence[Relation]) -> list[str]:
        """Insert or replace relations by id; return their ids."""
        if relations:
            self._run(lambda tx: self._replace_relations(tx, relations), write=True)
        return [r.id for r in relations]

    def relations(self, query: RelationQuery = RelationQuery()) -> list[Relation]:
        """Relations matching ``query``, newest ``recorded_at`` first."""
        text, params = relation_cypher(query)
        return [Relation.from_row(json.loads(r["row"])) for r in self._rows(text, params)]

    def neighbours(self, entity_ids: Sequence[str], *, hops: int = 1, as_of: datetime | None = None,
                   current: bool = False, limit: int = 200) -> list[Neighbour]:
        """Entities within 1 or 2 hops of ``entity_ids`` (see :func:`~.base.walk_neighbours`)."""
        return walk_neighbours(self, entity_ids, hops=hops, as_of=as_of, current=current, limit=limit)

    def supersede(self, relation_id: str, valid_to: datetime, superseded_by: str | None = None) -> bool:
        """End a still-valid relation at ``valid_to``; it stays in history."""

        def tx(t: Any) -> bool:
            rows = [r.data() for r in t.run("MATCH ()-[r:MEMOS_REL {id: $id}]->() WHERE r.valid_to IS NULL "
                                            "RETURN r.row AS row", {"id": relation_id})]
            if not rows:
                return False
            data = json.loads(rows[0]["row"])
            ended = Relation.from_row({**data, "valid_to": to_utc(valid_to).isoformat(),  # type: ignore[union-attr]
                                       "superseded_by": superseded_by})
            t.run("MATCH ()-[r:MEMOS_REL {id: $id}]->() SET r.valid_to = $valid_to, r.row = $row",
                  {"id": relation_id, "valid_to": _epoch(ended.valid_to),
                   "row": json.dumps(ended.to_row(), ensure_ascii=False, sort_keys=True)}).consume()
            return True

        return self._run(tx, write=True)

    # ------------------------------------------------------------ deletion
    def remove_sources(self, cube_ids: Sequence[str]) -> list[Relation]:
        """Forget these cubes as sources; delete relations left without one, then orphaned entities."""
        if not cube_ids:
            return []
        gone = set(cube_ids)

        def tx(t: Any) -> list[Relation]:
            found = [Relation.from_row(json.loads(r["row"])) for r in t.run(
                "MATCH ()-[r:MEMOS_REL]->() WHERE any(c IN r.provenance WHERE c IN $ids) RETURN r.row AS row",
                {"ids": sorted(gone)})]
            kept = [Relation.from_row({**r.to_row(), "provenance": [c for c in r.provenance if c not in gone]})
                    for r in found if any(c not in gone for c in r.provenance)]
            removed = [r for r in found if all(c in gone for c in r.provenance)]
            if kept:
                self._replace_relations(t, kept)
            if removed:
                t.run(_DROP_RELATIONS, {"ids": [r.id for r in removed]}).consume()
            namespaces = sorted({ns_key(r.namespace) for r in found})
            if namespaces:
                t.run("MATCH (e:MemosEntity) WHERE e.ns IN $nss AND NOT (e)--() DELETE e", {"nss": namespaces}).consume()
            return removed

        return self._run(tx, write=True)

    def delete_namespace(self, namespace_prefix: Sequence[str]) -> tuple[int, int]:
        """Delete every entity and relation under a prefix; return ``(entities, relations)`` deleted."""
        params = _prefix_params(namespace_prefix)

        def tx(t: Any) -> tuple[int, int]:
            rels = t.run(f"MATCH ()-[r:MEMOS_REL]->() WHERE {_PREFIX.format(c='r.ns')} DELETE r RETURN count(r) AS n",
                         params).single()["n"]
            ents = t.run(f"MATCH (e:MemosEntity) WHERE {_PREFIX.format(c='e.ns')} DETACH DELETE e "
                         "RETURN count(e) AS n", params).single()["n"]
            return int(ents), int(rels)

        return self._run(tx, write=True)

    def counts(self, namespace_prefix: Sequence[str] = ()) -> tuple[int, int]:
        """``(entities, relations)`` under a prefix."""
        params = _prefix_params(namespace_prefix)
        e = self._rows(f"MATCH (e:MemosEntity) WHERE {_PREFIX.format(c='e.ns')} AND e.row IS NOT NULL "
                       "RETURN count(e) AS n", params)
        r = self._rows(f"MATCH ()-[r:MEMOS_REL]->() WHERE {_PREFIX.format(c='r.ns')} RETURN count(r) AS n", params)
        return (int(e[0]["n"]) if e else 0), (int(r[0]["n"]) if r else 0)

    # ------------------------------------------------------------ export / import
    def export_rows(self, namespace_prefix: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """Every row under a prefix as JSON-safe dicts (lossless)."""
        relations = self.relations(RelationQuery(namespace_prefix=tuple(namespace_prefix)))
        return {"entities": [e.to_row() for e in self.entities(namespace_prefix)],
                "relations": [r.to_row() for r in sorted(relations, key=lambda r: r.id)]}

    def import_rows(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[int, int]:
        """Load :meth:`export_rows` output (ids kept); return ``(entities, relations)`` loaded."""
        entities = [Entity.from_row(r) for r in rows.get("entities", ())]
        relations = [Relation.from_row(r) for r in rows.get("relations", ())]

        def tx(t: Any) -> None:
            if entities:
                t.run(_PUT_ENTITIES, {"rows": [_entity_param(e) for e in entities]}).consume()
            if relations:
                self._replace_relations(t, relations)

        self._run(tx, write=True)
        return len(entities), len(relations)


__all__ = ["Neo4jGraphStore", "SCHEMA_STATEMENTS", "relation_cypher"]
