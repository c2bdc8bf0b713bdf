"""Pure steps of the write path: plan a write, list what to embed, check vectors, build keyword documents.

Nothing here reads or writes a store. The I/O steps of :class:`~.core.MemoryEngine`
read what a plan needs first (a thread's last position, its stored neighbours), then
call these functions, then write.

Example:
    >>> planned = plan_add("Alice prefers green tea", ("users", "alice"), {}, max_chars=10_000)
    >>> embed_texts(planned)
    ['Alice prefers green tea']
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..cube import MemCube, MemoryType
from ..errors import InvalidInputError
from ..ingest import PlannedCube, index_text_for, plan_items
from ..retrieval.indexing import date_text, thread_keyword_docs
from ..storage.base import KeywordDoc
from ..validation import validate_content, validate_embeddings, validate_json_value, validate_namespace

#: A thread of one namespace: ``(namespace, thread_id)``.
ThreadKey = tuple[tuple[str, ...], str]


def plan_add(items: Any, namespace: Sequence[str], options: dict[str, Any], *, max_chars: int) -> list[PlannedCube]:
    """Validate and plan the cubes ``MemOS.add`` writes (see :func:`~langchain_memos.ingest.plan_items`).

    Raises:
        InvalidInputError: A bad namespace, content or metadata.
    """
    namespace = validate_namespace(namespace)
    planned = plan_items(items, namespace, **options)
    for p in planned:
        validate_content(p.cube.content, max_chars=max_chars)
        validate_json_value(p.cube.metadata, what="metadata")
        validate_namespace(p.cube.namespace)
    return planned


def plan_restore(cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None]) -> list[PlannedCube]:
    """Plan cubes written exactly as given (``MemOS.restore``): a cube with an embedding is indexed
    (keyword and vector) by its stored text, one without is not indexed.

    Raises:
        InvalidInputError: The lengths differ.
    """
    if len(cubes) != len(embeddings):
        raise InvalidInputError(f"restore() needs one embedding (or None) per cube; got {len(cubes)} cubes and "
                                f"{len(embeddings)} embeddings")
    planned = []
    for cube, vector in zip(cubes, embeddings):
        text = index_text_for(cube) if vector is not None else None
        planned.append(PlannedCube(cube=cube, index_text=text, embed_text=text))
    return planned


def embed_texts(planned: Sequence[PlannedCube]) -> list[str]:
    """The texts to embed for ``planned``, in order (cubes with an ``embed_text``)."""
    return [p.embed_text for p in planned if p.embed_text is not None]


def extract_targets(items: Any, planned: Sequence[PlannedCube], extract: bool | None, *,
                    default: bool) -> list[MemCube]:
    """The just-planned cubes to extract into the graph: texts and messages by default
    (``default`` is ``MemOSConfig.extract`` with a graph), every cube with ``extract=True``."""
    if extract is False or (extract is None and not default):
        return []
    seq = items if isinstance(items, (list, tuple)) else [items]
    return [p.cube for item, p in zip(seq, planned) if p.cube.memory_type is not MemoryType.FACT
            and (extract or not isinstance(item, MemCube))]


def checked_vectors(new_vectors: Sequence[Sequence[float]], expected: int,
                    dim: int | None) -> Sequence[Sequence[float]]:
    """The embedder's vectors as float32 rows, checked (count, dimension, finite values).

    The whole batch is checked as one array (the embedders' lists of floats are converted
    once, and both engines take the float32 rows); anything unusual gets the detailed
    per-value checks of :func:`~langchain_memos.validation.validate_embeddings`.

    Raises:
        InvalidInputError: A wrong count, dimension or a non-finite value.
    """
    import numpy as np

    try:
        matrix = np.asarray(new_vectors, dtype=np.float64) if len(new_vectors) else None
    except (TypeError, ValueError):
        matrix = None
    as32 = matrix.astype(np.float32) if matrix is not None and matrix.ndim == 2 else None
    if (as32 is not None and len(as32) == expected and as32.shape[1] > 0
            and (dim is None or as32.shape[1] == dim) and np.isfinite(matrix).all() and np.isfinite(as32).all()):
        return list(as32)
    validate_embeddings(new_vectors, expected=expected, dim=dim)
    return new_vectors


def threads_of(planned: Sequence[PlannedCube]) -> dict[ThreadKey, list[int]]:
    """Indexes of the keyword-indexed planned cubes that belong to a thread, by thread."""
    threads: dict[ThreadKey, list[int]] = {}
    for i, p in enumerate(planned):
        if p.index_text is not None and p.cube.thread_id is not None:
            threads.setdefault((p.cube.namespace, p.cube.thread_id), []).append(i)
    return threads


def unplaced(planned: Sequence[PlannedCube], members: Sequence[int]) -> list[int]:
    """The members without a position, in the order they get one (``created_at``, then input order)."""
    return sorted((i for i in members if planned[i].cube.position is None),
                  key=lambda i: (planned[i].cube.created_at, i))


def place(planned: Sequence[PlannedCube], members: Sequence[int], last: int | None) -> None:
    """Give the members without a position the positions after ``last`` (the thread's last stored one)."""
    for offset, i in enumerate(unplaced(planned, members)):
        planned[i].cube.position = (-1 if last is None else last) + 1 + offset


def window(planned: Sequence[PlannedCube], members: Sequence[int], context: int) -> tuple[int, int]:
    """The range of stored positions ``[start, end)`` whose keyword documents involve the members."""
    positions = [planned[i].cube.position for i in members]
    lo, hi = min(positions), max(positions)  # type: ignore[type-var]
    return lo - 1 - context, hi + context + 1  # type: ignore[operator]


def keyword_docs(planned: Sequence[PlannedCube], stored: Mapping[ThreadKey, Sequence[MemCube]],
                 context: int) -> tuple[list[KeywordDoc | None], dict[str, KeywordDoc]]:
    """Keyword documents of the planned cubes, and refreshed ones for their stored thread neighbours.

    Threaded cubes (placed with :func:`place`) get a document with the text of their
    neighbours (see :mod:`langchain_memos.retrieval.indexing`); ``stored`` holds each
    thread's stored cubes in its :func:`window`.
    """
    docs: list[KeywordDoc | None] = [None] * len(planned)
    updates: dict[str, KeywordDoc] = {}
    for i, p in enumerate(planned):
        if p.index_text is not None and p.cube.thread_id is None:
            docs[i] = {"body": p.index_text, "date": date_text(p.cube.created_at)}
    planned_ids = {p.cube.id for p in planned}
    for key, members in threads_of(planned).items():
        positions = [planned[i].cube.position for i in members]
        lo, hi = min(positions), max(positions)  # type: ignore[type-var]
        units = stored.get(key, ())
        known = {c.position: (c.id, index_text_for(c), c.created_at) for c in units if c.id not in planned_ids}
        known.update({planned[i].cube.position: (planned[i].cube.id, planned[i].index_text,
                                                 planned[i].cube.created_at) for i in members})
        neighbours = {c.id for c in units if c.id not in planned_ids
                      and lo - 1 <= c.position <= hi + context}  # type: ignore[operator]
        built = thread_keyword_docs([known[pos] for pos in sorted(known)],
                                    neighbours | {planned[i].cube.id for i in members}, context_turns=context)
        for i in members:
            docs[i] = built[planned[i].cube.id]
        updates.update({cube_id: built[cube_id] for cube_id in neighbours})
    return docs, updates


__all__ = [
    "ThreadKey", "checked_vectors", "embed_texts", "extract_targets", "keyword_docs", "place", "plan_add",
    "plan_restore", "threads_of", "unplaced", "window"
]
