"""One way to read a field from LangGraph state, run context or config, whatever their shape.

Example:
    >>> get_field({"user_id": "ann"}, "user_id"), get_field(None, "user_id")
    ('ann', None)
"""

from __future__ import annotations

from typing import Any, Mapping


def get_field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``getattr(obj, name, None)`` otherwise (``None`` when absent)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


__all__ = ["get_field"]
