"""The MemOS facade: add, get, search, update, delete, fuse, promote (and async twins).

:class:`MemOS` is a thin shell over a :class:`~langchain_memos.engine.MemoryEngine`: a
:class:`~langchain_memos.storage.base.RecordStore` (SQLite: records, history, BM25, audit,
embeddings) is the source of truth, a :class:`~langchain_memos.storage.base.VectorIndex`
(Chroma) is derived from it, and the optional graph answers the graph queries.

Each operation is a flow of named engine steps (see :mod:`langchain_memos.engine`): pure
steps plan, I/O steps embed, read and commit. The sync method runs the flow with
:func:`~langchain_memos.engine.run`, its ``a``-prefixed twin with
:func:`~langchain_memos.engine.arun` (the embedder's async API, storage I/O in a thread).

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
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from langchain_core.embeddings import Embeddings

from . import engine as steps
from .config import MemOSConfig
from .cube import HistoryEntry, MemCube, MemoryType, Tier, to_utc, utcnow
from .engine import EngineField, IntegrityReport, MemoryEngine, SearchHit, SearchResults
from .errors import EngineUnavailableError, InvalidInputError, MemOSError
from .events import ChangeListeners, Listener, MemChange
from .forget import ForgetHook
from .retrieval.fusion import RetrievalConfig
from .storage.base import AuditRecord, RecordStore, TierMove, VectorIndex
from .validation import validate_namespace


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
        config = config or MemOSConfig()
        if path is not None:
            config.path = path
        if embeddings is None:
            from .embeddings import default_embeddings

            embeddings = default_embeddings()
        if records is None or vectors is None:
            opened_records, opened_vectors = steps.open_engines(config)
            records = records or opened_records
            vectors = vectors or opened_vectors
        records.setup()
        from .graph.memory import GraphMemory

        store = graph if graph is not None else steps.open_graph(config, records)
        memory = GraphMemory(store, extractor, fact_cubes=config.fact_cubes) if store is not None else None
        #: The engine: every operation below is a flow of its named steps.
        self.engine = MemoryEngine(config, embeddings, retrieval or RetrievalConfig(), records, vectors, memory)
        self._changes: ChangeListeners = self.engine.changes
        self._sections: list[Any] = []
        if store is not None:
            from .transfer import TableSection

            self._sections.append(TableSection("graph", store))
            self.engine.check_hooks.append(lambda repair: steps.check_graph(self.engine, repair))
        self._closed = False

    # ------------------------------------------------------------ engines (attributes of self.engine)
    config = EngineField("The settings (:class:`~langchain_memos.config.MemOSConfig`).")
    retrieval = EngineField("The retrieval settings (weights, pools, MMR, floor, budget).")
    embeddings = EngineField("The embedder (any LangChain ``Embeddings``).")
    records = EngineField("The record store (source of truth).")
    vectors = EngineField("The vector index (derived from the record store).")
    forget_hooks = EngineField("The cleanups :meth:`delete_user` and :meth:`forget_namespace` run.")
    check_hooks = EngineField("The checks :meth:`check` runs after its own (see :meth:`add_check_hook`).")

    # ------------------------------------------------------------ construction
    @classmethod
    def ephemeral(cls, **kwargs: Any) -> "MemOS":
        """An in-memory instance (SQLite ``:memory:`` and an in-memory faiss index)."""
        config = kwargs.pop("config", None) or MemOSConfig(path=None)
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
                self.engine.index(wait=True)
            except MemOSError:
                pass  # the rows stay flagged in the record store; the next open's check() indexes them
            self.engine.close()

    def __enter__(self) -> "MemOS":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "MemOS":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)  # indexing and closing engines block: never on the event loop

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
        return self.engine.dim()

    def _user(self, user: str | None) -> str | None:
        return self.engine.reader(user)

    # --------------------------------------------------------------- write path
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
        return steps.run(self.engine, steps.add_flow(self.engine, items, namespace, options))

    async def aadd(self, items: Any, namespace: Sequence[str], **options: Any) -> list[str]:
        """Async twin of :meth:`add`."""
        return await steps.arun(self.engine, steps.add_flow(self.engine, items, namespace, options))

    # ------------------------------------------------------------------ graph
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
        return steps.run(self.engine, steps.extract_flow(self.engine, wanted, user))

    async def aextract(self, ids: str | Sequence[str], *, user: str | None = None) -> int:
        """Async twin of :meth:`extract`."""
        self._require_graph()
        wanted = [ids] if isinstance(ids, str) else list(ids)
        return await steps.arun(self.engine, steps.extract_flow(self.engine, wanted, user))

    def drop_derived(self, deleted: Sequence[str], *, reason: str = "delete") -> None:
        """Remove what was derived from cubes already deleted from the record store.

        Their vectors leave the vector index and their graph traces go: relations lose them as
        a source, relations left without a source are deleted with their fact cubes, and so are
        entities no relation uses; then the change listeners hear of the removal (adapters
        distilled from these cubes go stale). Every delete path (``delete``, ``expire``,
        ``delete_namespace``, ``delete_user``, the lifecycle's ``forget``) calls it.
        """
        self.engine.drop_derived(deleted, reason=reason)

    def _require_graph(self) -> Any:
        if self.engine.graph is None:
            raise EngineUnavailableError("this MemOS has no graph; create it with MemOSConfig(graph_backend='sqlite') "
                                         "or 'neo4j'")
        return self.engine.graph

    @property
    def graph(self) -> Any:
        """The :class:`~langchain_memos.graph.base.GraphStore` (``None`` when ``graph_backend`` is ``None``)."""
        return self.engine.graph.store if self.engine.graph is not None else None

    @property
    def graph_stats(self) -> Any:
        """Running totals of extraction (:class:`~langchain_memos.graph.memory.GraphStats`), or ``None``."""
        return self.engine.graph.stats if self.engine.graph is not None else None

    def entities(self, namespace: Sequence[str] = (), *, kind: str | None = None,
                 limit: int | None = None) -> list[Any]:
        """Entities of the graph under a namespace prefix (:class:`~langchain_memos.graph.model.Entity`).

        Raises:
            EngineUnavailableError: The instance has no graph (``graph_backend=None``).
        """
        return self._require_graph().entities(namespace, kind=kind, limit=limit)

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
        return self._require_graph().relations(namespace, entity=entity, predicate=predicate, as_of=as_of,
                                               current=current, limit=limit,
                                               readable=self.engine.source_check(self._user(user)))

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
        return self._require_graph().facts(namespace, as_of=as_of, history=history, entity=entity,
                                           readable=self.engine.source_check(self._user(user)))

    async def afacts(self, namespace: Sequence[str] = (), *, as_of: Any = None, history: bool = False,
                     entity: str | None = None, user: str | None = None) -> list[Any]:
        """Async twin of :meth:`facts`."""
        return await self._require_graph().afacts(namespace, as_of=as_of, history=history, entity=entity,
                                                  readable=self.engine.source_check(self._user(user)))

    def neighbours(self, name: str, namespace: Sequence[str], *, hops: int = 1, as_of: Any = None) -> list[Any]:
        """Entities within ``hops`` (1 or 2) of the entity ``name`` refers to in ``namespace``."""
        return self._require_graph().neighbours(name, namespace, hops=hops, as_of=as_of)

    def delete_namespace(self, namespace: Sequence[str], *, reason: str = "delete namespace",
                         user: str | None = None) -> list[str]:
        """Delete every cube under a namespace prefix and every graph trace of it (user deletion).

        Returns:
            The ids of the cubes deleted.
        """
        return steps.delete_namespace(self.engine, namespace, reason, self._user(user))

    async def adelete_namespace(self, namespace: Sequence[str], *, reason: str = "delete namespace",
                                user: str | None = None) -> list[str]:
        """Async twin of :meth:`delete_namespace`."""
        return await asyncio.to_thread(self.delete_namespace, namespace, reason=reason, user=user)

    def restore(self, cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None]) -> list[str]:
        """Write cubes exactly as given (ids, versions, history, tiers, times) with their stored embeddings.

        The import half of :mod:`langchain_memos.transfer`: nothing is re-embedded; a cube
        without an embedding is stored without a vector (and is not keyword-indexed), as it
        was exported. Existing ids are replaced.

        Raises:
            InvalidInputError: Lengths differ, or a cube or embedding is invalid; nothing is written.
        """
        return self.engine.commit(steps.plan_restore(cubes, embeddings), [v for v in embeddings if v is not None])

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
        return self.engine.read(ids, self._user(user), touch=touch)

    async def aget(self, cube_id: str, *, user: str | None = None, touch: bool = True) -> MemCube | None:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, cube_id, user=user, touch=touch)

    def history(self, cube_id: str, *, user: str | None = None) -> list[HistoryEntry]:
        """Earlier versions of a cube, oldest first."""
        return list(self.engine.require(cube_id, self._user(user), write=False).history)

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records (deletes, expiries, repairs), optionally for one cube."""
        return self.engine.audit_log(cube_id, limit)

    def list(self, namespace: Sequence[str] = (), *, tiers: Iterable[Tier | str] | None = None,
             types: Iterable[MemoryType | str] | None = None, filters: Mapping[str, Any] | None = None,
             user: str | None = None, limit: int = 100, offset: int = 0) -> list[MemCube]:
        """Cubes under a namespace prefix, newest first, without ranking."""
        query = steps.cube_query(namespace, tiers=tiers, types=types, filters=filters, reader=self._user(user),
                                 default_tiers=None)
        return self.engine.cubes(query, limit=limit, offset=offset)

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces under ``prefix``."""
        return self.engine.namespaces(validate_namespace(prefix, allow_empty=True))

    def search(self, query: str, namespace: Sequence[str] = (), k: int = 10, **options: Any) -> SearchResults:
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
            Hits, best first, each with ``score`` and ``reasons``: a list whose ``timings``
            (:class:`~langchain_memos.engine.timings.SearchTimings`) say where the time went.
        """
        return steps.run(self.engine, steps.search_flow(self.engine, query, namespace, k, options))

    async def asearch(self, query: str, namespace: Sequence[str] = (), k: int = 10,
                      **options: Any) -> SearchResults:
        """Async twin of :meth:`search`."""
        return await steps.arun(self.engine, steps.search_flow(self.engine, query, namespace, k, options))

    # ------------------------------------------------------------------ changes
    def update(self, cube_id: str, *, reason: str = "update", user: str | None = None, **changes: Any) -> MemCube:
        """Change a cube; the previous version is kept in its history.

        Example:
            ``memos.update(cube_id, content="Alice now prefers coffee")``
        """
        return steps.run(self.engine, steps.update_flow(self.engine, cube_id, changes, reason, user))

    async def aupdate(self, cube_id: str, *, reason: str = "update", user: str | None = None,
                      **changes: Any) -> MemCube:
        """Async twin of :meth:`update`."""
        return await steps.arun(self.engine, steps.update_flow(self.engine, cube_id, changes, reason, user))

    def promote(self, cube_id: str, tier: Tier | str, *, reason: str = "promote", user: str | None = None) -> MemCube:
        """Move a cube to another tier (up or down). Archive takes it out of the hot indexes."""
        return self.update(cube_id, reason=reason, user=user, **steps.tier_changes(tier))

    def demote(self, cube_id: str, tier: Tier | str, *, reason: str = "demote", user: str | None = None) -> MemCube:
        """Move a cube to a colder tier (same as :meth:`promote`, named for intent)."""
        return self.promote(cube_id, tier, reason=reason, user=user)

    async def apromote(self, cube_id: str, tier: Tier | str, *, reason: str = "promote",
                       user: str | None = None) -> MemCube:
        """Async twin of :meth:`promote`."""
        return await asyncio.to_thread(self.promote, cube_id, tier, reason=reason, user=user)

    def delete(self, ids: str | Sequence[str], *, reason: str = "delete", user: str | None = None) -> list[str]:
        """Delete cubes; each delete is written to the audit log. Returns the ids deleted."""
        return steps.delete(self.engine, [ids] if isinstance(ids, str) else list(ids), reason, self._user(user))

    async def adelete(self, ids: str | Sequence[str], *, reason: str = "delete", user: str | None = None) -> list[str]:
        """Async twin of :meth:`delete`."""
        return await asyncio.to_thread(self.delete, ids, reason=reason, user=user)

    def fuse(self, ids: Sequence[str], *, content: str | None = None, user: str | None = None,
             **options: Any) -> MemCube:
        """Merge cubes into one new cube that keeps the provenance of all.

        The sources are archived (status ``fused``, ``metadata["fused_into"]`` set)
        and stay retrievable with :meth:`get` and archive search.
        """
        return steps.run(self.engine, steps.fuse_flow(self.engine, ids, content, user, dict(options)))

    async def afuse(self, ids: Sequence[str], *, content: str | None = None, user: str | None = None,
                    **options: Any) -> MemCube:
        """Async twin of :meth:`fuse`."""
        return await steps.arun(self.engine, steps.fuse_flow(self.engine, ids, content, user, dict(options)))

    def expire(self, *, now: Any = None, reason: str = "ttl expired") -> list[str]:
        """Forget every cube whose ``expires_at`` has passed; each deletion is audited with ``reason``."""
        return steps.expire(self.engine, to_utc(now) or utcnow(), reason)

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
        return steps.forget(self.engine, user, namespaces)

    def forget_namespace(self, namespace: Sequence[str]) -> list[str]:
        """Erase every cube under a namespace prefix as :meth:`delete_user` does; return the ids erased."""
        return steps.forget(self.engine, None, [namespace])

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
        return steps.check(self.engine, repair=repair)

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
        """The query embedding :meth:`search` would compute for ``text`` under ``namespace`` (reuse it with
        :meth:`search_by_vector`); without a namespace, the embedding of ``text`` as it is."""
        if namespace is None or not text.strip():
            return self.engine.embed_query(text)
        plan = steps.plan_query(text, namespace, 1, {}, retrieval=self.retrieval, reader=None)
        return self.engine.embed_query(self.engine.query_text(plan))

    def search_by_vector(self, query: str, query_vector: Sequence[float] | None, namespace: Sequence[str] = (),
                         k: int = 10, *, touch: bool = True, **options: Any) -> list[SearchHit]:
        """:meth:`search` with a query embedding computed before (one embedding for several searches).

        ``query_vector`` must come from this instance's embedder (:meth:`embed_query`);
        ``None`` ranks by keywords only. ``touch=False`` records no access (a prediction,
        not a read). Other options are those of :meth:`search`.
        """
        plan = steps.plan_query(query, namespace, k, options, retrieval=self.retrieval,
                                reader=self._user(options.get("user")))
        return self.engine.retrieve(plan, query_vector if plan.query.strip() else None, touch=touch)

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
        plan = steps.plan_query(query, namespace, k, options, retrieval=self.retrieval,
                                reader=self._user(options.get("user")))
        plan = replace(plan, cube_query=replace(plan.cube_query, ids=wanted))
        return self.engine.retrieve(plan, query_vector if plan.query.strip() else None, touch=touch)

    def mark_used(self, ids: str | Sequence[str], *, visits: int = 3, at: Any = None) -> None:
        """Record that cubes were used (e.g. in an answer): each counts ``visits`` accesses.

        Heat (:mod:`langchain_memos.policy.heat`) grows with accesses, so used cubes
        stay in the hot tiers. Unknown ids are ignored.
        """
        ids = [ids] if isinstance(ids, str) else list(ids)
        if visits < 1:
            raise InvalidInputError(f"visits must be >= 1, got {visits}")
        if ids:
            self.engine.touch([i for i in ids for _ in range(int(visits))], to_utc(at) or utcnow())

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
        return self.engine.move_tiers(list(moves), to_utc(at) or utcnow(), actor)

    async def amove_tiers(self, moves: Sequence[TierMove] | Mapping[str, Tier | str], *, reason: str = "move",
                          actor: str | None = None, at: Any = None) -> list[str]:
        """Async twin of :meth:`move_tiers`."""
        return await asyncio.to_thread(self.move_tiers, moves, reason=reason, actor=actor, at=at)

    def sync_vectors(self, ids: Sequence[str]) -> list[MemCube]:
        """Make the vector index agree with the stored tier of these cubes (archived out, hot in); returns them."""
        return self.engine.sync_vectors(ids)


__all__ = ["IntegrityReport", "MemOS", "SearchHit"]
