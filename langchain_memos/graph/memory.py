"""The graph side of :class:`~langchain_memos.memos.MemOS`: extract at write, score at search, forget at delete.

:class:`GraphMemory` owns a :class:`~langchain_memos.graph.base.GraphStore`, an
:class:`~langchain_memos.graph.extract.Extractor` and a
:class:`~langchain_memos.graph.writer.GraphWriter`. The facade calls it after committing cubes
(:meth:`GraphMemory.ingest`), while ranking (:meth:`GraphMemory.scores`) and after deleting
(:meth:`GraphMemory.forget`); it returns what the facade must do to cubes (fact cubes to write,
fact cubes to end or delete) instead of touching the record store itself. It also answers the
graph queries (:meth:`GraphMemory.entities`, :meth:`~GraphMemory.relations`, :meth:`~GraphMemory.facts`,
:meth:`~GraphMemory.neighbours`) that :class:`~langchain_memos.memos.MemOS` delegates to; a query that
filters by reader gets a ``readable`` callback (source cube ids -> the ones the reader may see).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Collection, Sequence

from ..cube import MemCube, MemoryType, Permissions, Provenance, to_utc, utcnow
from ..validation import validate_namespace
from .base import GraphStore, RelationQuery
from .extract import ExtractionInput, Extractor, RuleExtractor
from .model import Entity, Neighbour, Relation
from .resolve import resolve_mention
from .signal import hop2_seeds, relation_scores, relation_stems
from .writer import MENTION_PREDICATES, MENTIONS_DATE, GraphWriter, SourceExtraction


@dataclass
class GraphStats:
    """Running totals of graph work (the LoCoMo benchmark reports them).

    Attributes:
        extraction_s: Seconds spent extracting and writing the graph at ``add`` time.
        extracted: Cubes extracted from.
        relations_new: Relations created.
        relations_merged: Facts merged into an existing relation.
        superseded: Relations superseded by a newer contradicting fact.
    """

    extraction_s: float = 0.0
    extracted: int = 0
    relations_new: int = 0
    relations_merged: int = 0
    superseded: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe totals."""
        return {"extraction_s": round(self.extraction_s, 3), "extracted": self.extracted,
                "relations_new": self.relations_new, "relations_merged": self.relations_merged,
                "superseded": self.superseded}


@dataclass
class IngestResult:
    """What the facade does to cubes after :meth:`GraphMemory.ingest`.

    Attributes:
        fact_cubes: New ``fact`` cubes to write (keyed ``fact:<relation id>``).
        ended: ``(namespace, fact key, valid_to, superseded-by key)`` of stored fact cubes to end.
    """

    fact_cubes: list[MemCube] = field(default_factory=list)
    ended: list[tuple[tuple[str, ...], str, datetime | None, str | None]] = field(default_factory=list)


def fact_key(relation_id: str) -> str:
    """The cube key of the fact cube of a relation."""
    return f"fact:{relation_id}"


def source_text(cube: MemCube) -> tuple[str, str | None]:
    """The text to extract from and its speaker (a ``"Speaker: "`` prefix the content carries is removed)."""
    speaker = cube.metadata.get("speaker") if isinstance(cube.metadata.get("speaker"), str) else None
    text = cube.content
    if speaker and text.startswith(f"{speaker}: "):
        text = text[len(speaker) + 2:]
    return text, speaker


