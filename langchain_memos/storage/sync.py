"""Keeping the vector index in step with the record store (write-behind indexing).

The record store is the source of truth: a write commits the cube *and* its
embedding there, flagged un-indexed. :func:`index_pending` then moves waiting
embeddings into the vector index under the index's writer lock: it reads them
from the record store, upserts them, then clears their flag only where the record
still holds what was indexed (:meth:`~langchain_memos.storage.base.RecordStore.confirm_indexed`),
so a crash or a concurrent rewrite leaves them waiting, never stale. Whoever holds the lock indexes everyone's waiting rows, so with
several writer threads or processes, a writer that finds the index busy just
returns (``wait=False``): its rows are indexed by the current holder or the next
writer, and until then searches score them exactly from the record store
(``MemOS`` merges :meth:`~langchain_memos.storage.base.RecordStore.unindexed_ids`
into its vector candidates), so reads still see every acknowledged write.

Example:
    >>> from langchain_memos.cube import MemCube
    >>> from langchain_memos.storage.chroma import ChromaVectorIndex
    >>> from langchain_memos.storage.sqlite import SQLiteRecordStore
    >>> records, vectors = SQLiteRecordStore(None), ChromaVectorIndex.ephemeral()
    >>> cube = MemCube(content="tea", namespace=("u",))
    >>> records.write([cube], [[1.0, 0.0]], [None])
    []
    >>> index_pending(records, vectors, wait=False), records.unindexed_ids(), vectors.ids() == {cube.id}
    (1, [], True)
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

from ..cube import Tier
from .base import RecordStore, RidSearch, VectorIndex

#: Embeddings taken per round (one read, one upsert, one confirming write).
CLAIM_BATCH = 2000


def _writer(vectors: VectorIndex, wait: bool) -> ContextManager[bool]:
    hold = getattr(vectors, "writer", None)
    return hold(wait=wait) if hold is not None else contextlib.nullcontext(True)


def index_pending(records: RecordStore, vectors: VectorIndex, *, wait: bool, batch: int = CLAIM_BATCH) -> int | None:
    """Index every embedding waiting in the record store.

    Args:
        records: The source of truth.
        vectors: The index to fill.
        wait: Wait for the index's writer lock (``True``) or return ``None`` at once when
            another thread or process holds it (``False``; that holder indexes the rows).
        batch: Embeddings per round.

    Returns:
        How many embeddings were indexed, or ``None`` when the index was busy.

    Raises:
        StorageError: The vector index failed; the rows stay waiting, so a later call or
            ``MemOS.check()`` indexes them.
    """
    with _writer(vectors, wait) as held:
        if not held:
            return None
        total = 0
        while True:
            waiting = records.unindexed_embeddings(batch)
            hot = [w for w in waiting if w.tier is not Tier.ARCHIVE and w.embedding is not None]
            if hot and isinstance(vectors, RidSearch):  # it keeps each vector's rid (searches among a filter's)
                vectors.upsert([w.id for w in hot], [w.embedding for w in hot], rids=[w.rid for w in hot])
            elif hot:
                vectors.upsert([w.id for w in hot], [w.embedding for w in hot])
            total += len(hot)
            # confirmed only after the index has them: a crash in between leaves them waiting
            if not records.confirm_indexed(waiting) or len(waiting) < batch:
                return total


def learn_rids(records: RecordStore, vectors: VectorIndex, *, batch: int = 50_000) -> int:
    """Teach an index that keeps rids (:class:`~.base.RidSearch`) but was written before it did the rid of each
    vector it holds, from the record store (``vector_rids``), so its searches among a filter's rids answer;
    return how many it took (0 where there is nothing to learn)."""
    learn = getattr(vectors, "learn_rids", None)
    listed = getattr(records, "vector_rids", None)
    if learn is None or listed is None or not isinstance(vectors, RidSearch) or vectors.knows_rids():
        return 0
    taken, after = 0, -1
    while not vectors.knows_rids():
        rows = listed(after, batch)
        if not rows:
            break
        taken += learn([r[0] for r in rows], [r[1] for r in rows])
        after = rows[-1][1]
    return taken


__all__ = ["CLAIM_BATCH", "index_pending", "learn_rids"]
