"""Validation of what ``write`` is given and the row values built from it (pure, no I/O).

Everything a write can reject is rejected here, before its transaction starts:
cube types, ids and namespace labels, embeddings (finite float32, one dimension
per batch is checked by the caller), keyword documents, non-JSON values and text
SQLite cannot store.

Example:
    >>> keyword_row("tea", "doc")
    ('tea', '', '', '')
    >>> len(validate_embedding([1.0, 2.0], "embedding"))
    8
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ...cube import MemCube, Tier
from ...errors import InvalidInputError, InvalidNamespaceError
from ..base import KEYWORD_COLUMNS, NS_SEP, KeywordDoc, ns_key
from .values import dumps, epoch


def validate_embedding(vec: Sequence[float], where: str) -> bytes:
    """Check one embedding and return it as little-endian float32 bytes."""
    import numpy as np

    try:
        arr = np.asarray(vec, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where} must be a sequence of numbers ({exc})") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"{where} must be a non-empty flat list of numbers, got shape {arr.shape}")
    as32 = arr.astype("<f4")
    if not (np.isfinite(arr).all() and np.isfinite(as32).all()):
        raise InvalidInputError(f"{where} contains NaN or infinite values (or values beyond float32 range); "
                                "check the embedding model's output")
    return as32.tobytes()


def metadata_fields(metadata: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """``(key, type, atom)`` of each top-level scalar of ``metadata``, as ``json_each`` reports them.

    Example:
        >>> metadata_fields({"a": True, "b": 2**70, "c": [1], "d": None, "e": "x", "f": 1.5})
        [('a', 'true', 1), ('b', 'integer', 1.1805916207174113e+21), ('d', 'null', None), ('e', 'text', 'x'), \
('f', 'real', 1.5)]
    """
    out: list[tuple[str, str, Any]] = []
    for key, value in metadata.items():
        if value is None:
            out.append((key, "null", None))
        elif value is True or value is False:
            out.append((key, "true" if value else "false", int(value)))
        elif isinstance(value, int):
            # like SQLite's JSON parser: integers beyond 64 bits keep type "integer" with a real atom
            out.append((key, "integer", value if -(2**63) <= value < 2**63 else float(value)))
        elif isinstance(value, float):
            out.append((key, "real", value))
        elif isinstance(value, str):
            out.append((key, "text", value))
    return out


def embedding_blobs(embeddings: Sequence[Sequence[float] | None]) -> list[bytes | None] | None:
    """A batch of embeddings as float32 bytes each (``None`` stays ``None``), checked as one array.

    Returns ``None`` when the batch is not a rectangular, finite array of numbers;
    the caller then checks each embedding with :func:`validate_embedding`, which
    names the offending cube.
    """
    import numpy as np

    present = [i for i, e in enumerate(embeddings) if e is not None]
    out: list[bytes | None] = [None] * len(embeddings)
    if not present:
        return out
    try:
        arr = np.asarray([embeddings[i] for i in present], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[1] == 0:
        return None
    as32 = arr.astype("<f4")
    if not (np.isfinite(arr).all() and np.isfinite(as32).all()):
        return None
    for i, row in zip(present, as32):
        out[i] = row.tobytes()
    return out


def keyword_row(doc: KeywordDoc | None, where: str) -> tuple[str, ...] | None:
    """Validate a keyword document and return its column values in :data:`KEYWORD_COLUMNS` order."""
    if doc is None:
        return None
    if isinstance(doc, str):
        doc = {"body": doc}
    if not isinstance(doc, Mapping):
        raise InvalidInputError(f"{where} must be a string, a mapping of keyword columns, or None")
    unknown = set(doc) - set(KEYWORD_COLUMNS)
    if unknown:
        raise InvalidInputError(f"{where} has unknown keyword columns {sorted(unknown)}; use {KEYWORD_COLUMNS}")
    values = tuple(doc.get(c) or "" for c in KEYWORD_COLUMNS)
    if not all(isinstance(v, str) for v in values):
        raise InvalidInputError(f"{where} columns must be strings")
    return values


def cube_row(cube: MemCube, embedding: Any, doc: KeywordDoc | None, i: int, *,
             checked: bool = False) -> dict[str, Any]:
    """Validate cube ``i`` of a write and build the values of its rows (no database access).

    Returns ``{"cube": column values, "history": rows, "vec": float32 bytes or None,
    "fields": metadata_fields rows, "dim": dimension or None, "text": keyword row or None}``.
    ``checked``: ``embedding`` is already float32 bytes from :func:`embedding_blobs`.
    """
    if not isinstance(cube, MemCube):
        raise InvalidInputError(f"write() takes MemCube objects, got {type(cube).__name__} at position {i}")
    if not isinstance(cube.id, str) or not cube.id or "\x00" in cube.id:
        raise InvalidInputError(f"cube id {cube.id!r} must be a non-empty string without NUL characters; "
                                "leave id unset to get a generated one")
    for label in cube.namespace:
        if not isinstance(label, str) or NS_SEP in label:
            raise InvalidNamespaceError(f"namespace label {label!r} of cube {cube.id} must be a string without "
                                        "the \\x1f separator; remove that character from the label")
    text = keyword_row(doc, f"keyword doc of cube {cube.id}")
    vec = embedding if checked or embedding is None else validate_embedding(embedding, f"embedding of cube {cube.id}")
    data = cube.to_dict(include_history=False)
    readers = cube.permissions.readers
    values = {
        "id": cube.id, "ns": ns_key(cube.namespace), "key": cube.key, "content": cube.content,
        "memory_type": cube.memory_type.value, "tier": cube.tier.value, "status": cube.status.value,
        "created_at": epoch(cube.created_at), "updated_at": epoch(cube.updated_at),
        "last_accessed_at": epoch(cube.last_accessed_at), "valid_from": epoch(cube.valid_from),
        "valid_to": epoch(cube.valid_to), "expires_at": epoch(cube.expires_at),
        "access_count": int(cube.access_count), "heat": float(cube.heat), "importance": float(cube.importance),
        "owner": cube.owner,
        "readers": dumps(list(readers), "permissions.readers of cube", cube.id) if readers else "[]",
        "metadata": dumps(cube.metadata, "metadata of cube", cube.id),
        "data": dumps(data, "cube", cube.id),
        # an archived cube stays out of the vector index: nothing is pending for it
        "indexed": 0 if vec is not None and cube.tier is not Tier.ARCHIVE else 1,
        "has_vector": 1 if vec is not None else 0,
        "thread": cube.thread_id if cube.position is not None else None,
        "position": cube.position if cube.thread_id is not None else None,
    }
    history = [(pos, h.version, dumps(h.to_dict(), "history of cube", cube.id))
               for pos, h in enumerate(cube.history)]
    check_text(values, text, cube.id)
    return {"cube": values, "history": history, "vec": vec, "fields": metadata_fields(cube.metadata),
            "dim": None if vec is None else len(vec) // 4, "text": text}


def check_text(values: dict[str, Any], text: tuple[str, ...] | None, cube_id: str) -> None:
    """Reject strings SQLite cannot store (unpaired surrogates) before the transaction starts."""
    strings = [value for value in (*values.values(), *(text or ())) if isinstance(value, str)]
    try:
        "".join(strings).encode("utf-8")  # one pass over every string (pairs never form across them)
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"cube {cube_id} contains text that is not valid Unicode ({exc}); "
                                "remove unpaired surrogate characters") from exc


__all__ = ["check_text", "cube_row", "embedding_blobs", "keyword_row", "metadata_fields", "validate_embedding"]
