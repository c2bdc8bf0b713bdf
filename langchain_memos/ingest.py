"""Turning what callers pass to ``MemOS.add`` into cubes ready to store (pure, no I/O).

``add`` accepts a string, a chat message (a LangChain ``BaseMessage`` or a
``{"role": ..., "content": ...}`` dict), a :class:`~langchain_memos.cube.MemCube`,
or a list mixing these. :func:`plan_items` turns each into a :class:`PlannedCube`:
the cube, the text the keyword index holds, and the text to embed.

Example:
    >>> from langchain_memos.ingest import plan_items
    >>> [p.cube.content for p in plan_items([{"role": "user", "content": "I like tea"}], ("u",))]
    ['user: I like tea']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Sequence

from .cube import CubeView, MemCube, MemoryType, Permissions, Provenance, Tier, to_utc, utcnow
from .errors import InvalidInputError
from .validation import validate_ttl_minutes

#: Options ``MemOS.add`` understands for cubes it builds from text or messages.
ADD_OPTIONS = frozenset({
    "memory_type", "tier", "metadata", "tags", "importance", "owner", "source", "provenance", "thread_id",
    "valid_from", "valid_to", "ttl_minutes", "created_at", "language", "index", "permissions", "key",
})


@dataclass(frozen=True)
class PlannedCube:
    """A cube about to be written.

    Attributes:
        cube: The cube itself.
        index_text: What the keyword (BM25) index holds (``None``: not keyword-indexed).
        embed_text: What to embed (``None``: keep the stored vector, or none if never indexed).
    """

    cube: MemCube
    index_text: str | None
    embed_text: str | None

    @classmethod
    def for_cube(cls, cube: MemCube, *, reembed: bool = True, index: bool = True) -> "PlannedCube":
        """Plan a cube whose searchable text is its content."""
        text = index_text_for(cube) if index else None
        return cls(cube=cube, index_text=text, embed_text=text if (index and reembed) else None)


def index_text_for(cube: MemCube | CubeView) -> str:
    """The text that represents a cube in the keyword and vector indexes.

    The content, plus ``[shares an image: caption]`` when the cube carries a caption in
    ``metadata["caption"]`` that its content lacks (so a shared photo is found by what it shows).
    """
    from .retrieval.indexing import unit_text

    metadata = cube.metadata
    caption = metadata.get("caption") if type(metadata) is dict or isinstance(metadata, Mapping) else None
    if isinstance(caption, str) and caption and caption not in cube.content:
        return unit_text(cube.content, None, caption)
    return cube.content


#: LangChain message types as chat roles, so dicts and ``BaseMessage`` turns are stored alike.
ROLE_OF_TYPE = {"human": "user", "ai": "assistant"}


def _message_parts(item: Any) -> tuple[str, str, str | None, str | None] | None:
    """(role, text, name, message id) of a chat message, or ``None`` if ``item`` is not one.

    Roles are chat roles (``user``, ``assistant``, ``system``, ``tool``) whether the message
    is a ``{"role": ...}`` dict or a LangChain message (``human`` -> ``user``, ``ai`` -> ``assistant``).
    """
    if isinstance(item, Mapping) and "content" in item and ("role" in item or "type" in item):
        role = str(item.get("role") or item.get("type"))
        return ROLE_OF_TYPE.get(role, role), _text_of(item["content"]), item.get("name"), item.get("id")
    try:
        from langchain_core.messages import BaseMessage
    except ImportError:  # pragma: no cover
        return None
    if isinstance(item, BaseMessage):
        return ROLE_OF_TYPE.get(item.type, item.type), _text_of(item.content), getattr(item, "name", None), item.id
    return None


def _text_of(content: Any) -> str:
    """Plain text of message content (a string or a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "\n".join(p for p in parts if p)
    raise InvalidInputError(f"message content must be text or content blocks, got {type(content).__name__}")


def _base_cube(content: str, namespace: tuple[str, ...], options: Mapping[str, Any], offset: int) -> MemCube:
    ttl = validate_ttl_minutes(options.get("ttl_minutes"))
    if options.get("metadata") is not None and not isinstance(options["metadata"], Mapping):
        raise InvalidInputError(f"metadata must be a dict, got {type(options['metadata']).__name__}")
    try:
        return _build_cube(content, namespace, options, offset, ttl)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"an add() option has a value of the wrong type or range ({type(exc).__name__}: "
                                f"{exc}); check created_at/valid_from/valid_to (datetimes), ttl_minutes, "
                                "importance (numbers), memory_type/tier (their enum values), tags, permissions, "
                                "provenance") from exc


