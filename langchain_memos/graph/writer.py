"""Writing extractions into a :class:`~langchain_memos.graph.base.GraphStore`.

The decisions are pure (:func:`plan_relations`): a fact already held (same subject, predicate
and object, still valid) merges its provenance into the stored relation; a fact whose predicate
holds one value at a time (:data:`~langchain_memos.graph.extract.EXCLUSIVE_PREDICATES`) and
names a new object supersedes the stored one (its ``valid_to`` is set, it stays in history).
:class:`GraphWriter` does the I/O around them: resolve names against the namespace's entities
(:func:`~langchain_memos.graph.resolve.resolve_mention`), then one ``put`` per table.

Example:
    >>> from datetime import datetime, timezone
    >>> from langchain_memos.graph.model import Relation
    >>> t1, t2 = datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2023, 6, 1, tzinfo=timezone.utc)
    >>> old = Relation("e_me", "lives_in", "e_boston", ("u",), valid_from=t1, provenance=("c1",))
    >>> new = Relation("e_me", "lives_in", "e_denver", ("u",), valid_from=t2, provenance=("c2",))
    >>> plan = plan_relations([old], [new])
    >>> [(r.object, r.valid_to == t2) for r in plan.put]
    [('e_boston', True), ('e_denver', False)]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Sequence

from ..cube import utcnow
from .base import GraphStore, RelationQuery
from .extract import EXCLUSIVE_PREDICATES, Extraction
from .model import Entity, Relation, normalize_name
from .resolve import resolve_mention

#: Predicate of the edge from a speaker to an entity they name outside any extracted fact.
MENTIONS = "mentions"
#: Predicate of the edge from a speaker to a date (an entity of kind ``"date"``, its ISO form) they mention.
MENTIONS_DATE = "mentions_date"
#: Predicates that record a mention rather than state a fact (no fact cube, not in ``MemOS.facts``).
MENTION_PREDICATES: frozenset[str] = frozenset({MENTIONS, MENTIONS_DATE})


@dataclass
class RelationPlan:
    """What :func:`plan_relations` decided.

    Attributes:
        put: Relations to write (new ones, merged ones, superseded ones with their ``valid_to``).
        new: The relations that did not exist before (a subset of ``put``).
        superseded: ``(old, new)`` pairs: ``old`` stopped holding when ``new`` started.
        merged: How many facts merged into a stored relation.
    """

    put: list[Relation] = field(default_factory=list)
    new: list[Relation] = field(default_factory=list)
    superseded: list[tuple[Relation, Relation]] = field(default_factory=list)
    merged: int = 0


def plan_relations(existing: Sequence[Relation], incoming: Sequence[Relation],
                   exclusive: frozenset[str] = EXCLUSIVE_PREDICATES) -> RelationPlan:
    """Merge, supersede or add each incoming relation against the still-valid ``existing`` ones (pure)."""
    plan = RelationPlan()
    current: dict[str, Relation] = {r.id: r for r in existing if r.valid_to is None}
    changed: dict[str, Relation] = {}
    start = datetime.min.replace(tzinfo=None)
    for rel in sorted(incoming, key=lambda r: (r.valid_from.replace(tzinfo=None) if r.valid_from else start)):
        same = next((r for r in current.values() if (r.subject, r.predicate, r.object) ==
                     (rel.subject, rel.predicate, rel.object)), None)
        if same is not None:
            merged = replace(same, provenance=(*same.provenance, *rel.provenance),
                             attributes={**rel.attributes, **same.attributes})
            current[same.id] = changed[same.id] = merged
            plan.merged += 1
            continue
        if rel.predicate in exclusive:
            for old in [r for r in current.values() if (r.subject, r.predicate) == (rel.subject, rel.predicate)]:
                if old.valid_from is None or rel.valid_from is None or old.valid_from <= rel.valid_from:
                    ended = replace(old, valid_to=rel.valid_from or utcnow(), superseded_by=rel.id)
                    del current[old.id]
                    changed[old.id] = ended
                    plan.superseded.append((ended, rel))
                else:  # a fact older than the stored one arrives late: it goes straight to history
                    rel = replace(rel, valid_to=old.valid_from, superseded_by=old.id)
                    plan.superseded.append((rel, old))
        if rel.valid_to is None:
            current[rel.id] = rel
        changed[rel.id] = rel
        plan.new.append(rel)
    plan.put = list(changed.values())
    return plan


@dataclass(frozen=True)
class SourceExtraction:
    """An extraction and the cube it came from.

    Attributes:
        cube_id: The source cube.
        said_at: When the text was said (the facts' ``valid_from``).
        extraction: What it says.
        speaker: The speaker (subject of ``mentions`` edges); ``None``: the first entity.
    """

    cube_id: str
    said_at: datetime | None
    extraction: Extraction
    speaker: str | None = None


@dataclass
class GraphWriteResult:
    """What :meth:`GraphWriter.write` stored.

    Attributes:
        entities: Entities written (new or with new aliases).
        plan: The relation plan that was applied.
        entity_names: name as extracted -> the entity it resolved to.
    """

    entities: list[Entity] = field(default_factory=list)
    plan: RelationPlan = field(default_factory=RelationPlan)
    entity_names: dict[str, Entity] = field(default_factory=dict)


class GraphWriter:
    """Resolves extracted names and writes entities and relations of one namespace.

    Args:
        store: The graph engine.
        mentions: Also link each speaker to the entities they name outside facts.
    """

    def __init__(self, store: GraphStore, *, mentions: bool = True) -> None:
        self.store = store
        self.mentions = mentions

    def _known(self, namespace: tuple[str, ...], names: Sequence[str]) -> list[Entity]:
        persons = [e for e in self.store.entities(namespace, kind="person") if e.namespace == namespace]
        exact = [e for group in self.store.find_entities(namespace, names).values() for e in group]
        return list({e.id: e for e in (*persons, *exact)}.values())

    def resolve(self, namespace: tuple[str, ...], mentions: Sequence[tuple[str, str]],
                recorded_at: datetime) -> tuple[dict[str, Entity], list[Entity]]:
        """Map each ``(name, kind)`` mention to an entity; return the mapping and the entities to write."""
        known = self._known(namespace, [n for n, _ in mentions])
        by_name: dict[str, Entity] = {}
        dirty: dict[str, Entity] = {}
        for name, kind in mentions:
            if name in by_name:
                continue
            found = resolve_mention(name, kind, known)
            if found is None:
                found = Entity(name=name, namespace=namespace, kind=kind, created_at=recorded_at)
                dirty[found.id] = found
                known.append(found)
            elif normalize_name(name) not in {normalize_name(n) for n in found.names}:
                updated = found.with_aliases(name)
                known = [updated if e.id == found.id else e for e in known]
                by_name = {k: (updated if v.id == found.id else v) for k, v in by_name.items()}
                dirty[found.id] = found = updated
            by_name[name] = found
        return by_name, list(dirty.values())

    def write(self, namespace: Sequence[str], sources: Sequence[SourceExtraction], *,
              recorded_at: datetime | None = None) -> GraphWriteResult:
        """Resolve, plan and store the graph of ``sources`` (all in ``namespace``)."""
        namespace = tuple(namespace)
        recorded_at = recorded_at or utcnow()
        mentions: list[tuple[str, str]] = []
        for s in sources:
            mentions.extend(s.extraction.entities)
            mentions.extend((iso, "date") for iso in s.extraction.dates)
            for f in s.extraction.facts:
                mentions += [(f.subject, f.subject_kind), (f.object, f.object_kind)]
        if not mentions:
            return GraphWriteResult()
        by_name, entities = self.resolve(namespace, mentions, recorded_at)
        incoming: list[Relation] = []
        for s in sources:
            used: set[str] = set()
            for f in s.extraction.facts:
                subj, obj = by_name[f.subject], by_name[f.object]
                used |= {subj.id, obj.id}
                incoming.append(Relation(subj.id, f.predicate, obj.id, namespace, valid_from=s.said_at,
                                         recorded_at=recorded_at, provenance=(s.cube_id,), text=f.text,
                                         attributes={"date": f.date} if f.date else {}))
            if self.mentions and s.extraction.entities:
                speaker = by_name[s.speaker] if s.speaker in by_name else by_name[s.extraction.entities[0][0]]
                for name, _ in s.extraction.entities:
                    target = by_name[name]
                    if target.id != speaker.id and target.id not in used:
                        used.add(target.id)
                        incoming.append(Relation(speaker.id, MENTIONS, target.id, namespace, valid_from=s.said_at,
                                                 recorded_at=recorded_at, provenance=(s.cube_id,),
                                                 text=f"{speaker.name} mentions {target.name}"))
                for iso in s.extraction.dates:
                    day = by_name[iso]
                    incoming.append(Relation(speaker.id, MENTIONS_DATE, day.id, namespace, valid_from=s.said_at,
                                             recorded_at=recorded_at, provenance=(s.cube_id,),
                                             text=f"{speaker.name} mentions {iso}", attributes={"date": iso}))
        subjects = frozenset(r.subject for r in incoming)
        existing = [r for r in self.store.relations(RelationQuery(namespace_prefix=namespace, entity_ids=subjects,
                                                                  current=True))
                    if r.namespace == namespace and r.subject in subjects]
        plan = plan_relations(existing, incoming)
        if entities:
            self.store.put_entities(entities)
        if plan.put:
            self.store.put_relations(plan.put)
        return GraphWriteResult(entities=entities, plan=plan, entity_names=by_name)


__all__ = ["GraphWriteResult", "GraphWriter", "MENTIONS", "MENTIONS_DATE", "MENTION_PREDICATES", "RelationPlan",
           "SourceExtraction", "plan_relations"]
