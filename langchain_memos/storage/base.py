"""The small protocols every storage engine implements.

Two roles:

* :class:`RecordStore` is the source of truth: cubes, their version history,
  their embeddings (so every index can be rebuilt), a keyword (BM25) index, an
  audit log, and structural queries. It is the composition of small protocols,
  one per job:

  * :class:`CubeRecords`: cubes and version history (write, read, query, delete, erase);
  * :class:`KeywordIndex`: BM25 search over the keyword documents written with the cubes;
  * :class:`ThreadLinks`: thread positions (next unit, units of a span, last position);
  * :class:`PendingVectors`: stored embeddings and the vector-index outbox flags;
  * :class:`TierState`: tier moves, working sets, heat, access counters, co-access;
  * :class:`ExpiryState`: sliding TTLs and expired ids;
  * :class:`AuditLog`: the append-only audit log;
  * :class:`StoreAdmin`: setup, close, store settings, the in-process write lock.

  The embedded default is SQLite (:mod:`langchain_memos.storage.sqlite`, one module per protocol).
* :class:`VectorIndex` is a derived nearest-neighbour index over the embeddings.
  The embedded default is a Chroma ``PersistentClient``; ``chromadb.HttpClient``
  scales it out. A vector index may lose data (a crash between the record
  write and the index write); :meth:`PendingVectors.unindexed_ids` and
  ``MemOS.check()`` repair that from the record store.

One conformance suite (``tests/test_engines.py``) runs over every engine, with
cases for each small protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import (Any, Container, ContextManager, Iterable, Mapping, NamedTuple, Protocol, Sequence, Union,
                    runtime_checkable)

from ..cube import CubeView, MemCube, MemoryType, Status, Tier
from ..filters import Condition

#: The separator used to join namespace labels into one string. Labels may not contain it.
NS_SEP = "\x1f"


#: Columns of a keyword document, in the order their BM25 weights are given:
#: the unit's own text, the units before it in its thread, the unit after it, and its day.
KEYWORD_COLUMNS: tuple[str, ...] = ("body", "context", "next", "date")

#: What the keyword index holds for one cube: a column -> text mapping over
#: :data:`KEYWORD_COLUMNS` (missing columns are empty), or a plain string (the body).
KeywordDoc = Union[Mapping[str, str], str]


def ns_key(namespace: Sequence[str]) -> str:
    """Join a namespace tuple into the string engines index (``NS_SEP``-joined)."""
    return NS_SEP.join(namespace)


def ns_from_key(key: str) -> tuple[str, ...]:
    """Inverse of :func:`ns_key`."""
    return tuple(key.split(NS_SEP)) if key else ()


#: Cube fields a :class:`CubeQuery` can filter on with ``cube_conditions``.
CUBE_FILTER_FIELDS: frozenset[str] = frozenset({
    "memory_type", "tier", "status", "heat", "importance", "access_count", "owner", "key", "created_at",
    "updated_at", "last_accessed_at", "valid_from", "valid_to", "expires_at",
})


@dataclass(frozen=True)
class CubeQuery:
    """A structural query over cubes: every field narrows the result.

    Attributes:
        namespace_prefix: Cubes whose namespace starts with these labels (``()`` = all).
        exact_namespace: When true, the namespace must equal ``namespace_prefix``.
        ids: Restrict to these ids (``None`` = no restriction).
        tiers: Allowed tiers (``None`` = all tiers).
        types: Allowed memory types (``None`` = all).
        statuses: Allowed statuses (``None`` = all but ``EXPIRED``).
        created_after / created_before: Half-open window on ``created_at``
            (``created_after <= created_at < created_before``).
        valid_at: Only facts valid at this instant (``valid_from <= t < valid_to``).
        conditions: Metadata conditions (see :mod:`langchain_memos.filters`),
            evaluated on ``MemCube.metadata``.
        cube_conditions: Conditions on cube fields themselves; paths are one of
            :data:`CUBE_FILTER_FIELDS` (e.g. ``Condition(("heat",), "$gt", 1.0)``).
        reader: Only cubes this user may read (``None`` = no check).
        include_expired: Include cubes whose ``expires_at`` has passed (cubes with
            status ``EXPIRED`` are selected through ``statuses``, not this flag).
        now: The instant used for expiry (``None`` = the engine's clock).
    """

    namespace_prefix: tuple[str, ...] = ()
    exact_namespace: bool = False
    ids: frozenset[str] | None = None
    tiers: frozenset[Tier] | None = None
    types: frozenset[MemoryType] | None = None
    statuses: frozenset[Status] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    valid_at: datetime | None = None
    conditions: tuple[Condition, ...] = ()
    cube_conditions: tuple[Condition, ...] = ()
    reader: str | None = None
    include_expired: bool = False
    now: datetime | None = None


@dataclass(frozen=True)
class ScoredId:
    """An id with an engine score where larger is better."""

    id: str
    score: float


class WaitingVector(NamedTuple):
    """A cube waiting for the vector index (:meth:`PendingVectors.unindexed_embeddings`).

    Attributes:
        id: The cube's id.
        namespace: Its namespace.
        tier: Its tier (archived cubes are listed too, and left out of the index).
        embedding: Its float32 embedding (``None``: none is stored).
        rid: The record store's row id of the cube (``None`` where the store has none): an index that
            keeps it (:class:`RidSearch`) can then search among a filter's rids.
    """

    id: str
    namespace: tuple[str, ...]
    tier: Tier
    embedding: Any | None
    rid: int | None = None


@dataclass
class AuditRecord:
    """One entry of the audit log (deletes, expiries, repairs...)."""

    action: str
    cube_id: str | None
    namespace: tuple[str, ...]
    at: datetime
    actor: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TierMove:
    """One tier change for :meth:`RecordStore.move_tiers` (the scheduler's bulk move).

    Attributes:
        id: The cube.
        tier: The tier it moves to.
        status: Its new status; ``None`` derives it (``ARCHIVE`` -> ``archived``,
            ``WORKING``/``ACTIVATION`` -> ``activated``, back from those -> ``generated``;
            a ``fused`` or ``expired`` status is kept).
        expected_version: Move only if the stored cube still has this version
            (``None``: any version), so a move planned from a stale read never
            overrides a concurrent update.
        expected_tier: Move only if the cube is still in this tier (``None``: any), so a
            move planned from a stale read never undoes a concurrent move.
        thread: The working set the move joins (``tier`` = ``WORKING``) or leaves
            (any other tier). Working sets are per ``(cube namespace, thread)``; a cube
            leaving one thread's working set stays in ``WORKING`` while another thread
            still holds it. ``None`` with a non-working ``tier`` leaves every working set.
        reason: Why, for the audit log.
        detail: Extra JSON-safe facts for the audit record (heat, capacity...).
    """

    id: str
    tier: Tier
    status: Status | None = None
    expected_version: int | None = None
    expected_tier: Tier | None = None
    thread: str | None = None
    reason: str = "move"
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class CubeRecords(Protocol):
    """Cubes and their version history: the rows every other part of a record store hangs off.

    ``write`` also stores each cube's embedding (see :class:`PendingVectors`) and keyword
    document (see :class:`KeywordIndex`) in the same transaction; ``delete`` audits, ``erase``
    scrubs the audit log (see :class:`AuditLog`).
    """

    def write(self, cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None],
              keyword_docs: Sequence[KeywordDoc | None], *,
              keyword_updates: Mapping[str, KeywordDoc] | None = None) -> list[str]:
        """Insert or replace ``cubes`` (matched by id) with embeddings and keyword documents, atomically.

        The cube's ``history`` list is stored as given. ``(namespace, key)`` must
        stay unique: writing a cube whose ``(namespace, key)`` belongs to another
        id replaces that other cube (its id is returned so the caller can drop
        its vector). ``keyword_docs[i]`` is what the keyword (BM25) index holds for
        cube ``i`` (``None``: not keyword-indexed). ``keyword_updates`` replaces the
        keyword documents of other, already stored cubes in the same transaction
        (their thread neighbours changed). A ``None`` embedding means "not
        vector-indexed" (e.g. LangGraph ``index=False``). Cubes written with an
        embedding are marked un-indexed until :meth:`mark_indexed`. Either
        everything of the call is written or nothing.

        Returns:
            Ids of other cubes that were replaced because of a ``(namespace, key)`` clash.
        """

    def get(self, ids: Sequence[str]) -> list[MemCube | None]:
        """Cubes by id, in input order (``None`` where missing), with history."""

    def get_by_keys(self, namespace: Sequence[str], keys: Sequence[str]) -> list[MemCube | None]:
        """Cubes by ``(namespace, key)``, in input order."""

    def query(self, query: CubeQuery, *, limit: int | None = None, offset: int = 0,
              order_by: str = "updated_at DESC", with_history: bool = True) -> list[MemCube]:
        """Cubes matching ``query``; ``order_by`` is one of a fixed set of orderings.

        ``with_history=False`` skips loading version history (faster; ``history`` is empty).
        """

    def candidates(self, query: CubeQuery) -> list[CubeView]:
        """Views of the cubes matching ``query`` (newest change first) for ranking: what scoring and
        rendering read of each (:class:`~langchain_memos.cube.CubeView`, equal to ``cube.view()``), at a
        fraction of the cost of whole cubes; :meth:`get` and :meth:`query` give the cubes themselves.

        An engine may hand out the same views to several calls (a cache), so callers must not change them.
        """

    def query_ids(self, query: CubeQuery, *, limit: int | None = None, offset: int = 0,
                  order_by: str | None = "updated_at DESC") -> list[str]:
        """Ids of the cubes matching ``query``, without loading the cubes.

        ``order_by`` is one of the orderings :meth:`query` accepts, or ``None`` for
        any order (cheapest: with a ``limit`` the engine may stop early).
        """

    def count(self, query: CubeQuery) -> int:
        """How many cubes match ``query``."""

    def match_bound(self, query: CubeQuery, cap: int) -> tuple[int, int]:
        """``(at_most, total)``: an upper bound on :meth:`count` of ``query`` and one on all cubes stored.

        Cheap by contract: it reads index ranges only, each read stops after ``cap + 1``
        entries (a range longer than ``cap`` bounds nothing), so its cost does not grow
        with the store. ``at_most`` may be loose, never low.
        """

    def kept_matches(self, query: CubeQuery) -> Container[str] | None:
        """The ids of every cube matching ``query`` if the engine keeps them between calls (a search that
        checks many ids against a query tests them here instead of asking :meth:`query_ids`), else ``None``.

        An engine may keep them for queries asked again while nothing changed; ``None`` is always a valid
        answer. What it returns must be exactly what :meth:`query_ids` would give now.
        """

    def distinct_metadata(self, query: CubeQuery, field: str, limit: int = 100) -> list[Any]:
        """Distinct scalar values of the top-level metadata ``field`` among matching cubes."""

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces (sorted) that start with ``prefix`` and hold a cube that has not expired."""

    def delete(self, ids: Sequence[str], *, reason: str, actor: str | None = None) -> list[str]:
        """Delete cubes (records, embeddings, keyword rows) and audit each; return ids deleted."""

    def erase(self, ids: Sequence[str], *, namespaces: Sequence[Sequence[str]] = (),
              actors: Sequence[str] = ()) -> list[str]:
        """Delete cubes keeping no copy (no audit content; audit rows under ``namespaces`` scrubbed,
        ``actors`` names removed from the audit log); return the ids erased."""


@runtime_checkable
class KeywordIndex(Protocol):
    """The keyword (BM25) index over the keyword documents given to :meth:`CubeRecords.write`."""

    def keyword_search(self, terms: Sequence[str], query: CubeQuery, k: int, *,
                       column_weights: Sequence[float] | None = None) -> list[ScoredId]:
        """BM25 search for any of ``terms`` (OR), best first; scores are larger-is-better.

        ``terms`` are plain words (the engine quotes them; operators in them are
        inert). ``column_weights`` weighs :data:`KEYWORD_COLUMNS` in that order.
        """


@runtime_checkable
class ThreadLinks(Protocol):
    """Positions of cubes in their conversation thread (what keyword documents' context columns come from)."""

    def next_in_thread(self, ids: Sequence[str]) -> dict[str, str]:
        """For each id with a thread and position, the id of the next cube of its thread."""

    def thread_units(self, namespace: Sequence[str], thread: str, lo: int, hi: int) -> list[MemCube]:
        """Cubes of one thread with ``lo <= position <= hi``, by position (without history)."""

    def thread_max_position(self, namespace: Sequence[str], thread: str) -> int | None:
        """The largest position used in a thread, or ``None`` for a new thread."""


@runtime_checkable
class PendingVectors(Protocol):
    """Stored embeddings and which of them still wait for the vector index (the outbox of a :class:`VectorIndex`)."""

    def embeddings(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """Stored embeddings of these ids, e.g. float32 arrays (absent ids are missing from the result)."""

    def embedding_matrix(self, query: CubeQuery, limit: int | None = None) -> tuple[list[str], Any]:
        """Ids and stored embeddings (a float32 numpy matrix, one row each) of the cubes matching
        ``query`` that have one, in one read; at most ``limit`` rows (``None``: all)."""

    def unindexed_ids(self, limit: int | None = None) -> list[str]:
        """Ids whose embedding is not yet confirmed in the vector index."""

    def mark_indexed(self, ids: Sequence[str], indexed: bool = True) -> None:
        """Record that these ids are in the vector index (``indexed=False``: that they must be re-indexed)."""

    def requeue_all_vectors(self) -> int:
        """Mark every stored embedding as waiting for the vector index (a new, empty index fills from them);
        return how many were marked."""

    def unindexed_embeddings(self, limit: int) -> list[WaitingVector]:
        """Up to ``limit`` cubes waiting for the vector index (archived too)."""

    def confirm_indexed(self, entries: Sequence[WaitingVector]) -> int:
        """Flag cubes indexed if their namespace, tier and embedding still equal ``entries``; return how many."""


@runtime_checkable
class TierState(Protocol):
    """Lifecycle state: tier moves, working sets, heat and access counters, co-access counts."""

    def move_tiers(self, moves: Sequence[TierMove], at: datetime, *, actor: str | None = None) -> list[str]:
        """Apply tier moves (and working-set joins/leaves) in one transaction; return ids whose tier changed.

        Only ``tier`` and ``status`` change (not ``version``, ``updated_at`` or history);
        each tier change is audited (action ``"tier_move"``, detail ``from``/``to``).
        Missing cubes and cubes whose version or tier differs from ``expected_version`` /
        ``expected_tier`` are skipped. A cube with an embedding that moves from the archive into a hot
        tier is marked un-indexed (the index dropped its vector; see :meth:`mark_indexed`).
        """

    def working_set(self, namespace_prefix: Sequence[str],
                    thread: str | None = None) -> list[tuple[str, str, datetime]]:
        """``(thread, cube id, joined at)`` of working-set members under a namespace prefix, oldest join first.

        ``thread`` restricts to one thread's working set. Only cubes whose tier is
        still ``WORKING`` are listed.
        """

    def set_heat(self, heats: Mapping[str, float]) -> None:
        """Store computed heat scores (unknown ids are ignored); nothing else changes."""

    def touch(self, ids: Sequence[str], at: datetime, heat_delta: float = 0.0) -> None:
        """Count one access for each id, set ``last_accessed_at``, add ``heat_delta``."""

    def record_coaccess(self, groups: Sequence[Sequence[str]], at: datetime) -> None:
        """Count each pair of ids retrieved together in a group (both directions; unknown ids ignored)."""

    def coaccessed(self, ids: Sequence[str], limit: int = 20) -> list[ScoredId]:
        """Cubes most often retrieved together with ``ids`` (not in ``ids``), score = summed pair count."""


@runtime_checkable
class ExpiryState(Protocol):
    """Time-to-live bookkeeping: sliding expiry and the cubes whose time is up."""

    def refresh_expiry(self, ids: Sequence[str], at: datetime) -> None:
        """Move ``expires_at`` to ``at + ttl_minutes`` for those ids that have a sliding TTL."""

    def expired_ids(self, at: datetime, limit: int | None = None) -> list[str]:
        """Ids whose ``expires_at`` is at or before ``at``."""


@runtime_checkable
class AuditLog(Protocol):
    """The append-only log of deletes, expiries, tier moves and repairs."""

    def audit(self, records: Iterable[AuditRecord]) -> None:
        """Append to the audit log."""

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records, optionally for one cube."""


@runtime_checkable
class StoreAdmin(Protocol):
    """Opening, closing, store-level settings and the in-process write lock."""

    def setup(self) -> None:
        """Create tables and indexes; idempotent."""

    def close(self) -> None:
        """Release connections; idempotent."""

    def get_meta(self, name: str) -> str | None:
        """A store-level setting (e.g. ``embedding_dim``)."""

    def set_meta(self, name: str, value: str) -> None:
        """Set a store-level setting."""

    def write_lock(self) -> ContextManager[Any]:
        """A re-entrant lock that keeps other threads of this process from reading or writing the store
        while held (a read-check-write section, e.g. a version check before a commit)."""


@runtime_checkable
class RecordStore(CubeRecords, KeywordIndex, ThreadLinks, PendingVectors, TierState, ExpiryState, AuditLog, StoreAdmin,
                  Protocol):
    """Source of truth for cubes: the composition of the small protocols above. All writes of one call are atomic.

    Callers that need only one job can type against its protocol (e.g. a
    :class:`KeywordIndex` for BM25 search); an engine implements them all.
    """


@runtime_checkable
class VectorIndex(Protocol):
    """A nearest-neighbour index over cube embeddings (derived from the record store).

    It holds ids and vectors only: namespaces, tiers, statuses and metadata filters are
    tested against the record store (see ``MemoryEngine.vector_candidates``), so an
    index write carries nothing else (a Chroma metadata record costs about a third of
    the index's write time).
    """

    def upsert(self, ids: Sequence[str], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert or replace vectors."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors; unknown ids are ignored."""

    def search(self, embedding: Sequence[float], k: int, *, ids: Sequence[str] | None = None) -> list[ScoredId]:
        """Top-``k`` ids by cosine similarity (score in [-1, 1], larger is better); with ``ids``, among
        those only (scored exactly)."""

    def ids(self) -> set[str]:
        """Every id in the index (for integrity checks)."""

    def count(self) -> int:
        """How many vectors the index holds."""

    def reset(self) -> None:
        """Drop every vector: an empty index again (how ``MemOS.check`` repairs an unreadable one)."""

    def close(self) -> None:
        """Release resources; idempotent."""


@runtime_checkable
class RidSearch(Protocol):
    """A :class:`VectorIndex` that also keeps each vector's record-store rid (given by ``upsert``) and can
    search among the cubes of a list of rids (such as a filter's, read from the record store's metadata index)
    without checking any hit against the filter."""

    def upsert(self, ids: Sequence[str], embeddings: Sequence[Sequence[float]], *,
               rids: Sequence[int | None] | None = None) -> None:
        """Insert or replace vectors, each with the rid of its cube (``None``: not known)."""

    def knows_rids(self) -> bool:
        """Whether the index knows the rid of every vector it holds (so :meth:`search_rids` answers)."""

    def search_rids(self, embedding: Sequence[float], k: int, rids: Any) -> list[ScoredId] | None:
        """Top-``k`` ids among the vectors of ``rids`` (a numpy int64 array) by cosine similarity, best first;
        ``None`` when the index cannot tell (a live vector's rid is not known)."""


__all__ = [
    "CUBE_FILTER_FIELDS",
    "KEYWORD_COLUMNS",
    "NS_SEP",
    "AuditLog",
    "AuditRecord",
    "CubeQuery",
    "CubeRecords",
    "ExpiryState",
    "KeywordDoc",
    "KeywordIndex",
    "PendingVectors",
    "RecordStore",
    "RidSearch",
    "ScoredId",
    "StoreAdmin",
    "ThreadLinks",
    "TierMove",
    "TierState",
    "VectorIndex",
    "WaitingVector",
    "ns_from_key",
    "ns_key",
]
