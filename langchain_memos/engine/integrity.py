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
from ..storage.base import AuditRecord, CubeQuery
from .core import MemoryEngine
from .results import IntegrityReport


def check(engine: MemoryEngine, *, repair: bool = True) -> IntegrityReport:
    """Compare the record store and the vector index; re-index or drop what drifted (see ``MemOS.check``)."""
    records, vectors = engine.records, engine.vectors
    report = IntegrityReport()
    if repair:
        report.repaired += engine.index(wait=True) or 0  # embeddings a crash or another writer left waiting
    report.records = records.count(CubeQuery(statuses=frozenset(Status), include_expired=True))
    indexed = vectors.ids()
    report.vectors = len(indexed)
    expected = records.query_ids(CubeQuery(tiers=frozenset(HOT_TIERS), statuses=frozenset(Status),
                                           include_expired=True), order_by=None)
    with_vectors = set(records.embeddings(sorted(expected)))
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


__all__ = ["check"]
