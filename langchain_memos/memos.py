"""The MemOS facade: add, get, search, update, delete, fuse, promote (and async twins).

:class:`MemOS` ties the engines together: a :class:`~langchain_memos.storage.base.RecordStore`
(SQLite: records, history, BM25, audit, embeddings) is the source of truth and a
:class:`~langchain_memos.storage.base.VectorIndex` (Chroma) is derived from it.

Each operation is split into pure steps (plan, rank) and I/O steps (embed,
commit). The sync method and its ``a``-prefixed twin run the same steps; the
async one awaits the embedder's async API and runs storage I/O in a thread.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = memos.add("Alice prefers green tea", namespace=("users", "alice"))
    ...     hits = memos.search("what tea does Alice like?", namespace=("users", "alice"))
    ...     hits[0].cube.content
    'Alice prefers green tea'
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from langchain_core.embeddings import Embeddings

from .config import MemOSConfig
from .cube import (
    HOT_TIERS,
    HistoryEntry,
    MemCube,
    MemoryType,
    Provenance,
    Status,
    Tier,
    to_utc,
    utcnow,
)
from .errors import (
    CubeNotFoundError,
    EngineUnavailableError,
    GraphIngestError,
    InvalidInputError,
    MemOSError,
    PermissionDeniedError,
    StorageError,
)
from .events import ChangeListeners, Listener, MemChange
from .filters import Condition, parse_filter
from .forget import ForgetHook, ForgetRequest, run_forget_hooks
from .ingest import PlannedCube, index_text_for, plan_items
from .retrieval.fusion import Hit, RetrievalConfig
from .retrieval.indexing import date_text, thread_keyword_docs
from .retrieval.pipeline import (SearchPlan, exact_vector_search, plan_search, rank_candidates, rank_recent,
                                 second_round_terms)
from .retrieval.query import analyze_query, embedding_text
from .storage.base import AuditRecord, CubeQuery, KeywordDoc, RecordStore, ScoredId, VectorIndex
from .storage.base import TierMove
from .storage.index_worker import WorkerSpec, WorkerVectorIndex, worker_supported
from .storage.sync import index_pending
from .validation import (
    validate_content,
    validate_embeddings,
    validate_enum,
    validate_enums,
    validate_json_value,
    validate_namespace,
)


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        cube: The memory.
        score: The fused relevance score (larger is better).
        reasons: Why it matched: signal name (``"vector"``, ``"keyword"``,
            ``"graph"``, ``"recency"``...) -> that signal's contribution.
        rank: 1-based position in the result list.
    """

    cube: MemCube
    score: float
    reasons: dict[str, float]
    rank: int

    @property
    def why(self) -> str:
        """The reasons as a short human-readable string, strongest first."""
        parts = sorted(self.reasons.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {value:.2f}" for name, value in parts if value >= 0.005) or "filter match"


@dataclass
class IntegrityReport:
    """What :meth:`MemOS.check` found and did.

    Attributes:
        records: Cubes in the record store.
        vectors: Vectors in the vector index.
        missing_vectors: Cubes that should be in the vector index but were not.
        orphan_vectors: Vectors with no cube behind them.
        repaired: How many problems were fixed (embeddings left waiting for the index included).
        unrepaired: Problems left (e.g. ``repair=False``).
    """

    records: int = 0
    vectors: int = 0
    missing_vectors: list[str] = field(default_factory=list)
    orphan_vectors: list[str] = field(default_factory=list)
    repaired: int = 0
    unrepaired: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is left unrepaired."""
        return self.unrepaired == 0


def _open_graph(config: MemOSConfig, records: RecordStore) -> Any:
    """The configured graph engine (``None`` when ``graph_backend`` is ``None``)."""
    backend = config.graph_backend
    if backend is None:
        return None
    if backend == "sqlite":
        from .graph.sqlite import SQLiteGraphStore
        from .storage.sqlite import SQLiteRecordStore

        if isinstance(records, SQLiteRecordStore):
            return SQLiteGraphStore(records=records)
        directory = config.directory
        return SQLiteGraphStore(directory / "graph.sqlite3" if directory is not None else None,
                                busy_timeout_s=config.busy_timeout_s)
    if backend == "neo4j":
        from .graph.neo4j import Neo4jGraphStore

        return Neo4jGraphStore(config.neo4j_uri, config.neo4j_user, config.neo4j_password,
                               database=config.neo4j_database)
    raise InvalidInputError(f"unknown graph_backend {backend!r}; use 'sqlite', 'neo4j' or None")


def _open_engines(config: MemOSConfig) -> tuple[RecordStore, VectorIndex]:
    from .storage.chroma import ChromaVectorIndex
    from .storage.sqlite import SQLiteRecordStore

    directory = config.directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    records = SQLiteRecordStore(config.sqlite_path, busy_timeout_s=config.busy_timeout_s)
    if config.vector_backend == "chroma-http":
        vectors = ChromaVectorIndex.http(config.chroma_host, config.chroma_port, ssl=config.chroma_ssl,
                                         headers=config.chroma_headers or None, collection_name=config.collection,
                                         lock_path=directory / f"{config.collection}.chroma-http.lock"
                                         if directory is not None else None, lock_timeout_s=config.busy_timeout_s,
                                         hnsw=config.hnsw)
    elif config.vector_backend == "chroma-ephemeral" or directory is None:
        vectors = ChromaVectorIndex.ephemeral(hnsw=config.hnsw)  # a unique collection: ephemeral clients share a process
    elif config.vector_backend == "chroma":
        def persistent() -> ChromaVectorIndex:
            return ChromaVectorIndex.persistent(config.chroma_path, collection_name=config.collection,
                                                lock_timeout_s=config.busy_timeout_s, hnsw=config.hnsw)

        vectors = persistent()
        if config.index_worker_after is not None and worker_supported():
            spec = WorkerSpec(sqlite_path=str(config.sqlite_path), chroma_path=str(config.chroma_path),
                              collection=config.collection, hnsw=dict(config.hnsw),
                              busy_timeout_s=config.busy_timeout_s)
            vectors = WorkerVectorIndex(vectors, spec, start_after=config.index_worker_after,
                                        reopen_inline=persistent)
    else:
        raise InvalidInputError(
            f"unknown vector_backend {config.vector_backend!r}; use 'chroma', 'chroma-http' or 'chroma-ephemeral'"
        )
    return records, vectors


class MemOS:
    """Managed memory: MemCubes in tiers, hybrid search, history and audit.

    Args:
        path: Data directory (shortcut for ``MemOSConfig(path=...)``).
        embeddings: Any LangChain ``Embeddings``; default: offline MiniLM.
        config: Full configuration (``path`` overrides its ``path``).
        retrieval: Retrieval settings (weights, pools, MMR, floor, budget).
        records / vectors: Engines to use instead of the configured ones.
        graph: A :class:`~langchain_memos.graph.base.GraphStore` to use instead of the configured one.
        extractor: What turns added texts into entities and facts: any
            :class:`~langchain_memos.graph.extract.Extractor` (default: the no-LLM
            :class:`~langchain_memos.graph.extract.RuleExtractor`; with a chat model:
            :class:`~langchain_memos.graph.llm.LLMExtractor`).
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        embeddings: Embeddings | None = None,
        config: MemOSConfig | None = None,
        retrieval: RetrievalConfig | None = None,
        records: RecordStore | None = None,
        vectors: VectorIndex | None = None,
        graph: Any = None,
        extractor: Any = None,
    ) -> None:
        self.config = config or MemOSConfig()
        if path is not None:
            self.config.path = path
        if embeddings is None:
            from .embeddings import default_embeddings

            embeddings = default_embeddings()
        self.embeddings = embeddings
        self.retrieval = retrieval or RetrievalConfig()
        if records is None or vectors is None:
            opened_records, opened_vectors = _open_engines(self.config)
            records = records or opened_records
            vectors = vectors or opened_vectors
        self.records = records
        self.vectors = vectors
        self.records.setup()
        self._changes = ChangeListeners()
        self._sections: list[Any] = []
        self.forget_hooks: list[ForgetHook] = []
        self.check_hooks: list[Callable[[bool], tuple[int, int]]] = []
        from .graph.memory import GraphMemory

        store = graph if graph is not None else _open_graph(self.config, self.records)
        self._graph = GraphMemory(store, extractor, fact_cubes=self.config.fact_cubes) if store is not None else None
        if store is not None:
            from .transfer import TableSection

            self._sections.append(TableSection("graph", store))
            self.check_hooks.append(self._check_graph)
        self._closed = False

    # ------------------------------------------------------------ construction
    @classmethod
    def ephemeral(cls, **kwargs: Any) -> "MemOS":
        """An in-memory instance (SQLite ``:memory:`` and an ephemeral Chroma client)."""
        config = kwargs.pop("config", None) or MemOSConfig(path=None, vector_backend="chroma-ephemeral")
        return cls(config=config, **kwargs)

    @classmethod
    def from_path(cls, path: str, **kwargs: Any) -> "MemOS":
        """Open (or create) the embedded store in ``path``."""
        return cls(path, **kwargs)

    def close(self) -> None:
        """Index what is still waiting, then close the engines; idempotent."""
        if not self._closed:
            self._closed = True
            try:
                self._index(wait=True)
            except MemOSError:
                pass  # the rows stay flagged in the record store; the next open's check() indexes them
            if self._graph is not None:
                self._graph.store.close()
            self.records.close()
            self.vectors.close()

    def __enter__(self) -> "MemOS":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "MemOS":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ change events
    def on_change(self, listener: Listener) -> Any:
        """Call ``listener(MemChange)`` after every committed write or delete; returns an unsubscribe function.

        See :mod:`langchain_memos.events` (listeners run on the writing thread and never break a write).
        """
        return self._changes.add(listener)

    def emit_change(self, change: MemChange) -> None:
        """Tell the listeners about a change made to :attr:`records` directly (lifecycle steps use this)."""
        self._changes.emit(change)

    # ------------------------------------------------------------------ helpers
    @property
    def embedding_dim(self) -> int | None:
        """The dimension of the stored embeddings (``None`` until the first vector is written)."""
        return self._dim()

    def _dim(self) -> int | None:
        value = self.records.get_meta("embedding_dim")
        return int(value) if value is not None else None

    def _user(self, user: str | None) -> str | None:
        return user if user is not None else self.config.default_user

    def _readable(self, cube: MemCube | None, user: str | None) -> MemCube | None:
        if cube is None or not cube.can_read(user):
            return None
        return cube

    def _require(self, cube_id: str, user: str | None, *, write: bool) -> MemCube:
        cube = self.records.get([cube_id])[0]
        if cube is None:
            raise CubeNotFoundError(f"no cube with id {cube_id!r}; check the id (MemOS.search lists ids)")
        if write and not cube.can_write(user):
            raise PermissionDeniedError(
                f"user {user!r} may not change cube {cube_id!r} owned by {cube.owner!r}; "
                "ask the owner to add you to permissions.writers"
            )
        if not write and not cube.can_read(user):
            raise CubeNotFoundError(f"no cube with id {cube_id!r} visible to user {user!r}")
        return cube

    # --------------------------------------------------------------- write path
    def _prepare_add(self, items: Any, namespace: Sequence[str], options: dict[str, Any]) -> list[PlannedCube]:
        namespace = validate_namespace(namespace)
        planned = plan_items(items, namespace, **options)
        for p in planned:
            validate_content(p.cube.content, max_chars=self.config.max_content_chars)
            validate_json_value(p.cube.metadata, what="metadata")
            validate_namespace(p.cube.namespace)
        return planned

    def _keyword_docs(self, planned: Sequence[PlannedCube]) -> tuple[list[KeywordDoc | None], dict[str, KeywordDoc]]:
        """Keyword documents of the planned cubes, and refreshed ones for their stored thread neighbours.

        Threaded cubes (with a ``thread_id``) get a position when they have none (after
        the thread's last one, in ``created_at`` order) and a document with the text of
        their neighbours (see :mod:`langchain_memos.retrieval.indexing`).
        """
        context = self.retrieval.context_turns
        docs: list[KeywordDoc | None] = [None] * len(planned)
        updates: dict[str, KeywordDoc] = {}
        threads: dict[tuple[tuple[str, ...], str], list[int]] = {}
        for i, p in enumerate(planned):
            if p.index_text is None:
                continue
            if p.cube.thread_id is None:
                docs[i] = {"body": p.index_text, "date": date_text(p.cube.created_at)}
            else:
                threads.setdefault((p.cube.namespace, p.cube.thread_id), []).append(i)
        planned_ids = {p.cube.id for p in planned}
        for (namespace, thread), members in threads.items():
            fresh = sorted((i for i in members if planned[i].cube.position is None),
                           key=lambda i: (planned[i].cube.created_at, i))
            if fresh:
                last = self.records.thread_max_position(namespace, thread)
                for offset, i in enumerate(fresh):
                    planned[i].cube.position = (-1 if last is None else last) + 1 + offset
            positions = [planned[i].cube.position for i in members]
            lo, hi = min(positions), max(positions)
            stored = self.records.thread_units(namespace, thread, lo - 1 - context, hi + context + 1)
            window = {c.position: (c.id, index_text_for(c), c.created_at) for c in stored if c.id not in planned_ids}
            window.update({planned[i].cube.position: (planned[i].cube.id, planned[i].index_text,
                                                      planned[i].cube.created_at) for i in members})
            neighbours = {c.id for c in stored if c.id not in planned_ids and lo - 1 <= c.position <= hi + context}
            built = thread_keyword_docs([window[pos] for pos in sorted(window)],
                                        neighbours | {planned[i].cube.id for i in members}, context_turns=context)
            for i in members:
                docs[i] = built[planned[i].cube.id]
            updates.update({cube_id: built[cube_id] for cube_id in neighbours})
        return docs, updates

    def _commit(self, planned: Sequence[PlannedCube], new_vectors: Sequence[Sequence[float]]) -> list[str]:
        """Write planned cubes atomically, then index their vectors.

        Cubes with an ``embed_text`` get ``new_vectors`` (in order); the others keep the
        vector already stored for their id (unchanged content), or get none.
        """
        import numpy as np

        to_embed = [p for p in planned if p.embed_text is not None]
        dim = self._dim()
        # Check the whole batch as one array (the embedders' lists of floats are converted once, and
        # both engines take the float32 rows); anything unusual gets the detailed per-value checks.
        rows: Sequence[Sequence[float]] = new_vectors
        try:
            matrix = np.asarray(new_vectors, dtype=np.float64) if len(new_vectors) else None
        except (TypeError, ValueError):
            matrix = None
        as32 = matrix.astype(np.float32) if matrix is not None and matrix.ndim == 2 else None
        if (as32 is not None and len(as32) == len(to_embed) and as32.shape[1] > 0
                and (dim is None or as32.shape[1] == dim) and np.isfinite(matrix).all() and np.isfinite(as32).all()):
            rows = list(as32)
        else:
            validate_embeddings(new_vectors, expected=len(to_embed), dim=dim)
        vectors: dict[str, Sequence[float]] = dict(self.records.embeddings(
            [p.cube.id for p in planned if p.embed_text is None and p.index_text is not None]))
        vectors.update({p.cube.id: v for p, v in zip(to_embed, rows)})
        docs, updates = self._keyword_docs(planned)
        cubes = [p.cube for p in planned]
        replaced = self.records.write(cubes, [vectors.get(c.id) for c in cubes], docs, keyword_updates=updates)
        cold = [c.id for c in cubes if c.tier is Tier.ARCHIVE or c.id not in vectors]
        if replaced or cold:
            self.vectors.delete([*replaced, *cold])
        if any(c.id in vectors and c.tier is not Tier.ARCHIVE for c in cubes):
            self._index(wait=False)
        self._changes.emit(MemChange(written=tuple(cubes), removed=tuple(replaced),
                                     reason=next((c.history[-1].reason for c in cubes if c.history), "add")))
        return [c.id for c in cubes]

    def _index(self, cubes: Sequence[MemCube] = (), vectors_by_id: Mapping[str, Any] | None = None, *,
               wait: bool = False) -> int | None:
        """Move embeddings waiting in the record store into the vector index (see :mod:`.storage.sync`).

        ``cubes`` (older call sites; ``vectors_by_id`` is ignored, the record store holds
        the embeddings): flag these for (re)indexing first. ``wait=False``: when another
        thread or process is indexing, leave ours to it; searches score waiting
        embeddings exactly until then.
        """
        if cubes:
            self.records.mark_indexed([c.id for c in cubes], False)
        in_worker = getattr(self.vectors, "index_pending", None)
        if in_worker is not None:
            return in_worker(self.records, wait=wait)
        return index_pending(self.records, self.vectors, wait=wait)

    def add(self, items: Any, namespace: Sequence[str], **options: Any) -> list[str]:
        """Add memories and return their ids, in input order.

        Args:
            items: A string, a chat message (LangChain ``BaseMessage`` or a
                ``{"role", "content"}`` dict), a :class:`MemCube`, or a list of these.
            namespace: Where the memories live, e.g. ``("users", "alice")``.
            **options: Defaults for cubes built from text/messages: ``memory_type``,
                ``tier``, ``metadata``, ``tags``, ``importance``, ``owner``,
                ``source``, ``provenance``, ``thread_id``, ``valid_from``,
                ``valid_to``, ``ttl_minutes``, ``created_at``, ``language``,
                ``index`` (False: not searchable by similarity), ``extract`` (extract
                entities and facts into the graph: default ``MemOSConfig.extract`` for
                texts and messages, off for MemCubes; ``True``/``False`` force it).

        Raises:
            InvalidInputError: A bad namespace, content, metadata or embedding;
                nothing is written then.
        """
        extract = options.pop("extract", None)
        planned = self._prepare_add(items, namespace, options)
        texts = [p.embed_text for p in planned if p.embed_text is not None]
        vectors = self._embed_documents(texts)
        ids = self._commit(planned, vectors)
        with self._graph_errors(ids):
            facts = self._graph_ingest(self._to_extract(items, planned, extract))
        if facts:
            self._commit(facts, self._embed_documents([p.embed_text for p in facts if p.embed_text is not None]))
        return ids

    async def aadd(self, items: Any, namespace: Sequence[str], **options: Any) -> list[str]:
        """Async twin of :meth:`add`."""
        extract = options.pop("extract", None)
        planned = self._prepare_add(items, namespace, options)
        texts = [p.embed_text for p in planned if p.embed_text is not None]
        vectors = await self._aembed_documents(texts)
        ids = await asyncio.to_thread(self._commit, planned, vectors)
        with self._graph_errors(ids):
            facts = await asyncio.to_thread(self._graph_ingest, self._to_extract(items, planned, extract))
        if facts:
            vectors = await self._aembed_documents([p.embed_text for p in facts if p.embed_text is not None])
            await asyncio.to_thread(self._commit, facts, vectors)
        return ids

    # ------------------------------------------------------------------ graph
    @contextlib.contextmanager
    def _graph_errors(self, ids: Sequence[str]) -> Iterator[None]:
        """Turn a graph engine failure after a committed write into :class:`GraphIngestError` (with the ids)."""
        try:
            yield
        except StorageError as exc:
            raise GraphIngestError(
                f"the {len(ids)} cubes were written, but the graph engine failed while extracting them ({exc}); "
                "fix the graph engine, then call MemOS.extract(error.ids)", list(ids)) from exc

    def extract(self, ids: str | Sequence[str], *, user: str | None = None) -> int:
        """Extract existing cubes into the graph (backfill, or after a :class:`GraphIngestError`).

        Extracting a cube again merges into the relations it already produced (idempotent).

        Returns:
            How many cubes were extracted (fact cubes and missing ids are skipped).

        Raises:
            EngineUnavailableError: The instance has no graph.
        """
        self._require_graph()
        wanted = [ids] if isinstance(ids, str) else list(ids)
        cubes = [c for c in self.records.get(wanted) if c is not None and c.can_read(self._user(user))
                 and c.memory_type is not MemoryType.FACT]
        facts = self._graph_ingest(cubes)
        if facts:
            self._commit(facts, self._embed_documents([p.embed_text for p in facts if p.embed_text is not None]))
        return len(cubes)

    async def aextract(self, ids: str | Sequence[str], *, user: str | None = None) -> int:
        """Async twin of :meth:`extract`."""
        return await asyncio.to_thread(self.extract, ids, user=user)

    def _to_extract(self, items: Any, planned: Sequence[PlannedCube], extract: bool | None) -> list[MemCube]:
        """The just-written cubes to extract from: texts and messages by default, every cube with ``extract=True``."""
        if self._graph is None or extract is False or (extract is None and not self.config.extract):
            return []
        seq = items if isinstance(items, (list, tuple)) else [items]
        return [p.cube for item, p in zip(seq, planned) if p.cube.memory_type is not MemoryType.FACT
                and (extract or not isinstance(item, MemCube))]

    def _graph_ingest(self, cubes: Sequence[MemCube]) -> list[PlannedCube]:
        """Extract ``cubes`` into the graph; end superseded fact cubes; return the new fact cubes to commit."""
        if not cubes or self._graph is None:
            return []
        result = self._graph.ingest(cubes)
        ended: list[PlannedCube] = []
        for namespace, key, valid_to, by in result.ended:
            old = self.records.get_by_keys(namespace, [key])[0]
            if old is not None and old.valid_to is None:
                ended.append(self._apply_update(old, {"valid_to": valid_to, "metadata": {**old.metadata,
                                                                                       "superseded_by": by}},
                                                reason="supersede", actor="memos:graph"))
        if ended:
            self._commit(ended, [])
        return [PlannedCube.for_cube(c) for c in result.fact_cubes]

    def drop_derived(self, deleted: Sequence[str], *, reason: str = "delete") -> None:
        """Remove what was derived from cubes already deleted from the record store.

        Their vectors leave the vector index and their graph traces go: relations lose them as
        a source, relations left without a source are deleted with their fact cubes, and so are
        entities no relation uses; then the change listeners hear of the removal (adapters
        distilled from these cubes go stale). Every delete path (``delete``, ``expire``,
        ``delete_namespace``, ``delete_user``, the lifecycle's ``forget``) calls it.
        """
        if not deleted:
            return
        self.vectors.delete(list(deleted))
        self._drop_graph(deleted)
        self._changes.emit(MemChange(removed=tuple(deleted), reason=reason))

    def _drop_graph(self, cube_ids: Sequence[str]) -> None:
        """Remove cubes as graph sources; delete the fact cubes (and their traces) left without a source."""
        if self._graph is None or not cube_ids:
            return
        orphans: list[str] = []
        for namespace, key in self._graph.forget(cube_ids):
            cube = self.records.get_by_keys(namespace, [key])[0]
            if cube is not None:
                orphans.append(cube.id)
        if orphans:
            gone = self.records.delete(orphans, reason="source deleted", actor="memos:graph")
            if gone:
                self.drop_derived(gone, reason="orphaned fact")

    def _check_graph(self, repair: bool) -> tuple[int, int]:
        """A :meth:`check` hook: relations whose source cubes are gone from the record store (a crash
        between a delete and its graph cleanup); repair drops them as sources. Returns (found, repaired)."""
        from .graph.base import RelationQuery

        sources = sorted({ref for r in self._graph.store.relations(RelationQuery()) for ref in r.provenance})
        present = {c.id for c in self.records.query(CubeQuery(ids=frozenset(sources), statuses=frozenset(Status),
                                                              include_expired=True), with_history=False)}
        missing = [ref for ref in sources if ref not in present]
        if repair and missing:
            self._drop_graph(missing)
        return len(missing), len(missing) if repair else 0

    def _reextract(self, cube: MemCube) -> None:
        """After a content change: replace the graph traces of a cube that was extracted from."""
        from .graph.base import RelationQuery

        if self._graph is None or cube.memory_type is MemoryType.FACT or not self._graph.store.relations(
                RelationQuery(sources=frozenset({cube.id}), limit=1)):
            return
        self._drop_graph([cube.id])
        facts = self._graph_ingest([cube])
        if facts:
            self._commit(facts, self._embed_documents([p.embed_text for p in facts if p.embed_text is not None]))

    def _require_graph(self) -> Any:
        if self._graph is None:
            raise EngineUnavailableError("this MemOS has no graph; create it with MemOSConfig(graph_backend='sqlite') "
                                         "or 'neo4j'")
        return self._graph

    @property
    def graph(self) -> Any:
        """The :class:`~langchain_memos.graph.base.GraphStore` (``None`` when ``graph_backend`` is ``None``)."""
        return self._graph.store if self._graph is not None else None

    @property
    def graph_stats(self) -> Any:
        """Running totals of extraction (:class:`~langchain_memos.graph.memory.GraphStats`), or ``None``."""
        return self._graph.stats if self._graph is not None else None

    def entities(self, namespace: Sequence[str] = (), *, kind: str | None = None,
                 limit: int | None = None) -> list[Any]:
        """Entities of the graph under a namespace prefix (:class:`~langchain_memos.graph.model.Entity`).

        Raises:
            EngineUnavailableError: The instance has no graph (``graph_backend=None``).
        """
        namespace = validate_namespace(namespace, allow_empty=True)
        return self._require_graph().store.entities(namespace, kind=kind, limit=limit)

    def relations(self, namespace: Sequence[str] = (), *, entity: str | None = None, predicate: str | None = None,
                  as_of: Any = None, current: bool = False, limit: int | None = None,
                  user: str | None = None) -> list[Any]:
        """Relations under a namespace prefix, newest first (:class:`~langchain_memos.graph.model.Relation`).

        Args:
            namespace: Namespace prefix (an ``entity`` is looked up in exactly this namespace).
            entity: Only relations touching the entity this name (or alias, or nickname) refers to.
            predicate: Only this predicate (``"lives_in"``, ``"mentions"``...).
            as_of: Only facts valid at that time.
            current: Only facts not superseded.
            limit: At most this many.
            user: Only relations with at least one source cube this user may read
                (default ``MemOSConfig.default_user``; ``None`` = trusted, no check).

        Raises:
            EngineUnavailableError: The instance has no graph.
        """
        from .graph.base import RelationQuery

        graph = self._require_graph()
        namespace = validate_namespace(namespace, allow_empty=True)
        ids = None
        if entity is not None:
            ids = frozenset(graph.link(namespace, [entity]))
            if not ids:
                return []
        rels = graph.store.relations(RelationQuery(namespace_prefix=namespace, entity_ids=ids, predicate=predicate,
                                                   as_of=to_utc(as_of), current=current,
                                                   limit=limit if self._user(user) is None else None))
        return self._readable_relations(rels, self._user(user))[:limit]

    def _readable_relations(self, rels: list[Any], user: str | None) -> list[Any]:
        """The relations with a source cube ``user`` may read (all of them for ``None``, the trusted caller)."""
        if user is None or not rels:
            return rels
        sources = sorted({c for r in rels for c in r.provenance})
        readable = {c.id for c in self.records.get(sources) if c is not None and c.can_read(user)}
        return [r for r in rels if readable.intersection(r.provenance)]

    def facts(self, namespace: Sequence[str] = (), *, as_of: Any = None, history: bool = False,
              entity: str | None = None, user: str | None = None) -> list[Any]:
        """Extracted facts (relations other than ``mentions``/``mentions_date``), oldest ``valid_from`` first.

        Args:
            namespace: Namespace prefix.
            as_of: Facts valid at that time (default: the ones valid now, i.e. not superseded).
            history: Every fact ever recorded, superseded ones included (``as_of`` ignored).
            entity: Only facts about this entity (name, alias or nickname).
            user: Only facts with a source this user may read (see :meth:`relations`).

        Example:
            ``memos.facts(("users", "ann"))[0].text`` -> ``"ann moved to Denver"``
        """
        from .graph.writer import MENTION_PREDICATES

        rels = self.relations(namespace, entity=entity, as_of=None if history else as_of,
                              current=not history and as_of is None, user=user)
        start = to_utc("1970-01-01T00:00:00")
        return sorted((r for r in rels if r.predicate not in MENTION_PREDICATES),
                      key=lambda r: (r.valid_from or start, r.recorded_at, r.id))

    async def afacts(self, namespace: Sequence[str] = (), *, as_of: Any = None, history: bool = False,
                     entity: str | None = None, user: str | None = None) -> list[Any]:
        """Async twin of :meth:`facts`."""
        return await asyncio.to_thread(self.facts, namespace, as_of=as_of, history=history, entity=entity,
                                       user=user)

    def neighbours(self, name: str, namespace: Sequence[str], *, hops: int = 1, as_of: Any = None) -> list[Any]:
        """Entities within ``hops`` (1 or 2) of the entity ``name`` refers to in ``namespace``."""
        graph = self._require_graph()
        linked = graph.link(validate_namespace(namespace), [name])
        return graph.store.neighbours(list(linked), hops=hops, as_of=to_utc(as_of)) if linked else []

    def delete_namespace(self, namespace: Sequence[str], *, reason: str = "delete namespace",
                         user: str | None = None) -> list[str]:
        """Delete every cube under a namespace prefix and every graph trace of it (user deletion).

        Returns:
            The ids of the cubes deleted.
        """
        namespace = validate_namespace(namespace)
        ids = self.records.query_ids(CubeQuery(namespace_prefix=namespace, statuses=frozenset(Status),
                                               include_expired=True), order_by=None)
        deleted = self._delete(ids, reason, user)
        if self._graph is not None:
            self._graph.store.delete_namespace(namespace)
        return deleted

    async def adelete_namespace(self, namespace: Sequence[str], *, reason: str = "delete namespace",
                                user: str | None = None) -> list[str]:
        """Async twin of :meth:`delete_namespace`."""
        return await asyncio.to_thread(self.delete_namespace, namespace, reason=reason, user=user)

    def _embed_documents(self, texts: list[str]) -> list[list[float]]:
        size = self.config.embed_batch_size
        out: list[list[float]] = []
        for start in range(0, len(texts), size):
            out.extend(self.embeddings.embed_documents(texts[start:start + size]))
        return out

    async def _aembed_documents(self, texts: list[str]) -> list[list[float]]:
        size = self.config.embed_batch_size
        out: list[list[float]] = []
        for start in range(0, len(texts), size):
            out.extend(await self.embeddings.aembed_documents(texts[start:start + size]))
        return out

    def restore(self, cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None]) -> list[str]:
        """Write cubes exactly as given (ids, versions, history, tiers, times) with their stored embeddings.

        The import half of :mod:`langchain_memos.transfer`: nothing is re-embedded; a cube
        without an embedding is stored without a vector (and is not keyword-indexed), as it
        was exported. Existing ids are replaced.

        Raises:
            InvalidInputError: Lengths differ, or a cube or embedding is invalid; nothing is written.
        """
        if len(cubes) != len(embeddings):
            raise InvalidInputError(f"restore() needs one embedding (or None) per cube; got {len(cubes)} cubes and "
                                    f"{len(embeddings)} embeddings")
        planned = []
        for cube, vector in zip(cubes, embeddings):
            text = index_text_for(cube) if vector is not None else None
            planned.append(PlannedCube(cube=cube, index_text=text, embed_text=text))
        return self._commit(planned, [v for v in embeddings if v is not None])

    def register_section(self, section: Any) -> None:
        """Add a section to exports: an object with ``name``, ``export_rows(namespace)`` and ``import_rows(rows)``
        (the entity graph registers itself this way)."""
        if any(s.name == section.name for s in self._sections):
            raise InvalidInputError(f"an export section named {section.name!r} is already registered")
        self._sections.append(section)

    def export_sections(self) -> list[Any]:
        """The registered export sections, in registration order."""
        return list(self._sections)

    # ---------------------------------------------------------------- read path
    def get(self, cube_id: str, *, user: str | None = None, touch: bool = True) -> MemCube | None:
        """The cube with this id (any tier, archive included), or ``None``."""
        return self.get_many([cube_id], user=user, touch=touch)[0]

    def get_many(self, ids: Sequence[str], *, user: str | None = None, touch: bool = True) -> list[MemCube | None]:
        """Cubes by id in input order (``None`` where missing or not readable)."""
        user = self._user(user)
        cubes = [self._readable(c, user) for c in self.records.get(list(ids))]
        found = [c.id for c in cubes if c is not None]
        if touch and found and self.config.track_access:
            self.records.touch(found, utcnow())
        return cubes

    async def aget(self, cube_id: str, *, user: str | None = None, touch: bool = True) -> MemCube | None:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, cube_id, user=user, touch=touch)

    def history(self, cube_id: str, *, user: str | None = None) -> list[HistoryEntry]:
        """Earlier versions of a cube, oldest first."""
        return list(self._require(cube_id, self._user(user), write=False).history)

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records (deletes, expiries, repairs), optionally for one cube."""
        return self.records.audit_log(cube_id, limit)

    def list(self, namespace: Sequence[str] = (), *, tiers: Iterable[Tier | str] | None = None,
             types: Iterable[MemoryType | str] | None = None, filters: Mapping[str, Any] | None = None,
             user: str | None = None, limit: int = 100, offset: int = 0) -> list[MemCube]:
        """Cubes under a namespace prefix, newest first, without ranking."""
        query = self._cube_query(namespace, tiers=tiers, types=types, filters=filters, user=user,
                                 default_tiers=None)
        return self.records.query(query, limit=limit, offset=offset)

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces under ``prefix``."""
        return self.records.namespaces(validate_namespace(prefix, allow_empty=True))

    def _cube_query(self, namespace: Sequence[str], *, tiers: Iterable[Tier | str] | None,
                    types: Iterable[MemoryType | str] | None, filters: Mapping[str, Any] | None,
                    user: str | None, default_tiers: Sequence[Tier] | None = HOT_TIERS,
                    time_range: tuple[Any, Any] | None = None, as_of: Any = None) -> CubeQuery:
        namespace = validate_namespace(namespace, allow_empty=True)
        tier_set = validate_enums(Tier, tiers, what="tier") if tiers is not None else (
            frozenset(default_tiers) if default_tiers is not None else None)
        start, end = (time_range or (None, None))
        return CubeQuery(
            namespace_prefix=namespace,
            tiers=tier_set,
            types=validate_enums(MemoryType, types, what="memory type") if types is not None else None,
            conditions=tuple(parse_filter(filters)),
            reader=self._user(user),
            created_after=to_utc(start),
            created_before=to_utc(end),
            valid_at=to_utc(as_of),
        )

    def _plan(self, query: str, namespace: Sequence[str], k: int, options: dict[str, Any]) -> SearchPlan:
        cube_query = self._cube_query(
            namespace, tiers=options.get("tiers"), types=options.get("types"), filters=options.get("filters"),
            user=options.get("user"), time_range=options.get("time_range"), as_of=options.get("as_of"),
        )
        return plan_search(query, cube_query, k, self.retrieval, min_score=options.get("min_score"),
                           max_tokens=options.get("max_tokens"), mmr=options.get("mmr"))

    def _rank(self, plan: SearchPlan, query_vector: Sequence[float] | None) -> list[Hit]:
        """Gather candidates from every engine and rank them (no access is recorded)."""
        now = utcnow()
        config = plan.config
        cq = plan.cube_query
        if not plan.query.strip():
            return rank_recent(self.records.query(cq, limit=plan.k, order_by="created_at DESC",
                                                  with_history=False), plan.k)
        speakers = self._speakers(cq)
        analysis = analyze_query(plan.query, speakers=speakers, now=now)
        keyword = (self.records.keyword_search(analysis.keywords, cq, max(config.keyword_pool, plan.k),
                                               column_weights=config.keyword_column_weights)
                   if analysis.keywords else [])
        if query_vector is not None:
            validate_embeddings([query_vector], expected=1, dim=self._dim())  # typed error on a wrong-sized query
        vector = (self._vector_candidates(cq, query_vector, max(config.vector_pool, plan.k))
                  if query_vector is not None else [])
        ids = {h.id for h in keyword} | {h.id for h in vector}
        graph: dict[str, float] = {}
        if self._graph is not None and config.graph_weight > 0:
            graph, fact_keys = self._graph.scores(cq.namespace_prefix, [*analysis.entities, *analysis.speakers,
                                                                        *analysis.keywords],
                                                  analysis.keywords, as_of=cq.valid_at, hops=config.graph_hops)
            if fact_keys:
                keys = sorted(fact_keys)
                for c in self.records.get_by_keys(cq.namespace_prefix, keys):
                    if c is not None:
                        graph[c.id] = max(graph.get(c.id, 0.0), fact_keys[c.key])
            extra = sorted((i for i in graph if i not in ids), key=lambda i: (-graph[i], i))[:config.graph_pool]
            ids |= set(extra)
        if not ids:
            return []
        cubes, next_ids, vectors = self._load_candidates(cq, ids)
        hits = rank_candidates(plan, analysis, cubes, keyword=keyword, vector=vector, vectors=vectors,
                               next_ids=next_ids, query_vector=query_vector, now=now, graph=graph)
        # --- second round (issue #18): the query's keywords plus terms of the best first-round hits
        terms = second_round_terms(hits, cubes, analysis, speakers, config)
        if not terms:
            return hits
        expansion = self.records.keyword_search(terms, cq, config.keyword_pool,
                                                column_weights=config.keyword_column_weights)
        extra = {h.id for h in expansion} - ids
        if extra:
            more = self._load_candidates(cq, extra)
            cubes, next_ids, vectors = [*cubes, *more[0]], {**next_ids, **more[1]}, {**vectors, **more[2]}
        return rank_candidates(plan, analysis, cubes, keyword=keyword, vector=vector, vectors=vectors,
                               next_ids=next_ids, query_vector=query_vector, now=now, graph=graph,
                               expansion=expansion)

    def _load_candidates(self, cq: CubeQuery, ids: Iterable[str]) -> tuple[list[MemCube], dict[str, str],
                                                                           dict[str, Any]]:
        """The cubes among ``ids`` that pass ``cq``, the ids of their next thread units, and both's embeddings."""
        cubes = self.records.query(replace(cq, ids=frozenset(ids)), with_history=False)
        next_ids = self.records.next_in_thread([c.id for c in cubes])
        vectors = self.records.embeddings([c.id for c in cubes] + list(next_ids.values()))
        return cubes, next_ids, vectors

    def _retrieve(self, plan: SearchPlan, query_vector: Sequence[float] | None, *,
                  touch: bool = True) -> list[SearchHit]:
        """Rank, load the hits in full (with history) and, with ``touch``, count the access."""
        hits = self._rank(plan, query_vector)
        cubes = self.records.get([h.id for h in hits])
        out = [SearchHit(cube=c, score=h.score, reasons=dict(h.reasons), rank=i + 1)
               for i, (h, c) in enumerate(zip(hits, cubes)) if c is not None]
        if touch and out and self.config.track_access:
            self.records.touch([h.cube.id for h in out], utcnow())
        return out

    def _vector_candidates(self, cq: CubeQuery, query_vector: Sequence[float], pool: int) -> list[ScoredId]:
        """The ``pool`` nearest cubes among those matching ``cq`` (every filter, scope and tier).

        * Few matches (at most ``exact_limit``, found with one ids-only query): exact
          cosine over their stored float32 embeddings.
        * Many matches: the vector index is asked without a ``where`` (a Chroma
          metadata filter costs tens of milliseconds per 100k vectors, an unfiltered
          ANN query a few), over-fetching, and each round's ids are checked against
          ``cq`` in the record store (ids only). The next round's size follows the
          share that passed, until ``pool`` pass or the index has nothing more; past
          ``max_fetch`` the exact path answers. So restrictive filters never starve
          the pool, and archive, expired or unindexed cubes are handled exactly.
        """
        exact_limit = max(2000, 4 * pool)  # ~10 ms of float32 reads from SQLite
        max_fetch = 16 * exact_limit
        matching = self.records.query_ids(cq, limit=exact_limit + 1, order_by=None)
        if len(matching) <= exact_limit:
            return exact_vector_search(query_vector, self.records.embeddings(matching), pool)
        # embeddings still waiting for the index (another writer is indexing them) are scored exactly
        pending = self.records.unindexed_ids(limit=max_fetch + 1)
        if len(pending) > max_fetch:
            return exact_vector_search(query_vector, self.records.embeddings(self.records.query_ids(cq, order_by=None)),
                                       pool)
        waiting = exact_vector_search(query_vector, self.records.embeddings(self.records.query_ids(
            replace(cq, ids=frozenset(pending) if cq.ids is None else frozenset(pending) & cq.ids), order_by=None)),
            pool) if pending else []
        fetch = 2 * pool
        while True:
            hits = self.vectors.search(query_vector, fetch)
            if not hits:
                break
            fetched = frozenset(h.id for h in hits)
            allowed = set(self.records.query_ids(
                replace(cq, ids=fetched if cq.ids is None else fetched & cq.ids), order_by=None))
            kept = [h for h in hits if h.id in allowed]
            if len(kept) >= pool or len(hits) < fetch:
                return _merge_scored(kept, waiting, pool)
            if fetch >= max_fetch:
                break
            share = len(kept) / len(hits)
            fetch = min(max_fetch, max(2 * fetch, int(1.5 * pool / share) + 1 if share else 16 * fetch))
        ids = self.records.query_ids(cq, order_by=None)
        return exact_vector_search(query_vector, self.records.embeddings(ids), pool)

    def search(self, query: str, namespace: Sequence[str] = (), k: int = 10, **options: Any) -> list[SearchHit]:
        """Hybrid search: vector + BM25 + recency (+ graph once present), fused and de-duplicated.

        Args:
            query: Free text. An empty string lists the most recent cubes.
            namespace: A namespace prefix to search under.
            k: How many hits to return.
            **options: ``filters`` (metadata filter, see :mod:`langchain_memos.filters`),
                ``time_range`` (``(start, end)`` on ``created_at``), ``as_of`` (facts valid
                then), ``tiers`` (default: all but archive), ``types``, ``user`` (only
                cubes this user may read), ``min_score`` (relevance floor), ``max_tokens``
                (token budget of the returned contents), ``mmr`` (diversity on/off).

        Returns:
            Hits, best first, each with ``score`` and ``reasons``.
        """
        plan = self._plan(query, namespace, k, options)
        vector = self.embeddings.embed_query(self._embedding_text(plan)) if plan.query.strip() else None
        return self._retrieve(plan, vector)

    async def asearch(self, query: str, namespace: Sequence[str] = (), k: int = 10,
                      **options: Any) -> list[SearchHit]:
        """Async twin of :meth:`search`."""
        plan = self._plan(query, namespace, k, options)
        if not plan.query.strip():
            return await asyncio.to_thread(self._retrieve, plan, None)
        vector = await self.embeddings.aembed_query(await asyncio.to_thread(self._embedding_text, plan))
        return await asyncio.to_thread(self._retrieve, plan, vector)

    # --- issue #18: the dense index gets the query as its answer would be said
    def _speakers(self, cq: CubeQuery) -> list[str]:
        """The speakers of the memories ``cq`` selects (at most 100)."""
        return [s for s in self.records.distinct_metadata(cq, "speaker", limit=100) if isinstance(s, str)]

    def _embedding_text(self, plan: SearchPlan) -> str:
        """What the query is embedded as (:func:`~langchain_memos.retrieval.query.embedding_text`)."""
        return embedding_text(plan.query, self._speakers(plan.cube_query))

    # ------------------------------------------------------------------ changes
    def _apply_update(self, cube: MemCube, changes: dict[str, Any], *, reason: str, actor: str | None) -> PlannedCube:
        """Pure step: the new version of ``cube`` with ``changes``; the old one goes to history."""
        allowed = {"content", "metadata", "tags", "importance", "memory_type", "tier", "status", "valid_from",
                   "valid_to", "expires_at", "permissions", "owner", "language", "source", "provenance"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInputError(f"cannot update fields {sorted(unknown)}; updatable: {sorted(allowed)}")
        if "content" in changes:
            validate_content(changes["content"], max_chars=self.config.max_content_chars)
        if "metadata" in changes:
            if not isinstance(changes["metadata"], Mapping):
                raise InvalidInputError(f"metadata must be a dict, got {type(changes['metadata']).__name__}")
            validate_json_value(changes["metadata"], what="metadata")
        now = utcnow()
        entry = HistoryEntry(version=cube.version, content=cube.content, metadata=cube.metadata, changed_at=now,
                             reason=reason, actor=actor, snapshot=cube.snapshot())
        try:
            new = cube.copy(**changes)
            new.version = cube.version + 1
            new.updated_at = now
            new.history = [*cube.history, entry]
            new.__post_init__()
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise InvalidInputError(f"cannot update {sorted(changes)} of cube {cube.id} ({exc}); pass values of "
                                    "the types MemCube declares for these fields") from exc
        return PlannedCube.for_cube(new, reembed=("content" in changes and changes["content"] != cube.content))

    def _plan_update(self, cube_id: str, changes: dict[str, Any], reason: str, user: str | None) -> PlannedCube:
        user = self._user(user)
        return self._apply_update(self._require(cube_id, user, write=True), changes, reason=reason, actor=user)

    def update(self, cube_id: str, *, reason: str = "update", user: str | None = None, **changes: Any) -> MemCube:
        """Change a cube; the previous version is kept in its history.

        Example:
            ``memos.update(cube_id, content="Alice now prefers coffee")``
        """
        planned = self._plan_update(cube_id, changes, reason, user)
        texts = [planned.embed_text] if planned.embed_text is not None else []
        self._commit([planned], self._embed_documents(texts))
        if planned.embed_text is not None:  # the content changed: so may its facts
            self._reextract(planned.cube)
        return planned.cube

    async def aupdate(self, cube_id: str, *, reason: str = "update", user: str | None = None,
                      **changes: Any) -> MemCube:
        """Async twin of :meth:`update`."""
        planned = await asyncio.to_thread(self._plan_update, cube_id, changes, reason, user)
        texts = [planned.embed_text] if planned.embed_text is not None else []
        await asyncio.to_thread(self._commit, [planned], await self._aembed_documents(texts))
        if planned.embed_text is not None:
            await asyncio.to_thread(self._reextract, planned.cube)
        return planned.cube

    def promote(self, cube_id: str, tier: Tier | str, *, reason: str = "promote", user: str | None = None) -> MemCube:
        """Move a cube to another tier (up or down). Archive takes it out of the hot indexes."""
        tier = validate_enum(Tier, tier, what="tier")
        status = Status.ARCHIVED if tier is Tier.ARCHIVE else (
            Status.ACTIVATED if tier in (Tier.ACTIVATION, Tier.WORKING) else None)
        changes: dict[str, Any] = {"tier": tier}
        if status is not None:
            changes["status"] = status
        return self.update(cube_id, reason=reason, user=user, **changes)

    def demote(self, cube_id: str, tier: Tier | str, *, reason: str = "demote", user: str | None = None) -> MemCube:
        """Move a cube to a colder tier (same as :meth:`promote`, named for intent)."""
        return self.promote(cube_id, tier, reason=reason, user=user)

    async def apromote(self, cube_id: str, tier: Tier | str, *, reason: str = "promote",
                       user: str | None = None) -> MemCube:
        """Async twin of :meth:`promote`."""
        return await asyncio.to_thread(self.promote, cube_id, tier, reason=reason, user=user)

    def _delete(self, ids: Sequence[str], reason: str, user: str | None) -> list[str]:
        user = self._user(user)
        for cube in self.records.get(list(ids)):
            if cube is not None and not cube.can_write(user):
                raise PermissionDeniedError(f"user {user!r} may not delete cube {cube.id!r} owned by {cube.owner!r}")
        deleted = self.records.delete(list(ids), reason=reason, actor=user)
        self.drop_derived(deleted, reason=reason)
        return deleted

    def delete(self, ids: str | Sequence[str], *, reason: str = "delete", user: str | None = None) -> list[str]:
        """Delete cubes; each delete is written to the audit log. Returns the ids deleted."""
        return self._delete([ids] if isinstance(ids, str) else list(ids), reason, user)

    async def adelete(self, ids: str | Sequence[str], *, reason: str = "delete", user: str | None = None) -> list[str]:
        """Async twin of :meth:`delete`."""
        return await asyncio.to_thread(self.delete, ids, reason=reason, user=user)

    def _plan_fuse(self, ids: Sequence[str], content: str | None, user: str | None,
                   options: dict[str, Any]) -> list[PlannedCube]:
        user = self._user(user)
        if len(ids) < 2:
            raise InvalidInputError("fuse needs at least two cube ids")
        sources = [self._require(i, user, write=True) for i in ids]
        namespace = sources[0].namespace
        if any(s.namespace != namespace for s in sources):
            raise InvalidInputError("fuse takes cubes of one namespace; move them first")
        fused_text = content if content is not None else _merge_contents([s.content for s in sources])
        provenance: list[Provenance] = []
        for s in sources:
            for p in s.provenance:
                if p not in provenance:
                    provenance.append(p)
            provenance.append(Provenance(kind="cube", ref=s.id, detail={"version": s.version}))
        metadata: dict[str, Any] = {}
        for s in sources:
            metadata.update(s.metadata)
        metadata.update(options.pop("metadata", {}) or {})
        fused = MemCube(
            content=fused_text, namespace=namespace, memory_type=options.pop("memory_type", sources[0].memory_type),
            tier=options.pop("tier", min((s.tier for s in sources), key=list(Tier).index)),
            status=Status.FUSED, metadata=metadata, provenance=provenance,
            importance=max(s.importance for s in sources), heat=sum(s.heat for s in sources),
            access_count=sum(s.access_count for s in sources),
            created_at=min(s.created_at for s in sources),
            valid_from=min((s.valid_from for s in sources if s.valid_from), default=None),
            tags=tuple(dict.fromkeys(t for s in sources for t in s.tags)), owner=sources[0].owner,
            permissions=sources[0].permissions, source="fuse", **options,
        )
        validate_content(fused.content, max_chars=self.config.max_content_chars)
        planned = [PlannedCube.for_cube(fused, reembed=True)]
        for s in sources:
            changes = {"status": Status.FUSED, "tier": Tier.ARCHIVE,
                       "metadata": {**s.metadata, "fused_into": fused.id}}
            planned.append(self._apply_update(s, changes, reason="fuse", actor=user))
        return planned

    def fuse(self, ids: Sequence[str], *, content: str | None = None, user: str | None = None,
             **options: Any) -> MemCube:
        """Merge cubes into one new cube that keeps the provenance of all.

        The sources are archived (status ``fused``, ``metadata["fused_into"]`` set)
        and stay retrievable with :meth:`get` and archive search.
        """
        planned = self._plan_fuse(list(ids), content, user, dict(options))
        self._commit(planned, self._embed_documents([p.embed_text for p in planned if p.embed_text]))
        return planned[0].cube

    async def afuse(self, ids: Sequence[str], *, content: str | None = None, user: str | None = None,
                    **options: Any) -> MemCube:
        """Async twin of :meth:`fuse`."""
        planned = await asyncio.to_thread(self._plan_fuse, list(ids), content, user, dict(options))
        vectors = await self._aembed_documents([p.embed_text for p in planned if p.embed_text])
        await asyncio.to_thread(self._commit, planned, vectors)
        return planned[0].cube

    def expire(self, *, now: Any = None, reason: str = "ttl expired") -> list[str]:
        """Forget every cube whose ``expires_at`` has passed; each deletion is audited with ``reason``."""
        when = to_utc(now) or utcnow()
        expired = self.records.expired_ids(when)
        deleted = self.records.delete(expired, reason=reason, actor="memos:ttl") if expired else []
        self.drop_derived(deleted, reason=reason)
        return deleted

    async def aexpire(self, *, now: Any = None, reason: str = "ttl expired") -> list[str]:
        """Async twin of :meth:`expire`."""
        return await asyncio.to_thread(self.expire, now=now, reason=reason)

    # ------------------------------------------------------------ forgetting
    def add_forget_hook(self, hook: ForgetHook) -> None:
        """Register a cleanup that :meth:`delete_user` and :meth:`forget_namespace` call after their own erasure.

        Engines that keep copies outside the record store and vector index (graph,
        adapters, KV caches, archive files) register here; see :mod:`langchain_memos.forget`.
        """
        self.forget_hooks.append(hook)

    def _forget(self, user: str | None, namespaces: Iterable[Sequence[str]]) -> list[str]:
        prefixes = tuple(validate_namespace(ns) for ns in namespaces)
        everything = frozenset(Status)
        ids: set[str] = set()
        if user is not None:
            ids.update(self.records.query_ids(CubeQuery(statuses=everything, include_expired=True, cube_conditions=(
                Condition(("owner",), "$eq", user),)), order_by=None))
        for prefix in prefixes:
            ids.update(self.records.query_ids(CubeQuery(namespace_prefix=prefix, statuses=everything,
                                                        include_expired=True), order_by=None))
        wanted = sorted(ids)
        erased = self.records.erase(wanted, namespaces=prefixes, actors=[user] if user is not None else [])
        self.drop_derived(wanted, reason="erase")  # vectors, graph sources, change listeners (adapters go stale)
        if self._graph is not None:
            for prefix in prefixes:
                self._graph.store.delete_namespace(prefix)
        run_forget_hooks(self.forget_hooks, ForgetRequest(user=user, namespaces=prefixes, cube_ids=tuple(wanted)))
        return erased

    def delete_user(self, user: str, *, namespaces: Iterable[Sequence[str]] = ()) -> list[str]:
        """Erase every trace of a user; return the ids of the cubes erased.

        Erased: every cube the user owns (any namespace, any tier, the archive
        included) and every cube under ``namespaces`` (e.g. ``[("users", user)]``),
        with their history, embeddings, vectors and keyword rows; the content kept by
        their audit records and the user's name as an audit actor; then what each
        :meth:`add_forget_hook` hook holds. Idempotent: call it again after a failure.

        Raises:
            InvalidInputError: ``user`` is not a non-empty string, or a namespace is invalid.
            StorageError: A forget hook failed (the stores are already erased).
        """
        if not isinstance(user, str) or not user:
            raise InvalidInputError(f"delete_user() needs the user id as a non-empty string, got {user!r}")
        return self._forget(user, namespaces)

    def forget_namespace(self, namespace: Sequence[str]) -> list[str]:
        """Erase every cube under a namespace prefix as :meth:`delete_user` does; return the ids erased."""
        return self._forget(None, [namespace])

    async def adelete_user(self, user: str, *, namespaces: Iterable[Sequence[str]] = ()) -> list[str]:
        """Async twin of :meth:`delete_user`."""
        return await asyncio.to_thread(self.delete_user, user, namespaces=namespaces)

    async def aforget_namespace(self, namespace: Sequence[str]) -> list[str]:
        """Async twin of :meth:`forget_namespace`."""
        return await asyncio.to_thread(self.forget_namespace, namespace)

    # -------------------------------------------------------------- integrity
    def check(self, *, repair: bool = True) -> IntegrityReport:
        """Compare the record store and the vector index; re-index or drop what drifted.

        Embeddings still waiting for the index (write-behind, or a crash between the
        record commit and the index write) are indexed first when ``repair``; then
        every hot cube with an embedding must have a vector and every vector a cube.
        Run it when no other process is writing, or it may see their writes in flight.
        """
        report = IntegrityReport()
        if repair:
            report.repaired += self._index(wait=True) or 0  # embeddings a crash or another writer left waiting
        report.records = self.records.count(CubeQuery(statuses=frozenset(Status), include_expired=True))
        indexed = self.vectors.ids()
        report.vectors = len(indexed)
        expected = self.records.query_ids(CubeQuery(tiers=frozenset(HOT_TIERS), statuses=frozenset(Status),
                                                    include_expired=True), order_by=None)
        with_vectors = set(self.records.embeddings(sorted(expected)))
        report.missing_vectors = sorted(with_vectors - indexed)
        report.orphan_vectors = sorted(indexed - with_vectors)
        problems = len(report.missing_vectors) + len(report.orphan_vectors)
        if repair and problems:
            if report.orphan_vectors:
                self.vectors.delete(report.orphan_vectors)
            if report.missing_vectors:
                self.records.mark_indexed(report.missing_vectors, False)
                self._index(wait=True)
            self.records.audit([AuditRecord(action="repair", cube_id=None, namespace=(), at=utcnow(),
                                            reason="integrity check",
                                            detail={"missing_vectors": len(report.missing_vectors),
                                                    "orphan_vectors": len(report.orphan_vectors)})])
            report.repaired += problems
        else:
            report.unrepaired = problems
        for hook in self.check_hooks:  # engines with their own copies (e.g. graph tables)
            found, fixed = hook(repair)
            report.repaired += fixed
            report.unrepaired += max(found - fixed, 0)
        return report

    def add_check_hook(self, hook: Callable[[bool], tuple[int, int]]) -> None:
        """Register an integrity check that :meth:`check` runs after its own.

        ``hook(repair)`` compares an engine's copies with the record store (e.g. graph
        tables against cubes), repairs when ``repair`` is true, and returns
        ``(problems_found, problems_repaired)``; the rest counts as unrepaired.
        """
        self.check_hooks.append(hook)

    async def acheck(self, *, repair: bool = True) -> IntegrityReport:
        """Async twin of :meth:`check`."""
        return await asyncio.to_thread(self.check, repair=repair)

    # ------------------------------------------------- lifecycle hooks (used by the scheduler)
    def embed_query(self, text: str, namespace: Sequence[str] | None = None) -> list[float]:
        """The query embedding :meth:`search` would compute for ``text`` under ``namespace``
        (reuse it with :meth:`search_by_vector`); without a namespace, of ``text`` as it is."""
        if namespace is None or not text.strip():
            return self.embeddings.embed_query(text)
        return self.embeddings.embed_query(self._embedding_text(self._plan(text, namespace, 1, {})))

    def search_by_vector(self, query: str, query_vector: Sequence[float] | None, namespace: Sequence[str] = (),
                         k: int = 10, *, touch: bool = True, **options: Any) -> list[SearchHit]:
        """:meth:`search` with a query embedding computed before (one embedding for several searches).

        ``query_vector`` must come from this instance's embedder (:meth:`embed_query`);
        ``None`` ranks by keywords only. ``touch=False`` records no access (a prediction,
        not a read). Other options are those of :meth:`search`.
        """
        plan = self._plan(query, namespace, k, options)
        vector = query_vector if plan.query.strip() else None
        return self._retrieve(plan, vector, touch=touch)

    def search_within(self, query: str, query_vector: Sequence[float] | None, ids: Iterable[str],
                      namespace: Sequence[str] = (), k: int = 10, *, touch: bool = True,
                      **options: Any) -> list[SearchHit]:
        """Rank only the cubes ``ids`` (any tier, the archive included) as :meth:`search` ranks.

        Used to re-rank a candidate set, e.g. hot hits together with the archived sources of
        the summaries among them. ``query_vector`` as in :meth:`search_by_vector`; other
        options (``tiers`` too) further restrict the set.
        """
        wanted = frozenset(ids)
        if not wanted:
            return []
        options = {**options, "tiers": options.get("tiers", list(Tier))}
        plan = self._plan(query, namespace, k, options)
        plan = replace(plan, cube_query=replace(plan.cube_query, ids=wanted))
        vector = query_vector if plan.query.strip() else None
        return self._retrieve(plan, vector, touch=touch)

    def mark_used(self, ids: str | Sequence[str], *, visits: int = 3, at: Any = None) -> None:
        """Record that cubes were used (e.g. in an answer): each counts ``visits`` accesses.

        Heat (:mod:`langchain_memos.scheduler.heat`) grows with accesses, so used cubes
        stay in the hot tiers. Unknown ids are ignored.
        """
        ids = [ids] if isinstance(ids, str) else list(ids)
        if visits < 1:
            raise InvalidInputError(f"visits must be >= 1, got {visits}")
        if ids:
            self.records.touch([i for i in ids for _ in range(int(visits))], to_utc(at) or utcnow())

    async def amark_used(self, ids: str | Sequence[str], *, visits: int = 3, at: Any = None) -> None:
        """Async twin of :meth:`mark_used`."""
        await asyncio.to_thread(self.mark_used, ids, visits=visits, at=at)

    def move_tiers(self, moves: Sequence[TierMove] | Mapping[str, Tier | str], *, reason: str = "move",
                   actor: str | None = None, at: Any = None) -> list[str]:
        """Move many cubes between tiers at once (one transaction), without new versions.

        Unlike :meth:`promote`, a move keeps ``version``, ``updated_at`` and history and
        writes an audit record (``"tier_move"``) instead. Cubes moved to the archive
        leave the vector index (they stay in :meth:`get` and archive search); cubes
        moved into a hot tier are (re)indexed. A crash between the record commit and
        the vector index update is repaired by :meth:`check`.

        Args:
            moves: :class:`~langchain_memos.storage.base.TierMove` objects (version checks,
                working-set threads), or a mapping ``id -> tier``.
            reason: Audit reason for moves given as a mapping.
            actor: Who moved them (audit).
            at: When (default now).

        Returns:
            The ids whose tier changed.
        """
        if isinstance(moves, Mapping):
            moves = [TierMove(id=i, tier=Tier(t), reason=reason) for i, t in moves.items()]
        moved = self.records.move_tiers(list(moves), to_utc(at) or utcnow(), actor=actor)
        self._changes.emit(MemChange(written=tuple(self.sync_vectors(moved)), reason="tier_move"))
        return moved

    async def amove_tiers(self, moves: Sequence[TierMove] | Mapping[str, Tier | str], *, reason: str = "move",
                          actor: str | None = None, at: Any = None) -> list[str]:
        """Async twin of :meth:`move_tiers`."""
        return await asyncio.to_thread(self.move_tiers, moves, reason=reason, actor=actor, at=at)

    def sync_vectors(self, ids: Sequence[str]) -> list[MemCube]:
        """Make the vector index agree with the stored tier of these cubes (archived out, hot in); returns them."""
        if not ids:
            return []
        cubes = self.records.query(CubeQuery(ids=frozenset(ids), statuses=frozenset(Status), include_expired=True),
                                   with_history=False)
        cold = [c.id for c in cubes if c.tier is Tier.ARCHIVE]
        if cold:
            self.vectors.delete(cold)
        hot = [c.id for c in cubes if c.tier is not Tier.ARCHIVE]
        if hot:
            self.records.mark_indexed(list(self.records.embeddings(hot)), False)  # refresh their tier labels
            self._index(wait=False)
        return cubes


def _merge_scored(first: Sequence[ScoredId], second: Sequence[ScoredId], k: int) -> list[ScoredId]:
    """The ``k`` best of two scored lists (an id in both keeps its higher score)."""
    if not second:
        return list(first[:k])
    best: dict[str, ScoredId] = {}
    for hit in [*first, *second]:
        if hit.id not in best or hit.score > best[hit.id].score:
            best[hit.id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.id))[:k]


def _merge_contents(contents: Sequence[str]) -> str:
    """Join distinct contents, dropping ones contained in another (the no-LLM fuse)."""
    unique: list[str] = []
    for text in sorted(dict.fromkeys(c.strip() for c in contents if c.strip()), key=len, reverse=True):
        if not any(text.lower() in kept.lower() for kept in unique):
            unique.append(text)
    order = {c.strip(): i for i, c in enumerate(contents)}
    return " ".join(sorted(unique, key=lambda t: order.get(t, 0)))

