"""The metadata filter language shared by the MemOS API and the LangGraph store.

A filter is a mapping from a field path to either a plain value (equality) or a
mapping of operators to values::

    {"kind": "note", "score": {"$gte": 3, "$lt": 9}, "user.city": {"$ne": "Oslo"}}

Paths use dots to reach into nested objects. Numbers compare as numbers. This
module only validates and normalises; engines compile :class:`Condition` lists
into their own query language, and :func:`matches` evaluates them in Python.

Example:
    >>> from langchain_memos.filters import parse_filter, matches
    >>> conds = parse_filter({"score": {"$gt": 2}})
    >>> matches({"score": 3}, conds), matches({"score": 1}, conds)
    (True, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import InvalidInputError, UnknownFilterOperatorError

#: Operators a filter may use.
OPERATORS: tuple[str, ...] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Condition:
    """One normalised filter condition: ``path op value``.

    Attributes:
        path: Keys from the root of the metadata object to the compared field.
        op: One of :data:`OPERATORS`.
        value: A JSON scalar, or a tuple of scalars for ``$in``/``$nin``.
    """

    path: tuple[str, ...]
    op: str
    value: Any


def _check_scalar(value: Any, where: str) -> None:
    if not isinstance(value, _SCALARS):
        raise InvalidInputError(
            f"filter value for {where!r} must be a JSON scalar (str, number, bool or None), "
            f"got {type(value).__name__}; compare nested objects through a dotted path instead"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"filter value for {where!r} is {value}; use a finite number")


def parse_filter(filter: Mapping[str, Any] | None) -> list[Condition]:
    """Validate a filter and return its conditions (an empty list for ``None``).

    Raises:
        UnknownFilterOperatorError: An operator is not in :data:`OPERATORS`.
        InvalidInputError: A path is empty or a value is not a JSON scalar.
    """
    if not filter:
        return []
    if not isinstance(filter, Mapping):
        raise InvalidInputError(f"filter must be a dict of field -> value, got {type(filter).__name__}")
    conditions: list[Condition] = []
    for raw_path, spec in filter.items():
        if not isinstance(raw_path, str) or not raw_path or any(not part for part in raw_path.split(".")):
            raise InvalidInputError(f"filter field {raw_path!r} must be a non-empty dotted path like 'a.b'")
        path = tuple(raw_path.split("."))
        if isinstance(spec, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in spec):
            for op, value in spec.items():
                if op not in OPERATORS:
                    raise UnknownFilterOperatorError(
                        f"unknown filter operator {op!r} on field {raw_path!r}; use one of {', '.join(OPERATORS)}"
                    )
                if op in ("$in", "$nin"):
                    if not isinstance(value, (list, tuple, set, frozenset)):
                        raise InvalidInputError(f"{op} on {raw_path!r} takes a list of values")
                    for item in value:
                        _check_scalar(item, raw_path)
                    conditions.append(Condition(path, op, tuple(value)))
                else:
                    _check_scalar(value, raw_path)
                    conditions.append(Condition(path, op, value))
        else:
            _check_scalar(spec, raw_path)
            conditions.append(Condition(path, "$eq", spec))
    return conditions


_MISSING = object()


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "$eq":
        return actual == expected and isinstance(actual, bool) == isinstance(expected, bool)
    if op == "$ne":
        return not _compare(actual, "$eq", expected)
    if op == "$in":
        return any(_compare(actual, "$eq", e) for e in expected)
    if op == "$nin":
        return not any(_compare(actual, "$eq", e) for e in expected)
    comparable = (_is_number(actual) and _is_number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )
    if not comparable:
        return False
    if op == "$gt":
        return actual > expected
    if op == "$gte":
        return actual >= expected
    if op == "$lt":
        return actual < expected
    return actual <= expected  # $lte


def matches(data: Mapping[str, Any], conditions: list[Condition]) -> bool:
    """Whether ``data`` satisfies every condition.

    A missing field fails every operator except ``$ne`` and ``$nin``. Ordered
    operators compare numbers with numbers and strings with strings only.
    """
    for cond in conditions:
        actual = _lookup(data, cond.path)
        if actual is _MISSING:
            if cond.op in ("$ne", "$nin"):
                continue
            return False
        if not _compare(actual, cond.op, cond.value):
            return False
    return True
