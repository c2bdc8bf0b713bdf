"""MemCube: the unit of memory, with its metadata and lifecycle.

A :class:`MemCube` is a plain dataclass. It round-trips through JSON with
:meth:`MemCube.to_dict` / :meth:`MemCube.from_dict` (and ``to_json``/``from_json``)
without loss, so it can be exported, shipped between processes and archived.

Example:
    >>> from langchain_memos.cube import MemCube, MemoryType
    >>> cube = MemCube(content="Alice prefers tea", namespace=("users", "alice"),
    ...                memory_type=MemoryType.PREFERENCE)
    >>> MemCube.from_json(cube.to_json()) == cube
    True
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Callable


class MemoryType(str, Enum):
    """What kind of memory a cube holds."""

    PLAINTEXT = "plaintext"
    FACT = "fact"
    EPISODE = "episode"
    SUMMARY = "summary"
    PREFERENCE = "preference"
    PERSONA = "persona"
    TOOL_TRACE = "tool_trace"
    ACTIVATION = "activation"
    PARAMETRIC = "parametric"


class Tier(str, Enum):
    """Where a cube lives, from hottest to coldest."""

    ACTIVATION = "activation"
    WORKING = "working"
    MID_TERM = "mid_term"
    LONG_TERM = "long_term"
    ARCHIVE = "archive"


#: Tiers that the hot indexes (vectors, BM25) serve by default.
HOT_TIERS: tuple[Tier, ...] = (Tier.ACTIVATION, Tier.WORKING, Tier.MID_TERM, Tier.LONG_TERM)


class Status(str, Enum):
    """Lifecycle status of a cube."""

    GENERATED = "generated"
    ACTIVATED = "activated"
    FUSED = "fused"
    ARCHIVED = "archived"
    EXPIRED = "expired"


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """Return a fresh cube id: a UUIDv7 (RFC 9562) as 32 hex characters.

    Its first 12 hex digits are the milliseconds since the epoch, the rest random (74 bits;
    ids of one millisecond are in random order), so ids made one after another sort together:
    a new cube's entries land at the end of each index keyed by id (the records' id index, the
    embeddings table) instead of on a random page of it, and a bulk write dirties far fewer pages.

    Example:
        >>> import uuid
        >>> uuid.UUID(hex=new_id()).version
        7
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, of which 74 are kept
    value = ((millis & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 68) << 64
             | 0b10 << 62 | rand & (1 << 62) - 1)
    return f"{value:032x}"


