"""Pure planning steps of the read and change paths: cube queries, search plans, updates, fuses.

These build what the I/O steps of :class:`~.core.MemoryEngine` execute; they never
touch a store (a fuse is planned from source cubes read before, an update from the
current cube).

Example:
    >>> from langchain_memos.cube import MemCube
    >>> old = MemCube(content="Alice likes tea", namespace=("u",))
    >>> new = apply_update(old, {"content": "Alice likes coffee"}, reason="update", actor=None, max_chars=100)
    >>> new.cube.version, new.cube.history[-1].content, new.embed_text
    (2, 'Alice likes tea', 'Alice likes coffee')
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from ..cube import HOT_TIERS, HistoryEntry, MemCube, MemoryType, Provenance, Status, Tier, to_utc, utcnow
from ..errors import InvalidInputError
from ..filters import parse_filter
from ..ingest import PlannedCube
from ..retrieval.fusion import RetrievalConfig
from ..retrieval.pipeline import SearchPlan, plan_search
from ..storage.base import CubeQuery, ScoredId
from ..validation import validate_content, validate_enum, validate_enums, validate_json_value, validate_namespace

#: The fields :func:`apply_update` may change.
UPDATABLE = frozenset({"content", "metadata", "tags", "importance", "memory_type", "tier", "status", "valid_from",
                       "valid_to", "expires_at", "permissions", "owner", "language", "source", "provenance"})


# ------------------------------------------------------------------ read plans
def cube_query(namespace: Sequence[str], *, tiers: Iterable[Tier | str] | None,
               types: Iterable[MemoryType | str] | None, filters: Mapping[str, Any] | None,
               reader: str | None, default_tiers: Sequence[Tier] | None = HOT_TIERS,
               time_range: tuple[Any, Any] | None = None, as_of: Any = None) -> CubeQuery:
    """The validated :class:`~langchain_memos.storage.base.CubeQuery` of a list or search call."""
    namespace = validate_namespace(namespace, allow_empty=True)
    tier_set = validate_enums(Tier, tiers, what="tier") if tiers is not None else (
        frozenset(default_tiers) if default_tiers is not None else None)
    start, end = (time_range or (None, None))
    return CubeQuery(
        namespace_prefix=namespace,
        tiers=tier_set,
        types=validate_enums(MemoryType, types, what="memory type") if types is not None else None,
        conditions=tuple(parse_filter(filters)),
        reader=reader,
        created_after=to_utc(start),
        created_before=to_utc(end),
        valid_at=to_utc(as_of),
    )


def plan_query(query: str, namespace: Sequence[str], k: int, options: Mapping[str, Any], *,
               retrieval: RetrievalConfig, reader: str | None) -> SearchPlan:
    """The :class:`~langchain_memos.retrieval.pipeline.SearchPlan` of ``MemOS.search(query, namespace, k, **opts)``."""
    cq = cube_query(namespace, tiers=options.get("tiers"), types=options.get("types"), filters=options.get("filters"),
                    reader=reader, time_range=options.get("time_range"), as_of=options.get("as_of"))
    return plan_search(query, cq, k, retrieval, min_score=options.get("min_score"),
                       max_tokens=options.get("max_tokens"), mmr=options.get("mmr"))


def merge_scored(first: Sequence[ScoredId], second: Sequence[ScoredId], k: int) -> list[ScoredId]:
    """The ``k`` best of two scored lists (an id in both keeps its higher score)."""
    if not second:
        return list(first[:k])
    best: dict[str, ScoredId] = {}
    for hit in [*first, *second]:
        if hit.id not in best or hit.score > best[hit.id].score:
            best[hit.id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.id))[:k]


# ---------------------------------------------------------------- change plans
def apply_update(cube: MemCube, changes: Mapping[str, Any], *, reason: str, actor: str | None,
                 max_chars: int) -> PlannedCube:
    """The new version of ``cube`` with ``changes``; the old one goes to its history.

    Raises:
        InvalidInputError: An unknown field, or a value of the wrong type.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidInputError(f"cannot update fields {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
    if "content" in changes:
        validate_content(changes["content"], max_chars=max_chars)
    if "metadata" in changes:
        if not isinstance(changes["metadata"], Mapping):
            raise InvalidInputError(f"metadata must be a dict, got {type(changes['metadata']).__name__}")
        validate_json_value(changes["metadata"], what="metadata")
    now = utcnow()
    entry = HistoryEntry(version=cube.version, content=cube.content, metadata=cube.metadata, changed_at=now,
                         reason=reason, actor=actor, snapshot=cube.snapshot())
    try:
        new = cube.copy(**changes)
        new.version = cube.version + 1
        new.updated_at = now
        new.history = [*cube.history, entry]
        new.__post_init__()
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InvalidInputError(f"cannot update {sorted(changes)} of cube {cube.id} ({exc}); pass values of "
                                "the types MemCube declares for these fields") from exc
    return PlannedCube.for_cube(new, reembed=("content" in changes and changes["content"] != cube.content))


def tier_changes(tier: Tier | str) -> dict[str, Any]:
    """The changes that move a cube to ``tier`` (the archive archives it, hot tiers activate it)."""
    tier = validate_enum(Tier, tier, what="tier")
    status = Status.ARCHIVED if tier is Tier.ARCHIVE else (
        Status.ACTIVATED if tier in (Tier.ACTIVATION, Tier.WORKING) else None)
    changes: dict[str, Any] = {"tier": tier}
    if status is not None:
        changes["status"] = status
    return changes


def check_fuse_ids(ids: Sequence[str]) -> None:
    """Raise :class:`InvalidInputError` unless at least two cubes are to be fused."""
    if len(ids) < 2:
        raise InvalidInputError("fuse needs at least two cube ids")


def plan_fuse(sources: Sequence[MemCube], content: str | None, user: str | None, options: dict[str, Any], *,
              max_chars: int) -> list[PlannedCube]:
    """The fused cube (first) and the archived versions of its ``sources`` (see ``MemOS.fuse``).

    Raises:
        InvalidInputError: The sources span namespaces, or the content is invalid.
    """
    namespace = sources[0].namespace
    if any(s.namespace != namespace for s in sources):
        raise InvalidInputError("fuse takes cubes of one namespace; move them first")
    fused_text = content if content is not None else merge_contents([s.content for s in sources])
    provenance: list[Provenance] = []
    for s in sources:
        for p in s.provenance:
            if p not in provenance:
                provenance.append(p)
        provenance.append(Provenance(kind="cube", ref=s.id, detail={"version": s.version}))
    metadata: dict[str, Any] = {}
    for s in sources:
        metadata.update(s.metadata)
    metadata.update(options.pop("metadata", {}) or {})
    fused = MemCube(
        content=fused_text, namespace=namespace, memory_type=options.pop("memory_type", sources[0].memory_type),
        tier=options.pop("tier", min((s.tier for s in sources), key=list(Tier).index)),
        status=Status.FUSED, metadata=metadata, provenance=provenance,
        importance=max(s.importance for s in sources), heat=sum(s.heat for s in sources),
        access_count=sum(s.access_count for s in sources),
        created_at=min(s.created_at for s in sources),
        valid_from=min((s.valid_from for s in sources if s.valid_from), default=None),
        tags=tuple(dict.fromkeys(t for s in sources for t in s.tags)), owner=sources[0].owner,
        permissions=sources[0].permissions, source="fuse", **options,
    )
    validate_content(fused.content, max_chars=max_chars)
    planned = [PlannedCube.for_cube(fused, reembed=True)]
    for s in sources:
        changes = {"status": Status.FUSED, "tier": Tier.ARCHIVE, "metadata": {**s.metadata, "fused_into": fused.id}}
        planned.append(apply_update(s, changes, reason="fuse", actor=user, max_chars=max_chars))
    return planned


def merge_contents(contents: Sequence[str]) -> str:
    """Join distinct contents, dropping ones contained in another (the no-LLM fuse)."""
    unique: list[str] = []
    for text in sorted(dict.fromkeys(c.strip() for c in contents if c.strip()), key=len, reverse=True):
        if not any(text.lower() in kept.lower() for kept in unique):
            unique.append(text)
    order = {c.strip(): i for i, c in enumerate(contents)}
    return " ".join(sorted(unique, key=lambda t: order.get(t, 0)))


__all__ = ["UPDATABLE", "apply_update", "check_fuse_ids", "cube_query", "merge_contents", "merge_scored",
           "plan_fuse", "plan_query", "tier_changes"]
