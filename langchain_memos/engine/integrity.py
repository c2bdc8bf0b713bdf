"""The integrity check: the record store against the vector index (and each engine's own check hook).

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     _ = memos.add("a note", ("u",))
    ...     check(memos.engine, repair=True).ok
    True
"""

from __future__ import annotations

from ..cube import HOT_TIERS, Status, utcnow
from ..errors import EngineUnavailableError, StorageError, StoreLockedError
from ..storage.base import AuditRecord, CubeQuery
from .core import MemoryEngine
from .results import IntegrityReport


def check(engine: MemoryEngine, *, repair: bool = True) -> IntegrityReport:
    """Compare the record store and the vector index; re-index or drop what drifted (see ``MemOS.check``).

    An index that cannot be read (a crash mid-write can leave Chroma's segment so) counts as
    holding nothing; with ``repair`` it is reset and rebuilt from the embeddings in the record store.
    """
    records, vectors = engine.records, engine.vectors
    report = IntegrityReport()
    if repair:
        try:
            report.repaired += engine.index(wait=True) or 0  # embeddings a crash or another writer left waiting
        except StorageError as exc:
            if not _unreadable_index(exc):
                raise
            # an unreadable index is found and rebuilt below
    report.records = records.count(CubeQuery(statuses=frozenset(Status), include_expired=True))
    expected = records.query_ids(CubeQuery(tiers=frozenset(HOT_TIERS), statuses=frozenset(Status),
                                           include_expired=True), order_by=None)
    with_vectors = set(records.embeddings(sorted(expected)))
    indexed, report.index_error = _readable_ids(engine)
    if report.index_error is not None and repair:
        vectors.reset()
        records.mark_indexed(sorted(with_vectors), False)
        engine.index(wait=True)
        records.audit([AuditRecord(action="repair", cube_id=None, namespace=(), at=utcnow(),
                                   reason="vector index unreadable: rebuilt from the record store",
                                   detail={"error": report.index_error[:500], "vectors": len(with_vectors)})])
        report.repaired += 1
        indexed, still = _readable_ids(engine)
        if still is not None:
            raise StorageError(f"the rebuilt vector index cannot be read either ({still}); delete the index "
                               "folder (MemOS keeps every embedding in SQLite) and run MemOS.check() again")
    report.vectors = len(indexed)
    report.missing_vectors = sorted(with_vectors - indexed)
    report.orphan_vectors = sorted(indexed - with_vectors)
    problems = len(report.missing_vectors) + len(report.orphan_vectors)
    if repair and problems:
        if report.orphan_vectors:
            vectors.delete(report.orphan_vectors)
        if report.missing_vectors:
            records.mark_indexed(report.missing_vectors, False)
            engine.index(wait=True)
        records.audit([AuditRecord(action="repair", cube_id=None, namespace=(), at=utcnow(), reason="integrity check",
                                   detail={"missing_vectors": len(report.missing_vectors),
                                           "orphan_vectors": len(report.orphan_vectors)})])
        report.repaired += problems
    else:
        report.unrepaired = problems
    for hook in engine.check_hooks:  # engines with their own copies (e.g. graph tables)
        found, fixed = hook(repair)
        report.repaired += fixed
        report.unrepaired += max(found - fixed, 0)
    return report


def _readable_ids(engine: MemoryEngine) -> tuple[set[str], str | None]:
    """The index's ids and ``None``, or no ids and why the index cannot be read (a server that is
    down or a held lock is raised, not counted)."""
    try:
        return engine.vectors.ids(), None
    except StorageError as exc:
        if not _unreadable_index(exc):
            raise
        return set(), str(exc)


def _unreadable_index(exc: StorageError) -> bool:
    """Whether ``exc`` says the index itself cannot be read (rebuild it), not that its server is down
    or another process holds the lock (raise: a rebuild would not help)."""
    return not isinstance(exc, (EngineUnavailableError, StoreLockedError))


__all__ = ["check"]