class GraphMemory:
    """The long-term memory graph as the facade uses it.

    Args:
        store: The graph engine.
        extractor: Turns texts into entities and facts (default: :class:`RuleExtractor`).
        fact_cubes: Build ``fact`` cubes for new facts.
    """

    def __init__(self, store: GraphStore, extractor: Extractor | None = None, *, fact_cubes: bool = True) -> None:
        self.store = store
        self.extractor = extractor or RuleExtractor()
        self.writer = GraphWriter(store)
        self.fact_cubes = fact_cubes
        self.stats = GraphStats()

    # ------------------------------------------------------------------ write
    def ingest(self, cubes: Sequence[MemCube], *, now: datetime | None = None) -> IngestResult:
        """Extract from ``cubes``, write the graph, and say which fact cubes to write or end."""
        started = time.perf_counter()
        result = IngestResult()
        if not cubes:
            return result
        texts = [source_text(c) for c in cubes]
        speakers = tuple(dict.fromkeys(s for _, s in texts if s))
        inputs = [ExtractionInput(text=t, speaker=s, said_at=c.created_at, known_names=speakers, source_id=c.id)
                  for c, (t, s) in zip(cubes, texts)]
        extractions = self.extractor.extract_many(inputs)
        by_ns: dict[tuple[str, ...], list[SourceExtraction]] = {}
        by_id = {c.id: c for c in cubes}
        for c, x, i in zip(cubes, extractions, inputs):
            by_ns.setdefault(c.namespace, []).append(SourceExtraction(c.id, c.created_at, x,
                                                                      speaker=i.speaker or "user"))
        recorded = now or utcnow()
        for namespace, sources in by_ns.items():
            written = self.writer.write(namespace, sources, recorded_at=recorded)
            plan = written.plan
            self.stats.relations_new += len(plan.new)
            self.stats.relations_merged += plan.merged
            self.stats.superseded += len(plan.superseded)
            if not self.fact_cubes:
                continue
            final = {r.id: r for r in plan.put}
            new_ids = {r.id for r in plan.new}
            names = {e.id: e.name for e in written.entity_names.values()}
            for rel in plan.new:
                rel = final.get(rel.id, rel)
                if rel.predicate not in MENTION_PREDICATES:
                    result.fact_cubes.append(self._fact_cube(rel, by_id.get(rel.provenance[0]), names))
            for old, new in plan.superseded:
                if old.id not in new_ids:
                    result.ended.append((namespace, fact_key(old.id), old.valid_to, fact_key(new.id)))
        self.stats.extracted += len(cubes)
        self.stats.extraction_s += time.perf_counter() - started
        return result

    @staticmethod
    def _fact_cube(rel: Relation, source: MemCube | None, names: dict[str, str]) -> MemCube:
        date = rel.attributes.get("date")
        said = relation_stems(Relation(rel.subject, "", rel.object, rel.namespace, text=rel.text))
        canonical = rel.predicate.replace("_", " ")
        content = rel.text + (f" [{canonical}]" if not relation_stems(rel) <= said else "") + \
            (f" (on {date})" if date else "")
        metadata: dict[str, Any] = {"relation": rel.id, "predicate": rel.predicate,
                                    "subject": names.get(rel.subject, rel.subject),
                                    "object": names.get(rel.object, rel.object)}
        if date:
            metadata["date"] = date
        if rel.superseded_by:
            metadata["superseded_by"] = fact_key(rel.superseded_by)
        provenance = [Provenance(kind="cube", ref=source.id)] + list(source.provenance) if source else []
        return MemCube(content=content, namespace=rel.namespace, key=fact_key(rel.id), memory_type=MemoryType.FACT,
                       metadata=metadata, created_at=rel.valid_from or rel.recorded_at, valid_from=rel.valid_from,
                       valid_to=rel.valid_to, provenance=provenance, source="extraction",
                       owner=source.owner if source else None,
                       permissions=source.permissions if source else Permissions(),
                       language=source.language if source else None)

    # ------------------------------------------------------------------ read
    def link(self, namespace: Sequence[str], names: Sequence[str]) -> dict[str, Entity]:
        """The entities of ``namespace`` that ``names`` refer to (exact names and aliases, then person nicknames)."""
        namespace = tuple(namespace)
        linked = {e.id: e for group in self.store.find_entities(namespace, names).values() for e in group
                  if e.kind != "date"}
        found = {n.casefold() for e in linked.values() for n in e.names}
        rest = [n for n in names if n[:1].isupper() and n.casefold() not in found]
        if rest:
            persons = [e for e in self.store.entities(namespace, kind="person") if e.namespace == namespace]
            for name in rest:
                e = resolve_mention(name, "person", persons)
                if e is not None:
                    linked[e.id] = e
        return linked

    def scores(self, namespace: Sequence[str], names: Sequence[str], keywords: Sequence[str], *,
               as_of: datetime | None = None, hops: int = 2) -> tuple[dict[str, float], dict[str, float]]:
        """Graph scores for a query (see :mod:`langchain_memos.graph.signal`).

        Returns:
            ``(cube id -> score, fact cube key -> score)``: the sources of the scored relations,
            and the fact cubes of those relations (the facade looks them up by key).
        """
        if not namespace:
            return {}, {}
        linked = self.link(namespace, names)
        if not linked:
            return {}, {}
        ns = tuple(namespace)
        names_by_id = {i: e.name for i, e in linked.items()}
        hop1 = [r for r in self.store.relations(RelationQuery(namespace_prefix=ns, entity_ids=frozenset(linked),
                                                              as_of=as_of))
                if r.namespace == ns and r.predicate != MENTIONS_DATE]  # dates are hubs, not evidence
        hop2: list[Relation] = []
        if hops >= 2:
            seeds = hop2_seeds(names_by_id, hop1, keywords)
            if seeds:
                seen = {r.id for r in hop1}
                hop2 = [r for r in self.store.relations(RelationQuery(namespace_prefix=ns, entity_ids=frozenset(seeds),
                                                                      as_of=as_of))
                        if r.id not in seen and r.namespace == ns and r.predicate != MENTIONS_DATE]
        scored = relation_scores(keywords, names_by_id, hop1, hop2, as_of_query=as_of is not None)
        cubes: dict[str, float] = {}
        facts: dict[str, float] = {}
        for s, r in scored.values():
            for cube_id in r.provenance:
                cubes[cube_id] = max(s, cubes.get(cube_id, 0.0))
            if self.fact_cubes and r.predicate not in MENTION_PREDICATES:
                facts[fact_key(r.id)] = s
        return cubes, facts

    # ------------------------------------------------------------------ queries
    def entities(self, namespace: Sequence[str] = (), *, kind: str | None = None,
                 limit: int | None = None) -> list[Entity]:
        """Entities under a namespace prefix."""
        return self.store.entities(validate_namespace(namespace, allow_empty=True), kind=kind, limit=limit)

    def relations(self, namespace: Sequence[str] = (), *, entity: str | None = None, predicate: str | None = None,
                  as_of: Any = None, current: bool = False, limit: int | None = None,
                  readable: Callable[[list[str]], Collection[str]] | None = None) -> list[Relation]:
        """Relations under a namespace prefix, newest first (see :meth:`~langchain_memos.memos.MemOS.relations`).

        ``readable`` (source cube ids -> those the reader may read) keeps only relations with a
        readable source; ``None`` is the trusted caller (no check).
        """
        namespace = validate_namespace(namespace, allow_empty=True)
        ids = None
        if entity is not None:
            ids = frozenset(self.link(namespace, [entity]))
            if not ids:
                return []
        rels = self.store.relations(RelationQuery(namespace_prefix=namespace, entity_ids=ids, predicate=predicate,
                                                  as_of=to_utc(as_of), current=current,
                                                  limit=limit if readable is None else None))
        if readable is not None and rels:
            allowed = set(readable(sorted({c for r in rels for c in r.provenance})))
            rels = [r for r in rels if allowed.intersection(r.provenance)]
        return rels[:limit]

    def facts(self, namespace: Sequence[str] = (), *, as_of: Any = None, history: bool = False,
              entity: str | None = None,
              readable: Callable[[list[str]], Collection[str]] | None = None) -> list[Relation]:
        """Extracted facts (relations other than mentions), oldest ``valid_from`` first (see ``MemOS.facts``)."""
        rels = self.relations(namespace, entity=entity, as_of=None if history else as_of,
                              current=not history and as_of is None, readable=readable)
        start = to_utc("1970-01-01T00:00:00")
        return sorted((r for r in rels if r.predicate not in MENTION_PREDICATES),
                      key=lambda r: (r.valid_from or start, r.recorded_at, r.id))

    async def afacts(self, namespace: Sequence[str] = (), *, as_of: Any = None, history: bool = False,
                     entity: str | None = None,
                     readable: Callable[[list[str]], Collection[str]] | None = None) -> list[Relation]:
        """Async twin of :meth:`facts` (the graph engine runs in a thread)."""
        return await asyncio.to_thread(self.facts, namespace, as_of=as_of, history=history, entity=entity,
                                       readable=readable)

    def neighbours(self, name: str, namespace: Sequence[str], *, hops: int = 1,
                   as_of: Any = None) -> list[Neighbour]:
        """Entities within ``hops`` (1 or 2) of the entity ``name`` refers to in ``namespace``."""
        linked = self.link(validate_namespace(namespace), [name])
        return self.store.neighbours(list(linked), hops=hops, as_of=to_utc(as_of)) if linked else []

    # ------------------------------------------------------------------ delete
    def forget(self, cube_ids: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
        """Remove deleted cubes from the graph; return ``(namespace, fact key)`` of fact cubes now without a source."""
        removed = self.store.remove_sources(list(cube_ids))
        return [(r.namespace, fact_key(r.id)) for r in removed if r.predicate not in MENTION_PREDICATES]


__all__ = ["GraphMemory", "GraphStats", "IngestResult", "fact_key", "source_text"]
