"""The graph's plain data: entities, relations (bi-temporal facts) and their row form.

An :class:`Entity` is a node (a person, place, date, thing) scoped to a namespace;
a :class:`Relation` is a directed, time-stamped edge ``subject -predicate-> object``
with the cube ids it was extracted from (its provenance). Both convert to and from
JSON-safe rows (:meth:`Entity.to_row`, :meth:`Relation.to_row`), the format every
engine exports and imports losslessly.

Example:
    >>> e = Entity(name="Melanie", namespace=("locomo", "conv-26"), kind="person")
    >>> e.id == entity_id(("locomo", "conv-26"), "person", "melanie")
    True
    >>> Entity.from_row(e.to_row()) == e
    True
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

from ..cube import to_utc, utcnow
from ..storage.base import ns_key

_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = "\"'`.,;:!?()[]{}<>"


def normalize_name(name: str) -> str:
    """The form names are compared in: NFKC, case-folded, single spaces, edge punctuation stripped.

    Example:
        >>> normalize_name("  The  Boston  Marathon! ")
        'the boston marathon'
    """
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    return _SPACES.sub(" ", text).strip().strip(_EDGE_PUNCT).strip()


def entity_id(namespace: Sequence[str], kind: str, norm: str) -> str:
    """The deterministic id of an entity (same namespace, kind and normalised name -> same id)."""
    digest = hashlib.blake2b(f"{ns_key(namespace)}\x1e{kind}\x1e{norm}".encode(), digest_size=12)
    return "e_" + digest.hexdigest()


def relation_id(namespace: Sequence[str], subject: str, predicate: str, obj: str, valid_from: datetime | None) -> str:
    """The deterministic id of a relation (one per subject, predicate, object and start of validity)."""
    start = "" if valid_from is None else f"{to_utc(valid_from).timestamp():.6f}"  # type: ignore[union-attr]
    digest = hashlib.blake2b(f"{ns_key(namespace)}\x1e{subject}\x1e{predicate}\x1e{obj}\x1e{start}".encode(),
                             digest_size=12)
    return "r_" + digest.hexdigest()


class ReadOnlyDict(dict):
    """A ``dict`` that refuses changes (a :class:`Relation`'s ``attributes``: relations are immutable
    values, and the SQLite graph store hands one parsed relation to every reader of its row).

    Copies and pickles give plain dicts.

    Example:
        >>> ReadOnlyDict({"date": "2023-05-07"})["date"]
        '2023-05-07'
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a relation's attributes are read-only; build a new Relation with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (dict(self),)

    def copy(self) -> dict[str, Any]:  # type: ignore[override]
        """A plain, changeable copy."""
        return dict(self)


