"""I/O steps that read memories and keep their bookkeeping (access, heat, TTLs, audit, settings).

:class:`StateSteps` is the part of :class:`~.core.MemoryEngine` that the shells
(``MemOS``, ``MemLifecycle``, ``MemOSStore``, transfer, stats) use to read cubes and to
record what happened to them. They call these named steps, never the record store, so the
storage protocols (:mod:`langchain_memos.storage.base`) stay the engine's business: each
step says which protocol it uses.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> from langchain_memos.storage.base import CubeQuery
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = memos.add("a note", ("users", "ann"), key="k")
    ...     engine = memos.engine
    ...     [engine.count(CubeQuery(namespace_prefix=("users",))), engine.by_keys(("users", "ann"), ["k"])[0].id == ids[0]]
    [1, True]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from ..cube import MemCube
from ..storage.base import AuditRecord, CubeQuery, RecordStore, ScoredId, VectorIndex


class StateSteps:
    """Reads and bookkeeping over the record store and the vector index (mixed into ``MemoryEngine``)."""

    records: RecordStore
    vectors: VectorIndex

    # ------------------------------------------------------------- reads (CubeRecords)
    def cubes(self, query: CubeQuery, *, order_by: str = "updated_at DESC", limit: int | None = None,
              offset: int = 0, with_history: bool = True) -> list[MemCube]:
        """Cubes matching ``query``, newest change first by default (``with_history=False`` is faster)."""
        return self.records.query(query, limit=limit, offset=offset, order_by=order_by, with_history=with_history)

    def cube_ids(self, query: CubeQuery, *, order_by: str | None = "updated_at DESC",
                 limit: int | None = None) -> list[str]:
        """Ids of the cubes matching ``query`` without loading them (``order_by=None``: any order, cheapest)."""
        return self.records.query_ids(query, limit=limit, order_by=order_by)

    def count(self, query: CubeQuery) -> int:
        """How many cubes match ``query``."""
        return self.records.count(query)

    def load(self, ids: Sequence[str]) -> list[MemCube | None]:
        """The cubes with these ids, in order (``None`` where missing); no permission check, no access recorded."""
        return self.records.get(list(ids))

    def by_keys(self, namespace: Sequence[str], keys: Sequence[str]) -> list[MemCube | None]:
        """The live cubes stored under ``(namespace, key)`` for each key, in order (``None`` where missing)."""
        return self.records.get_by_keys(tuple(namespace), list(keys))

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces (sorted) under ``prefix`` that hold a live cube."""
        return self.records.namespaces(tuple(prefix))

    def distinct_metadata(self, query: CubeQuery, field: str, limit: int = 100) -> list[Any]:
        """Distinct scalar values of the metadata ``field`` among the cubes matching ``query``."""
        return self.records.distinct_metadata(query, field, limit)

    def keyword_search(self, terms: Sequence[str], query: CubeQuery, k: int) -> list[ScoredId]:
        """The ``k`` cubes matching ``query`` that best match ``terms`` by BM25 (KeywordIndex), best first."""
        return self.records.keyword_search(list(terms), query, k)

    # --------------------------------------------------- vectors (PendingVectors, VectorIndex)
    def stored_vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """The stored embedding of each id that has one."""
        return self.records.embeddings(list(ids))

    # ------------------------------------------------------------ access and heat (TierState)
    def touch(self, ids: Sequence[str], at: datetime) -> None:
        """Count one access for each id (repeat an id to count it more than once)."""
        if ids:
            self.records.touch(list(ids), at)

    def record_coaccess(self, groups: Sequence[Sequence[str]], at: datetime) -> None:
        """Record that the cubes of each group were retrieved together."""
        self.records.record_coaccess(groups, at)

    def coaccessed(self, ids: Sequence[str], limit: int = 20) -> list[ScoredId]:
        """Cubes most often retrieved together with ``ids``, strongest first."""
        return self.records.coaccessed(list(ids), limit=limit)

    def set_heat(self, heats: Mapping[str, float]) -> None:
        """Store each cube's heat."""
        if heats:
            self.records.set_heat(heats)

    def working_set(self, namespace_prefix: Sequence[str], thread: str | None = None) -> list[tuple[str, str, datetime]]:
        """``(thread, cube id, joined at)`` of the working-set members under a namespace, oldest join first."""
        return self.records.working_set(tuple(namespace_prefix), thread)

    # ---------------------------------------------------- TTLs, audit, settings
    def refresh_expiry(self, ids: Sequence[str], at: datetime) -> None:
        """Restart the sliding TTL of each id at ``at``."""
        if ids:
            self.records.refresh_expiry(list(ids), at)

    def audit(self, records: Iterable[AuditRecord]) -> None:
        """Append records to the audit log."""
        self.records.audit(records)

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records, optionally of one cube."""
        return self.records.audit_log(cube_id, limit)

    def setting(self, name: str) -> str | None:
        """A value kept beside the memories (e.g. a lifecycle pass's progress), or ``None``."""
        return self.records.get_meta(name)

    def set_setting(self, name: str, value: str) -> None:
        """Keep ``value`` under ``name`` beside the memories."""
        self.records.set_meta(name, value)

    def setup(self) -> None:
        """Create the record store's tables if needed (idempotent)."""
        self.records.setup()


__all__ = ["StateSteps"]