def to_utc(value: datetime | str | float | int | None) -> datetime | None:
    """Normalise a datetime, ISO string or epoch seconds to an aware UTC datetime.

    Naive datetimes are taken to be UTC.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, ISO string or epoch seconds, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Provenance:
    """Where a cube came from.

    Attributes:
        kind: The kind of source: ``"message"``, ``"tool_call"``, ``"document"``,
            ``"cube"`` (for fused cubes), ``"user"``...
        ref: The source's id, e.g. a LoCoMo ``dia_id`` or a message id.
        thread_id: The conversation thread, when there is one.
        detail: Extra JSON-safe facts about the source (speaker, session date...).
    """

    kind: str
    ref: str | None = None
    thread_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {"kind": self.kind, "ref": self.ref, "thread_id": self.thread_id, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Provenance":
        """Build from :meth:`to_dict` output."""
        return cls(kind=data["kind"], ref=data.get("ref"), thread_id=data.get("thread_id"),
                   detail=dict(data.get("detail") or {}))


@dataclass(frozen=True)
class Permissions:
    """Who may read and write a cube, beyond the namespace owner.

    ``readers``/``writers`` hold user ids; ``"*"`` means everyone. The owner
    (``MemCube.owner``) may always read and write.
    """

    readers: tuple[str, ...] = ()
    writers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {"readers": list(self.readers), "writers": list(self.writers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Permissions":
        """Build from :meth:`to_dict` output."""
        data = data or {}
        return cls(readers=tuple(data.get("readers") or ()), writers=tuple(data.get("writers") or ()))


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier version of a cube, kept when the cube is updated, fused or deleted.

    Attributes:
        version: The version number this entry preserves.
        content: The content at that version.
        metadata: The user metadata at that version.
        changed_at: When this version was replaced.
        reason: Why (``"update"``, ``"fuse"``, ``"supersede"``, ``"delete"``...).
        actor: Who made the change, when known.
        snapshot: The other cube fields at that version (tier, status, validity...).
    """

    version: int
    content: str
    metadata: dict[str, Any]
    changed_at: datetime
    reason: str
    actor: str | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "version": self.version,
            "content": self.content,
            "metadata": self.metadata,
            "changed_at": _iso(self.changed_at),
            "reason": self.reason,
            "actor": self.actor,
            "snapshot": self.snapshot,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HistoryEntry":
        """Build from :meth:`to_dict` output."""
        return cls(
            version=int(data["version"]),
            content=data["content"],
            metadata=dict(data.get("metadata") or {}),
            changed_at=to_utc(data["changed_at"]),  # type: ignore[arg-type]
            reason=data.get("reason", "update"),
            actor=data.get("actor"),
            snapshot=dict(data.get("snapshot") or {}),
        )


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The dataclass field names of ``cls`` (computed once per class: ``fields()`` is slow on every load)."""
    return frozenset(f.name for f in fields(cls))


_TIME_FIELDS = ("created_at", "updated_at", "last_accessed_at", "valid_from", "valid_to", "expires_at")


#: How :meth:`MemCube.to_dict` turns each field into JSON (``None``: as is, enums by value).
_SPECIAL_FIELDS: dict[str, Callable[[Any], Any]] = {
    **{name: _iso for name in _TIME_FIELDS},
    "namespace": list,
    "tags": list,
    "provenance": lambda value: [p.to_dict() for p in value],
    "permissions": lambda value: value.to_dict(),
}
_CONVERTERS: dict[type, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {}


def _json_converters(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """``(field name, converter)`` for every field of a MemCube class, computed once per class."""
    table = _CONVERTERS.get(cls)
    if table is None:
        table = _CONVERTERS[cls] = tuple((f.name, _SPECIAL_FIELDS.get(f.name)) for f in fields(cls))
    return table


@dataclass
class MemCube:
    """A unit of memory: content plus the metadata its lifecycle needs.

    Attributes:
        content: The text of the memory (what is embedded and searched).
        namespace: A tuple of string labels, as in LangGraph (``("users", "alice")``).
        id: Unique id; a UUIDv7 hex string by default (:func:`new_id`).
        key: The caller's key within the namespace (LangGraph's ``Item.key``);
            defaults to ``id``. ``(namespace, key)`` is unique.
        memory_type: What kind of memory this is.
        tier: Where it lives now.
        status: Its lifecycle status.
        metadata: Caller data (a LangGraph ``Item.value`` lives here). JSON only.
        created_at / updated_at / last_accessed_at: Times, timezone-aware UTC.
        access_count: How often it was read or retrieved.
        heat: The scheduler's heat score.
        importance: Semantic importance in [0, 1].
        source: A short label of where it came from (``"conversation"``, ``"tool"``...).
        provenance: The exact sources (messages, tool calls, fused cubes).
        version: Increases by one on each update.
        history: Earlier versions, oldest first.
        valid_from / valid_to: When the fact holds (bi-temporal facts);
            ``valid_to`` is set when a later fact supersedes this one.
        expires_at: When the cube is forgotten (TTL); ``None`` keeps it.
        ttl_minutes: The sliding TTL: reads that refresh it move ``expires_at`` to
            ``now + ttl_minutes``. ``None``: a fixed (or no) expiry.
        tags: Free labels.
        modality: ``"text"``, ``"image"``, ``"tool"``...
        owner: The user id that owns it; ``None`` for shared memory.
        permissions: Extra readers and writers.
        language: The language of the content as it came in (BCP 47), if known.
        position: Order of the cube within its thread (``thread_id``), e.g. the turn
            index in a conversation; assigned by ``MemOS.add`` for threaded cubes.
    """

    content: str
    namespace: tuple[str, ...]
    id: str = field(default_factory=new_id)
    key: str | None = None
    memory_type: MemoryType = MemoryType.PLAINTEXT
    tier: Tier = Tier.MID_TERM
    status: Status = Status.GENERATED
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None
    last_accessed_at: datetime | None = None
    access_count: int = 0
    heat: float = 0.0
    importance: float = 0.5
    source: str | None = None
    provenance: list[Provenance] = field(default_factory=list)
    version: int = 1
    history: list[HistoryEntry] = field(default_factory=list)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    expires_at: datetime | None = None
    ttl_minutes: float | None = None
    tags: tuple[str, ...] = ()
    modality: str = "text"
    owner: str | None = None
    permissions: Permissions = field(default_factory=Permissions)
    language: str | None = None
    position: int | None = None

    def __post_init__(self) -> None:
        self.namespace = tuple(self.namespace)
        self.memory_type = MemoryType(self.memory_type)
        self.tier = Tier(self.tier)
        self.status = Status(self.status)
        self.tags = tuple(self.tags)
        if self.key is None:
            self.key = self.id
        for name in _TIME_FIELDS:
            setattr(self, name, to_utc(getattr(self, name)))
        if self.updated_at is None:
            self.updated_at = self.created_at
        if isinstance(self.permissions, dict):
            self.permissions = Permissions.from_dict(self.permissions)
        self.provenance = [p if isinstance(p, Provenance) else Provenance.from_dict(p) for p in self.provenance]
        self.history = [h if isinstance(h, HistoryEntry) else HistoryEntry.from_dict(h) for h in self.history]

    # ------------------------------------------------------------------ views
    @property
    def thread_id(self) -> str | None:
        """The thread (conversation/session) of the cube's first provenance entry, if any."""
        return next((p.thread_id for p in self.provenance if p.thread_id), None)

    def view(self) -> "CubeView":
        """The fields ranking and rendering read, as a :class:`CubeView`."""
        return CubeView(id=self.id, content=self.content, memory_type=self.memory_type, metadata=self.metadata,
                        created_at=self.created_at, updated_at=self.updated_at or self.created_at,
                        valid_from=self.valid_from, valid_to=self.valid_to, thread_id=self.thread_id,
                        position=self.position)

    @property
    def source_refs(self) -> list[str]:
        """The ``ref`` of every provenance entry, in order (e.g. LoCoMo dia_ids)."""
        return [p.ref for p in self.provenance if p.ref is not None]

    def is_valid_at(self, when: datetime) -> bool:
        """Whether the fact holds at ``when`` (``valid_from <= when < valid_to``)."""
        when = to_utc(when)  # type: ignore[assignment]
        if self.valid_from is not None and when < self.valid_from:
            return False
        return not (self.valid_to is not None and when >= self.valid_to)

    def is_expired(self, now: datetime | None = None) -> bool:
        """Whether the cube's TTL has passed (or it was marked expired)."""
        if self.status is Status.EXPIRED:
            return True
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def can_read(self, user: str | None) -> bool:
        """Whether ``user`` may read this cube (``None`` acts as a trusted system)."""
        if user is None or self.owner is None or user == self.owner:
            return True
        return user in self.permissions.readers or "*" in self.permissions.readers

    def can_write(self, user: str | None) -> bool:
        """Whether ``user`` may update or delete this cube."""
        if user is None or self.owner is None or user == self.owner:
            return True
        return user in self.permissions.writers or "*" in self.permissions.writers

    def snapshot(self) -> dict[str, Any]:
        """The fields a history entry keeps besides content and metadata."""
        return {
            "tier": self.tier.value,
            "status": self.status.value,
            "memory_type": self.memory_type.value,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "tags": list(self.tags),
            "importance": self.importance,
            "provenance": [p.to_dict() for p in self.provenance],
        }

    def copy(self, **changes: Any) -> "MemCube":
        """Return a copy with ``changes`` applied (lists are copied, not shared)."""
        base = replace(self, provenance=list(self.provenance), history=list(self.history),
                       metadata=json.loads(json.dumps(self.metadata)))
        return replace(base, **changes) if changes else base

    # ------------------------------------------------------------------ JSON
    def to_dict(self, *, include_history: bool = True) -> dict[str, Any]:
        """Return a JSON-safe dict; :meth:`from_dict` gives back an equal cube."""
        data: dict[str, Any] = {}
        for name, convert in _json_converters(type(self)):
            value = getattr(self, name)
            if convert is not None:
                data[name] = convert(value)
            elif name == "history":
                if include_history:
                    data[name] = [h.to_dict() for h in value]
            else:
                data[name] = value.value if isinstance(value, Enum) else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MemCube":
        """Build a cube from :meth:`to_dict` output (unknown keys are rejected)."""
        known = _field_names(cls)
        if not known.issuperset(data):
            unknown = set(data) - known
            raise ValueError(f"unknown MemCube fields {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        """Serialise to a JSON string (NaN and Infinity are rejected)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MemCube":
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class CubeView:
    """What ranking and rendering read of a cube: a light, read-only copy of some of its fields.

    A search scores many more cubes than it returns; the record store hands them out as views
    (``CubeRecords.candidates``), which cost a fraction of a whole :class:`MemCube` to read, and
    loads only the hits in full. Each field means what the cube's field of that name means.

    Example:
        >>> cube = MemCube(content="Alice prefers tea", namespace=("u",))
        >>> view = cube.view()
        >>> (view.id, view.content, view.created_at) == (cube.id, cube.content, cube.created_at)
        True
    """

    id: str
    content: str
    memory_type: MemoryType
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    thread_id: str | None = None
    position: int | None = None


def is_finite_number(value: Any) -> bool:
    """True for ints and finite floats (not bools)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


__all__ = [
    "CubeView",
    "HOT_TIERS",
    "HistoryEntry",
    "MemCube",
    "MemoryType",
    "Permissions",
    "Provenance",
    "Status",
    "Tier",
    "new_id",
    "to_utc",
    "utcnow",
]

