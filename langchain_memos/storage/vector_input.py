"""Checks every vector index applies to what it is given: finite numbers, one dimension.

Example:
    >>> as_matrix([[1, 0], [0, 1]], ["a", "b"]).shape
    (2, 2)
    >>> as_floats([1, 2], "query embedding")
    [1.0, 2.0]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..errors import EmbeddingDimensionError, InvalidInputError


def as_matrix(embeddings: Sequence[Sequence[float]], ids: Sequence[str]) -> Any:
    """The embeddings as one float32 ``(n, dim)`` numpy array, checked in one pass (no per-float Python).

    Anything else (non-numeric, NaN/inf, empty or ragged rows) is checked row by row
    with :func:`as_floats`, which names the offending id; ragged rows come back as
    a list of lists, so that the index reports the dimension clash.

    Raises:
        InvalidInputError: A row is empty, not numeric, or has NaN/inf.
    """
    import numpy as np

    try:
        arr = np.asarray(embeddings, dtype=np.float32)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.ndim == 2 and arr.shape[1] > 0 and np.isfinite(arr).all():
        return arr
    rows = [as_floats(e, f"embedding of {i}") for i, e in zip(ids, embeddings)]
    if len({len(r) for r in rows}) > 1:
        return rows
    arr = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInputError("an embedding has values beyond the float32 range; check the embedding model's output")
    return arr


def upsert_rows(ids: Sequence[str], embeddings: Sequence[Sequence[float]]) -> Any:
    """The embeddings of an upsert as :func:`as_matrix` gives them, or ``None`` when there are none.

    Raises:
        InvalidInputError: Not one embedding per id, or a row :func:`as_matrix` refuses.
    """
    if len(ids) != len(embeddings):
        raise InvalidInputError(f"upsert() needs one embedding per id; got {len(ids)} ids, "
                                f"{len(embeddings)} embeddings")
    return as_matrix(embeddings, ids) if len(ids) else None


def as_floats(vec: Sequence[float], where: str) -> list[float]:
    """``vec`` as a list of finite floats.

    Raises:
        InvalidInputError: ``vec`` is empty, not numeric, or has NaN/inf (``where`` names it).
    """
    try:
        values = [float(x) for x in vec]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where} must be a sequence of numbers ({exc})") from exc
    if not values:
        raise InvalidInputError(f"{where} is empty; pass the embedding model's output")
    if not all(math.isfinite(x) for x in values):
        raise InvalidInputError(f"{where} contains NaN or infinite values; check the embedding model's output")
    return values


def dimension_error(held: int, got: int) -> EmbeddingDimensionError:
    """The error for a vector of ``got`` dimensions given to an index of ``held``-dimensional ones."""
    return EmbeddingDimensionError(
        f"the vector index holds {held}-dimensional embeddings but got {got}-dimensional ones; use the "
        "embedding model the index was built with, or rebuild the index for the new model")


__all__ = ["as_floats", "as_matrix", "dimension_error", "upsert_rows"]