def _build_cube(content: str, namespace: tuple[str, ...], options: Mapping[str, Any], offset: int,
                ttl: float | None) -> MemCube:
    created = to_utc(options.get("created_at")) or utcnow()
    provenance = [p if isinstance(p, Provenance) else Provenance.from_dict(p) for p in options.get("provenance") or ()]
    permissions = options.get("permissions") or Permissions()
    return MemCube(
        content=content,
        namespace=namespace,
        key=options.get("key"),
        memory_type=MemoryType(options.get("memory_type", MemoryType.PLAINTEXT)),
        tier=Tier(options.get("tier", Tier.MID_TERM)),
        metadata=dict(options.get("metadata") or {}),
        created_at=created + timedelta(microseconds=offset),
        importance=float(options.get("importance", 0.5)),
        source=options.get("source"),
        provenance=provenance,
        valid_from=to_utc(options.get("valid_from")),
        valid_to=to_utc(options.get("valid_to")),
        expires_at=(created + timedelta(minutes=float(ttl))) if ttl is not None else None,
        tags=tuple(options.get("tags") or ()),
        owner=options.get("owner"),
        permissions=permissions if isinstance(permissions, Permissions) else Permissions.from_dict(permissions),
        language=options.get("language"),
    )


def plan_items(items: Any, namespace: tuple[str, ...], **options: Any) -> list[PlannedCube]:
    """Plan the cubes for ``MemOS.add(items, namespace, **options)``.

    Cubes passed in keep their own fields (their namespace is set to
    ``namespace`` when they have none). Messages become cubes whose content is
    ``"speaker: text"``, with ``metadata["speaker"]``/``["role"]`` and message
    provenance. ``created_at`` of a batch increases by a microsecond per item so
    the order of a conversation survives.

    Raises:
        InvalidInputError: An unknown option, an unsupported item type or a bad TTL.
    """
    unknown = set(options) - ADD_OPTIONS
    if unknown:
        raise InvalidInputError(f"unknown add() options {sorted(unknown)}; known options: {sorted(ADD_OPTIONS)}")
    if "key" in options and isinstance(items, (list, tuple)) and len(items) != 1:
        raise InvalidInputError("key= names one memory; pass a single item, or MemCubes with their own keys")
    seq: Sequence[Any] = items if isinstance(items, (list, tuple)) else [items]
    index = bool(options.get("index", True))
    planned: list[PlannedCube] = []
    for offset, item in enumerate(seq):
        if isinstance(item, MemCube):
            cube = item if item.namespace else item.copy(namespace=namespace)
            planned.append(PlannedCube.for_cube(cube, index=index))
            continue
        if isinstance(item, str):
            planned.append(PlannedCube.for_cube(_base_cube(item, namespace, options, offset), index=index))
            continue
        parts = _message_parts(item)
        if parts is None:
            raise InvalidInputError(
                f"cannot add a {type(item).__name__}; pass text, a chat message, a MemCube, or a list of these"
            )
        role, text, name, message_id = parts
        speaker = name or role
        cube = _base_cube(f"{speaker}: {text}", namespace, options, offset)
        cube.metadata = {"speaker": speaker, "role": role, **cube.metadata}
        if not cube.provenance:
            cube.provenance = [Provenance(kind="message", ref=message_id, thread_id=options.get("thread_id"))]
        cube.source = cube.source or "conversation"
        cube.memory_type = MemoryType(options.get("memory_type", MemoryType.EPISODE))
        planned.append(PlannedCube.for_cube(cube, index=index))
    return planned