def _time(value: Any) -> datetime | None:
    return to_utc(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Entity:
    """A node of the memory graph.

    Attributes:
        name: The display name, stored verbatim (any script, quotes and all).
        namespace: The namespace the entity belongs to (resolution never crosses namespaces).
        kind: ``"person"``, ``"place"``, ``"date"``, ``"thing"``...
        aliases: Other names that resolved to this entity ("Mel" for "Melanie").
        id: Deterministic from namespace, kind and the normalised name (see :func:`entity_id`).
        created_at: When it was first recorded.
        attributes: Extra JSON-safe facts.
    """

    name: str
    namespace: tuple[str, ...]
    kind: str = "thing"
    aliases: tuple[str, ...] = ()
    id: str = ""
    created_at: datetime = field(default_factory=utcnow)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", tuple(self.namespace))
        object.__setattr__(self, "aliases", tuple(dict.fromkeys(a for a in self.aliases if a and a != self.name)))
        object.__setattr__(self, "created_at", to_utc(self.created_at))
        object.__setattr__(self, "attributes", dict(self.attributes))
        if not self.id:
            object.__setattr__(self, "id", entity_id(self.namespace, self.kind, normalize_name(self.name)))

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias."""
        return (self.name, *self.aliases)

    def with_aliases(self, *aliases: str) -> "Entity":
        """A copy that also knows ``aliases``."""
        return replace(self, aliases=(*self.aliases, *aliases))

    def to_row(self) -> dict[str, Any]:
        """A JSON-safe row (the export format)."""
        return {"id": self.id, "namespace": list(self.namespace), "name": self.name, "kind": self.kind,
                "aliases": list(self.aliases), "created_at": _iso(self.created_at),
                "attributes": dict(self.attributes)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Entity":
        """Inverse of :meth:`to_row`."""
        return cls(name=row["name"], namespace=tuple(row["namespace"]), kind=row.get("kind", "thing"),
                   aliases=tuple(row.get("aliases") or ()), id=row["id"],
                   created_at=_time(row.get("created_at")) or utcnow(), attributes=dict(row.get("attributes") or {}))


@dataclass(frozen=True)
class Relation:
    """A directed, bi-temporal fact ``subject -predicate-> object``.

    Attributes:
        subject: The subject entity's id.
        predicate: A normalised predicate label (``"lives_in"``, ``"go_to"``...).
        object: The object entity's id.
        namespace: Where it belongs.
        valid_from: When the fact started to hold (``None``: unknown / always).
        valid_to: When it stopped (set when a later fact supersedes it; ``None``: still holds).
        recorded_at: When the memory system learned it.
        provenance: Ids of the cubes it was extracted from (near-duplicates merge theirs).
        text: The fact as a short sentence, verbatim from the source where possible.
        superseded_by: The id of the relation that superseded it, if any.
        attributes: Extra JSON-safe facts (``"date"``: an ISO date the fact mentions...).
        id: Deterministic from namespace, subject, predicate, object and ``valid_from``.
    """

    subject: str
    predicate: str
    object: str
    namespace: tuple[str, ...]
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    recorded_at: datetime = field(default_factory=utcnow)
    provenance: tuple[str, ...] = ()
    text: str = ""
    superseded_by: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", tuple(self.namespace))
        object.__setattr__(self, "valid_from", _time(self.valid_from))
        object.__setattr__(self, "valid_to", _time(self.valid_to))
        object.__setattr__(self, "recorded_at", to_utc(self.recorded_at))
        object.__setattr__(self, "provenance", tuple(dict.fromkeys(self.provenance)))
        object.__setattr__(self, "attributes", ReadOnlyDict(self.attributes))
        if not self.id:
            object.__setattr__(self, "id", relation_id(self.namespace, self.subject, self.predicate, self.object,
                                                       self.valid_from))

    def is_valid_at(self, when: datetime | None) -> bool:
        """Whether the fact holds at ``when`` (``None``: now, i.e. not superseded)."""
        if when is None:
            return self.valid_to is None
        when = to_utc(when)  # type: ignore[assignment]
        if self.valid_from is not None and when < self.valid_from:  # type: ignore[operator]
            return False
        return self.valid_to is None or when < self.valid_to  # type: ignore[operator]

    def to_row(self) -> dict[str, Any]:
        """A JSON-safe row (the export format)."""
        return {"id": self.id, "namespace": list(self.namespace), "subject": self.subject,
                "predicate": self.predicate, "object": self.object, "valid_from": _iso(self.valid_from),
                "valid_to": _iso(self.valid_to), "recorded_at": _iso(self.recorded_at),
                "provenance": list(self.provenance), "text": self.text, "superseded_by": self.superseded_by,
                "attributes": dict(self.attributes)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Relation":
        """Inverse of :meth:`to_row`."""
        return cls(subject=row["subject"], predicate=row["predicate"], object=row["object"],
                   namespace=tuple(row["namespace"]), valid_from=_time(row.get("valid_from")),
                   valid_to=_time(row.get("valid_to")), recorded_at=_time(row.get("recorded_at")) or utcnow(),
                   provenance=tuple(row.get("provenance") or ()), text=row.get("text") or "",
                   superseded_by=row.get("superseded_by"), attributes=dict(row.get("attributes") or {}),
                   id=row["id"])


@dataclass(frozen=True)
class Neighbour:
    """An entity reached from the start entities of :meth:`GraphStore.neighbours`.

    Attributes:
        entity: The entity reached.
        hops: 1 or 2.
        via: The relation of the last hop.
    """

    entity: Entity
    hops: int
    via: Relation


__all__ = ["Entity", "Neighbour", "Relation", "entity_id", "normalize_name", "relation_id"]
