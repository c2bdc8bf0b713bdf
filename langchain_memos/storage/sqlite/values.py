"""How values reach SQLite and come back: epoch seconds, strict JSON, JSON lists (pure, no I/O).

Example:
    >>> from datetime import datetime, timezone
    >>> epoch(datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc))
    60.0
    >>> from_epoch(60.0).isoformat()
    '1970-01-01T00:01:00+00:00'
    >>> json_list(["a", 1])
    '["a", 1]'
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

from ...cube import to_utc
from ...errors import InvalidInputError


def epoch(value: datetime | None) -> float | None:
    """Epoch seconds of a datetime (naive = UTC), or ``None``."""
    return None if value is None else to_utc(value).timestamp()  # type: ignore[union-attr]


def from_epoch(value: float | None) -> datetime | None:
    """The UTC datetime of epoch seconds, or ``None`` (the inverse of :func:`epoch`)."""
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


#: The strict JSON encoder of stored values (one instance: ``json.dumps`` with options builds one per call).
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True)


def dumps(value: Any, what: str, cube_id: str | None = None) -> str:
    """JSON-encode ``value`` strictly (no NaN/Infinity, no non-JSON types).

    Args:
        value: The value to store.
        what: Names the value in the error (``cube_id`` is appended, when given).
        cube_id: The cube the value belongs to, if any.

    Raises:
        InvalidInputError: The value is not plain JSON.
    """
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        where = what if cube_id is None else f"{what} {cube_id}"
        raise InvalidInputError(f"{where} cannot be stored as JSON ({exc}); use only JSON values "
                                "(str, finite numbers, bool, None, lists, dicts with string keys)") from exc


def json_list(items: Iterable[Any]) -> str:
    """A JSON array for ``json_each(?)`` (how lists of any size reach SQL as one parameter); enums by value."""
    return json.dumps([item.value if hasattr(item, "value") else item for item in items], ensure_ascii=False)


__all__ = ["dumps", "epoch", "from_epoch", "json_list"]
