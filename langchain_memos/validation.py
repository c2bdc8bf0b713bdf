"""Input validation shared by the MemOS facade and the LangGraph store.

Every check raises a typed error from :mod:`langchain_memos.errors` whose message
says what to change. Nothing here touches storage.

Example:
    >>> from langchain_memos.validation import validate_namespace
    >>> validate_namespace(("users", "alice"))
    ('users', 'alice')
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Iterable, Sequence, TypeVar

E = TypeVar("E", bound=Enum)

from .errors import ContentTooLargeError, InvalidInputError, InvalidNamespaceError, NonJSONValueError
from .storage.base import NS_SEP


def validate_namespace(namespace: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    """Return ``namespace`` as a tuple after checking every label.

    Raises:
        InvalidNamespaceError: Not a tuple/list of strings, empty (unless
            ``allow_empty``), an empty label, or a label containing ``.`` or a
            control character.
    """
    if isinstance(namespace, str) or not isinstance(namespace, (tuple, list)):
        raise InvalidNamespaceError(
            f"namespace must be a tuple of strings such as ('users', 'alice'), got {namespace!r}"
        )
    namespace = tuple(namespace)
    if not namespace and not allow_empty:
        raise InvalidNamespaceError("namespace is empty; pass at least one label, e.g. ('users', 'alice')")
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"namespace label {label!r} is a {type(label).__name__}; labels must be strings"
            )
        if not label:
            raise InvalidNamespaceError(f"namespace {namespace!r} has an empty label; remove it or name it")
        if "." in label:
            raise InvalidNamespaceError(
                f"namespace label {label!r} contains '.'; split it into separate labels, "
                f"e.g. {tuple(label.split('.'))!r}"
            )
        if NS_SEP in label or any(ord(ch) < 32 for ch in label):
            raise InvalidNamespaceError(f"namespace label {label!r} contains a control character; remove it")
    return namespace


def _find_non_json(value: Any, path: str) -> str | None:
    """Return a description of the first non-JSON part of ``value`` (``None`` if all JSON)."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value} (NaN/Infinity are not JSON)"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _find_non_json(item, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                return f"{path} has a non-string key {k!r}"
            found = _find_non_json(item, f"{path}.{k}")
            if found:
                return found
        return None
    return f"{path} is a {type(value).__name__}"


def validate_json_value(value: Any, *, what: str = "value") -> Any:
    """Check that ``value`` is plain JSON (dicts with string keys, lists, scalars, finite floats).

    Raises:
        NonJSONValueError: Names the first offending path and how to fix it.
    """
    try:
        problem = _find_non_json(value, what)
    except RecursionError:
        problem = f"{what} is nested too deeply"
    if problem:
        raise NonJSONValueError(
            f"{problem}; store only JSON-serialisable data (convert objects to dicts, "
            "datetimes to ISO strings, and replace NaN/Infinity)"
        )
    return value


def validate_content(content: Any, *, max_chars: int) -> str:
    """Check that ``content`` is a string no longer than ``max_chars`` characters.

    Raises:
        InvalidInputError: ``content`` is not a string.
        ContentTooLargeError: It is longer than ``max_chars``.
    """
    if not isinstance(content, str):
        raise InvalidInputError(f"content must be a string, got {type(content).__name__}")
    if len(content) > max_chars:
        raise ContentTooLargeError(
            f"content has {len(content):,} characters, over the limit of {max_chars:,}; split it into "
            "several memories or raise MemOSConfig.max_content_chars"
        )
    return content


def validate_embeddings(vectors: Sequence[Sequence[float]], *, expected: int, dim: int | None) -> int:
    """Check a batch of embeddings: count, one dimension, finite values. Return the dimension.

    Raises:
        InvalidInputError: Wrong count, NaN/Infinity, or mixed dimensions in the batch.
        EmbeddingDimensionError: The batch's dimension differs from ``dim``.
    """
    from .errors import EmbeddingDimensionError

    if len(vectors) != expected:
        raise InvalidInputError(
            f"the embedder returned {len(vectors)} vectors for {expected} texts; check its embed_documents"
        )
    dims = {len(v) for v in vectors}
    if len(dims) > 1:
        raise InvalidInputError(f"the embedder returned vectors of mixed dimensions {sorted(dims)}")
    batch_dim = dims.pop() if dims else (dim or 0)
    if dim is not None and vectors and batch_dim != dim:
        raise EmbeddingDimensionError(
            f"embeddings have {batch_dim} dimensions but this store holds {dim}-dimensional vectors; "
            "use the same embedding model as when the store was created, or open a new directory"
        )
    for v in vectors:
        if not all(math.isfinite(x) for x in v):
            raise InvalidInputError("the embedder returned NaN or Infinity; check the model and its input")
    return batch_dim


#: The longest TTL accepted: 1,000 years (a longer one would overflow a datetime; use ``None`` for no expiry).
MAX_TTL_MINUTES = 1000 * 365.25 * 24 * 60


def validate_ttl_minutes(ttl: Any, *, what: str = "ttl_minutes") -> float | None:
    """``ttl`` as float minutes (``None`` stays ``None``: no expiry).

    Raises:
        InvalidInputError: Not a positive finite number of at most :data:`MAX_TTL_MINUTES`.

    Example:
        >>> validate_ttl_minutes(90)
        90.0
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise InvalidInputError(f"{what} must be a positive finite number of minutes or None, got {ttl!r}")
    if ttl > MAX_TTL_MINUTES:
        raise InvalidInputError(f"{what} {ttl!r} is over {MAX_TTL_MINUTES:,.0f} minutes (1,000 years); "
                                "pass None for a memory that never expires")
    return float(ttl)


def validate_enum(kind: type[E], value: Any, *, what: str) -> E:
    """``value`` as a member of the enum ``kind`` (a member or its string value).

    Raises:
        InvalidInputError: Naming the accepted values.

    Example:
        >>> from langchain_memos.cube import Tier
        >>> validate_enum(Tier, "long_term", what="tier")
        <Tier.LONG_TERM: 'long_term'>
    """
    try:
        return kind(value)
    except (TypeError, ValueError):
        allowed = ", ".join(repr(m.value) for m in kind)
        raise InvalidInputError(f"{what} {value!r} is not one of {allowed}") from None


def validate_enums(kind: type[E], values: Iterable[Any], *, what: str) -> frozenset[E]:
    """A collection of enum values as a frozenset of members (see :func:`validate_enum`).

    Raises:
        InvalidInputError: ``values`` is a single string or not iterable, or holds an unknown value.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInputError(f"{what} must be a list of values such as {[m.value for m in kind][:2]}, "
                                f"got {values!r}")
    return frozenset(validate_enum(kind, v, what=what) for v in values)
