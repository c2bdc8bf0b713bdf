"""The :class:`GraphStore` protocol: the long-term memory graph behind one small interface.

Two engines implement it and pass one conformance suite (``tests/test_graph_engines.py``):
:class:`~langchain_memos.graph.sqlite.SQLiteGraphStore` (tables in the embedded SQLite file,
the default) and :class:`~langchain_memos.graph.neo4j.Neo4jGraphStore` (the official ``neo4j``
driver). Engines store what they are given: merging near-duplicates, resolving names and
deciding what supersedes what are pure steps of :mod:`langchain_memos.graph.writer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from .model import Entity, Neighbour, Relation


@dataclass(frozen=True)
class RelationQuery:
    """Which relations :meth:`GraphStore.relations` returns; every field narrows the result.

    Attributes:
        namespace_prefix: Relations whose namespace starts with these labels (``()`` = all).
        ids: Only these relation ids.
        entity_ids: Only relations whose subject or object is one of these entities.
        subject: Only relations with this subject entity id.
        predicate: Only relations with this predicate.
        sources: Only relations extracted from one of these cube ids.
        as_of: Only facts valid at this instant (``valid_from <= as_of < valid_to``, open ends hold).
        current: Only facts not superseded (``valid_to`` unset).
        limit: At most this many (newest ``recorded_at`` first; ``None`` = all).
    """

    namespace_prefix: tuple[str, ...] = ()
    ids: frozenset[str] | None = None
    entity_ids: frozenset[str] | None = None
    subject: str | None = None
    predicate: str | None = None
    sources: frozenset[str] | None = None
    as_of: datetime | None = None
    current: bool = False
    limit: int | None = None


@runtime_checkable
class GraphStore(Protocol):
    """Entities and bi-temporal relations, scoped by namespace. Each call is atomic."""

    def setup(self) -> None:
        """Create tables / constraints / indexes; idempotent."""

    def close(self) -> None:
        """Release connections; idempotent."""

    def put_entities(self, entities: Sequence[Entity]) -> None:
        """Insert or replace entities by id (name, kind, aliases and attributes stored verbatim)."""

    def entities(self, namespace_prefix: Sequence[str] = (), *, ids: Sequence[str] | None = None,
                 kind: str | None = None, limit: int | None = None) -> list[Entity]:
        """Entities under a namespace prefix, optionally by id or kind, ordered by id."""

    def find_entities(self, namespace: Sequence[str], names: Sequence[str]) -> dict[str, list[Entity]]:
        """Entities of exactly ``namespace`` whose name or an alias normalises to one of ``names``.

        Returns:
            normalised name -> matching entities (names with no match are absent).
        """

    def put_relations(self, relations: Sequence[Relation]) -> list[str]:
        """Insert or replace relations by id (provenance replaced by the given one); return their ids."""

    def relations(self, query: RelationQuery = RelationQuery()) -> list[Relation]:
        """Relations matching ``query``, newest ``recorded_at`` first (ties by id)."""

    def neighbours(self, entity_ids: Sequence[str], *, hops: int = 1, as_of: datetime | None = None,
                   current: bool = False, limit: int = 200) -> list[Neighbour]:
        """Entities within ``hops`` (1 or 2) of ``entity_ids`` over relations in either direction.

        Each entity is listed once, at its smallest hop count; the start entities are not listed.
        ``as_of``/``current`` restrict the relations walked as in :class:`RelationQuery`.
        """

    def supersede(self, relation_id: str, valid_to: datetime, superseded_by: str | None = None) -> bool:
        """End a still-valid relation at ``valid_to`` (kept in history); False if unknown or already ended."""

    def remove_sources(self, cube_ids: Sequence[str]) -> list[Relation]:
        """Forget that relations came from these cubes.

        Relations left with no source are deleted, then entities no relation uses any more.

        Returns:
            The relations deleted (as they were).
        """

    def delete_namespace(self, namespace_prefix: Sequence[str]) -> tuple[int, int]:
        """Delete every entity and relation under a namespace prefix; return ``(entities, relations)`` deleted."""

    def counts(self, namespace_prefix: Sequence[str] = ()) -> tuple[int, int]:
        """``(entities, relations)`` under a namespace prefix."""

    def export_rows(self, namespace_prefix: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """Every row under a prefix as JSON-safe dicts: ``{"entities": [...], "relations": [...]}``."""

    def import_rows(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[int, int]:
        """Load :meth:`export_rows` output (ids kept, rows replaced); return ``(entities, relations)`` loaded."""


def check_hops(hops: int) -> int:
    """Validate a hop count (1 or 2).

    Raises:
        InvalidInputError: Any other value.
    """
    from ..errors import InvalidInputError

    if hops not in (1, 2) or isinstance(hops, bool):
        raise InvalidInputError(f"hops must be 1 or 2, got {hops!r}")
    return hops


def walk_neighbours(store: GraphStore, entity_ids: Sequence[str], *, hops: int = 1,
                    as_of: datetime | None = None, current: bool = False, limit: int = 200) -> list[Neighbour]:
    """:meth:`GraphStore.neighbours` over any engine's :meth:`~GraphStore.relations` (one implementation).

    Hop 1 walks the relations touching ``entity_ids``; hop 2 those touching the entities hop 1
    reached. Each entity is listed once, at its smallest hop count, hop-1 entities first.
    """
    check_hops(hops)
    seen = set(entity_ids)
    if not seen:
        return []
    reached: list[tuple[str, int, Relation]] = []
    frontier = frozenset(seen)
    for hop in range(1, hops + 1):
        rels = store.relations(RelationQuery(entity_ids=frontier, as_of=as_of, current=current))
        found: set[str] = set()
        for r in sorted(rels, key=lambda r: r.id):
            for end in (r.subject, r.object):
                if end not in seen:
                    seen.add(end)
                    found.add(end)
                    reached.append((end, hop, r))
        frontier = frozenset(found)
        if not frontier:
            break
    by_id = {e.id: e for e in store.entities(ids=[end for end, _, _ in reached])}
    return [Neighbour(entity=by_id[end], hops=hop, via=r) for end, hop, r in reached if end in by_id][:limit]


__all__ = ["GraphStore", "RelationQuery", "check_hops", "walk_neighbours"]
