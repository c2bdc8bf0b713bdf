"""MemoryEngine: the I/O executor of the memory (embed, commit, index, rank) over its engines.

:class:`MemoryEngine` holds the engines of one memory: a
:class:`~langchain_memos.storage.base.RecordStore` (the source of truth), a derived
:class:`~langchain_memos.storage.base.VectorIndex`, the embedder and the optional
:class:`~langchain_memos.graph.memory.GraphMemory`. Its methods are the named I/O steps;
each reads what a pure step of :mod:`.write` or :mod:`.plans` needs, calls it, and writes.
:class:`~langchain_memos.memos.MemOS`, :class:`~langchain_memos.lifecycle.MemLifecycle` and
:class:`~langchain_memos.integrations.store.MemOSStore` call these steps (the flows of
:mod:`.flows` sequence them once for sync and async callers).

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> from langchain_memos.engine import plan_add, plan_query
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     engine = memos.engine
    ...     planned = plan_add("Alice prefers green tea", ("u",), {}, max_chars=1000)
    ...     ids = engine.commit(planned, engine.embed_documents([p.embed_text for p in planned]))
    ...     plan = plan_query("green tea", ("u",), 3, {}, retrieval=engine.retrieval, reader=None)
    ...     [h.cube.content for h in engine.retrieve(plan, engine.embed_query("green tea"))]
    ['Alice prefers green tea']
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from time import perf_counter
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from langchain_core.embeddings import Embeddings

from ..config import MemOSConfig
from ..cube import CubeView, MemCube, Status, Tier, utcnow
from ..errors import CubeNotFoundError, PermissionDeniedError
from ..events import ChangeListeners, MemChange
from ..forget import ForgetHook
from ..ingest import PlannedCube
from ..retrieval.fusion import Hit, RetrievalConfig
from ..retrieval.pipeline import SearchPlan, rank_candidates, rank_recent, second_round_terms
from ..retrieval.query import QueryAnalysis, analyze_query, embedding_text
from ..storage.base import CubeQuery, KeywordDoc, RecordStore, ScoredId, TierMove, VectorIndex
from ..storage.sync import index_pending
from ..validation import validate_embeddings
from .query_cache import QueryVectors
from .results import SearchHit
from .state import StateSteps
from .timings import SearchResults, SearchTimings
from .vector_steps import VectorSteps
from .write import ThreadKey, checked_vectors, keyword_docs, place, threads_of, unplaced, window


class EngineField:
    """An attribute of a shell (``MemOS``) that is its engine's: reads and writes go to ``shell.engine``.

    Args:
        doc: The attribute's docstring.
    """

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, shell: Any, owner: type | None = None) -> Any:
        return self if shell is None else getattr(shell.engine, self.name)

    def __set__(self, shell: Any, value: Any) -> None:
        setattr(shell.engine, self.name, value)


#: What :meth:`MemoryEngine.load_candidates` gives: the candidates' views, the ids of their next thread units, and
#: both's embeddings.
Loaded = tuple[list[CubeView], dict[str, str], dict[str, Any]]


class Handoff:
    """A signal from one thread to the helper it started: set once, waited for only by another thread (an executor
    that runs the helper's work at once, in the setting thread, does not wait for what that thread does later).

    Example:
        >>> sent = Handoff()
        >>> sent.wait()  # the thread that made it: no wait
        >>> sent.set()
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._owner = threading.get_ident()

    def set(self) -> None:
        """Let the waiting thread go on (idempotent)."""
        self._event.set()

    def wait(self) -> None:
        """Wait until :meth:`set`, unless called in the thread that made it."""
        if threading.get_ident() != self._owner:
            self._event.wait()


def merge_loaded(first: Loaded, second: Loaded) -> Loaded:
    """Two loads of candidates (disjoint ids) as one: the first's cubes, then the second's."""
    return [*first[0], *second[0]], {**first[1], **second[1]}, {**first[2], **second[2]}


class MemoryEngine(StateSteps, VectorSteps):
    """The engines of one memory and the I/O steps over them (reads and bookkeeping: :class:`~.state.StateSteps`;
    a scope's nearest cubes: :class:`~.vector_steps.VectorSteps`).

    Args:
        config: Settings (batch size, limits, default user, access tracking).
        embeddings: The embedder.
        retrieval: Retrieval settings.
        records: The record store (source of truth).
        vectors: The vector index (derived; repaired by ``MemOS.check``).
        graph: The graph side (:class:`~langchain_memos.graph.memory.GraphMemory`), or ``None``.

    Attributes:
        query_vectors: The query embeddings kept by text (:class:`~.query_cache.QueryVectors`,
            ``MemOSConfig.query_cache_size`` of them).
    """

    def __init__(self, config: MemOSConfig, embeddings: Embeddings, retrieval: RetrievalConfig,
                 records: RecordStore, vectors: VectorIndex, graph: Any = None) -> None:
        self.config = config
        self.embeddings = embeddings
        self.retrieval = retrieval
        self.records = records
        self.vectors = vectors
        self.graph = graph
        self.changes = ChangeListeners()
        self.forget_hooks: list[ForgetHook] = []
        self.check_hooks: list[Callable[[bool], tuple[int, int]]] = []
        self._helpers_lock = threading.Lock()
        self._helper_pool: ThreadPoolExecutor | None = None
        self._helper_pid = 0
        self.query_vectors = QueryVectors(config.query_cache_size)
        self._query_embedder = embeddings

    # ------------------------------------------------------------------ reads
    def reader(self, user: str | None) -> str | None:
        """The acting user: ``user``, else ``MemOSConfig.default_user``."""
        return user if user is not None else self.config.default_user

    def dim(self) -> int | None:
        """The dimension of the stored embeddings (``None`` until the first vector is written)."""
        value = self.records.get_meta("embedding_dim")
        return int(value) if value is not None else None

    def require(self, cube_id: str, user: str | None, *, write: bool) -> MemCube:
        """The stored cube ``cube_id`` that ``user`` may read (or change, with ``write``).

        Raises:
            CubeNotFoundError: No such cube, or not readable by ``user``.
            PermissionDeniedError: ``write`` and ``user`` may not change it.
        """
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

    def require_all(self, cube_ids: Sequence[str], user: str | None, *, write: bool) -> list[MemCube]:
        """:meth:`require` for each id, in order."""
        return [self.require(i, user, write=write) for i in cube_ids]

    def read(self, ids: Sequence[str], user: str | None, *, touch: bool) -> list[MemCube | None]:
        """Cubes by id in input order (``None`` where missing or not readable by ``user``); with
        ``touch`` (and ``MemOSConfig.track_access``) the found ones count an access."""
        cubes = [c if c is not None and c.can_read(user) else None for c in self.records.get(list(ids))]
        found = [c.id for c in cubes if c is not None]
        if touch and found and self.config.track_access:
            self.records.touch(found, utcnow())
        return cubes

    def readable_ids(self, ids: Sequence[str], user: str) -> set[str]:
        """The ids among ``ids`` of stored cubes ``user`` may read."""
        return {c.id for c in self.records.get(list(ids)) if c is not None and c.can_read(user)}

    def source_check(self, user: str | None) -> Callable[[list[str]], set[str]] | None:
        """The source check of graph queries for ``user`` (``None``: the trusted caller, no check)."""
        if user is None:
            return None
        return lambda ids: self.readable_ids(ids, user)

    # ------------------------------------------------------------------ embed
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in batches of ``MemOSConfig.embed_batch_size`` (no call for none)."""
        size = self.config.embed_batch_size
        out: list[list[float]] = []
        for start in range(0, len(texts), size):
            out.extend(self.embeddings.embed_documents(list(texts[start:start + size])))
        return out

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents` (the embedder's async API)."""
        size = self.config.embed_batch_size
        out: list[list[float]] = []
        for start in range(0, len(texts), size):
            out.extend(await self.embeddings.aembed_documents(list(texts[start:start + size])))
        return out

    def embed_query(self, text: str) -> list[float]:
        """The query embedding of ``text``: the one kept in :attr:`query_vectors` when there is one, else
        the embedder's (then kept)."""
        kept = self._kept_query_vectors()
        vector = kept.get(text)
        if vector is None:
            vector = self.embeddings.embed_query(text)
            kept.put(text, vector)
        return vector

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query` (the same kept vectors)."""
        kept = self._kept_query_vectors()
        vector = kept.get(text)
        if vector is None:
            vector = await self.embeddings.aembed_query(text)
            kept.put(text, vector)
        return vector

    def _kept_query_vectors(self) -> QueryVectors:
        """:attr:`query_vectors`, emptied first when the embedder was replaced since they were kept."""
        if self._query_embedder is not self.embeddings:
            self.query_vectors.clear()
            self._query_embedder = self.embeddings
        return self.query_vectors

    # ----------------------------------------------------------------- commit
    def thread_context(self, planned: Sequence[PlannedCube]) -> dict[ThreadKey, list[MemCube]]:
        """Place the planned threaded cubes after their thread's last stored position; return
        each thread's stored cubes around them (what :func:`~.write.keyword_docs` needs)."""
        context = self.retrieval.context_turns
        stored: dict[ThreadKey, list[MemCube]] = {}
        for (namespace, thread), members in threads_of(planned).items():
            if unplaced(planned, members):
                place(planned, members, self.records.thread_max_position(namespace, thread))
            start, end = window(planned, members, context)
            stored[(namespace, thread)] = list(self.records.thread_units(namespace, thread, start, end))
        return stored

    def keyword_docs(self, planned: Sequence[PlannedCube]) -> tuple[list[KeywordDoc | None], dict[str, KeywordDoc]]:
        """Keyword documents of ``planned`` and refreshed ones for their stored thread neighbours."""
        return keyword_docs(planned, self.thread_context(planned), self.retrieval.context_turns)

    def commit(self, planned: Sequence[PlannedCube], new_vectors: Sequence[Sequence[float]]) -> list[str]:
        """Write planned cubes atomically, then index their vectors; return their ids.

        Cubes with an ``embed_text`` get ``new_vectors`` (in order); the others keep the
        vector already stored for their id (unchanged content), or get none.

        Raises:
            InvalidInputError: The vectors do not fit (count, dimension, values); nothing is written.
        """
        to_embed = [p for p in planned if p.embed_text is not None]
        rows = checked_vectors(new_vectors, len(to_embed), self.dim())
        cubes = [p.cube for p in planned]
        # placing threaded cubes after their thread's last stored position, and writing them, under the
        # store's write lock: two writers of one thread (a checkpointer and an agent's after-agent hook)
        # would otherwise both place after the same position
        with self.records.write_lock():
            vectors: dict[str, Sequence[float]] = dict(self.records.embeddings(
                [p.cube.id for p in planned if p.embed_text is None and p.index_text is not None]))
            vectors.update({p.cube.id: v for p, v in zip(to_embed, rows)})
            docs, updates = self.keyword_docs(planned)
            replaced = self.records.write(cubes, [vectors.get(c.id) for c in cubes], docs, keyword_updates=updates)
        cold = [c.id for c in cubes if c.tier is Tier.ARCHIVE or c.id not in vectors]
        if replaced or cold:
            self.vectors.delete([*replaced, *cold])
        if any(c.id in vectors and c.tier is not Tier.ARCHIVE for c in cubes):
            self.index(wait=False)
        self.changes.emit(MemChange(written=tuple(cubes), removed=tuple(replaced),
                                    reason=next((c.history[-1].reason for c in cubes if c.history), "add")))
        return [c.id for c in cubes]

    def commit_if_unchanged(self, planned: Sequence[PlannedCube], new_vectors: Sequence[Sequence[float]],
                            expected: Mapping[str, MemCube]) -> bool:
        """:meth:`commit` if every cube in ``expected`` (the reads the plan was made from) still has
        the same version and tier; return whether it committed.

        The check and the commit run while the store's write lock is held, so no write of
        this process lands in between. Access counts that arrived since the plan was made
        are carried over.
        """
        with self.records.write_lock():
            fresh = {c.id: c for c in self.records.get(list(expected)) if c is not None}
            if any(cid not in fresh or (fresh[cid].version, fresh[cid].tier) != (read.version, read.tier)
                   for cid, read in expected.items()):
                return False
            for p in planned:
                current = fresh.get(p.cube.id)
                if current is not None:
                    p.cube.access_count = current.access_count
                    p.cube.last_accessed_at = current.last_accessed_at
            self.commit(list(planned), new_vectors)
        return True

    def index(self, *, wait: bool = False) -> int | None:
        """Move embeddings waiting in the record store into the vector index (see :mod:`~langchain_memos.storage.sync`).

        ``wait=False``: when another thread or process is indexing, leave ours to it;
        searches score waiting embeddings exactly until then.
        """
        in_worker = getattr(self.vectors, "index_pending", None)
        if in_worker is not None:
            return in_worker(self.records, wait=wait)
        return index_pending(self.records, self.vectors, wait=wait)

    def move_tiers(self, moves: Sequence[TierMove], at: datetime, actor: str | None) -> list[str]:
        """Move cubes between tiers in one transaction (no new versions; audited), then make the
        vector index agree (:meth:`sync_vectors`) and tell the listeners; returns the ids moved."""
        moved = self.records.move_tiers(list(moves), at, actor=actor)
        # the record store flagged the cubes back from the archive; a move between hot tiers leaves the index
        self.changes.emit(MemChange(written=tuple(self._vectors_follow(moved, reindex_hot=False)), reason="tier_move"))
        return moved

    def sync_vectors(self, ids: Sequence[str]) -> list[MemCube]:
        """Make the vector index agree with the stored tier of these cubes (archived out, hot indexed again)."""
        return self._vectors_follow(ids, reindex_hot=True)

    def _vectors_follow(self, ids: Sequence[str], *, reindex_hot: bool) -> list[MemCube]:
        """Delete the vectors of the archived ones among ``ids``, index what waits (with ``reindex_hot``,
        every hot one's embedding again); returns the cubes."""
        if not ids:
            return []
        cubes = self.records.query(CubeQuery(ids=frozenset(ids), statuses=frozenset(Status), include_expired=True),
                                   with_history=False)
        cold = [c.id for c in cubes if c.tier is Tier.ARCHIVE]
        if cold:
            self.vectors.delete(cold)
        hot = [c.id for c in cubes if c.tier is not Tier.ARCHIVE]
        if hot:
            if reindex_hot:
                self.records.mark_indexed(list(self.records.embeddings(hot)), False)
            self.index(wait=False)
        return cubes

    def drop_derived(self, deleted: Sequence[str], *, reason: str = "delete") -> None:
        """Remove what was derived from cubes already deleted from the record store (vectors, graph
        traces), then tell the change listeners (see ``MemOS.drop_derived``)."""
        if not deleted:
            return
        self.vectors.delete(list(deleted))
        self.drop_graph(deleted)
        self.changes.emit(MemChange(removed=tuple(deleted), reason=reason))

    def drop_graph(self, cube_ids: Sequence[str]) -> None:
        """Remove cubes as graph sources; delete the fact cubes (and their traces) left without a source."""
        if self.graph is None or not cube_ids:
            return
        orphans: list[str] = []
        for namespace, key in self.graph.forget(cube_ids):
            cube = self.records.get_by_keys(namespace, [key])[0]
            if cube is not None:
                orphans.append(cube.id)
        if orphans:
            gone = self.records.delete(orphans, reason="source deleted", actor="memos:graph")
            if gone:
                self.drop_derived(gone, reason="orphaned fact")

    # ------------------------------------------------------------------- rank
    def rank(self, plan: SearchPlan, query_vector: Sequence[float] | None,
             timings: SearchTimings | None = None) -> list[Hit]:
        """Gather candidates from every engine and rank them (no access is recorded); each stage's
        time is charged to ``timings`` (see :mod:`.timings`)."""
        timings = timings if timings is not None else SearchTimings()
        now = utcnow()
        config = plan.config
        cq = plan.cube_query
        if not plan.query.strip():
            recent = self.records.query(cq, limit=plan.k, order_by="created_at DESC", with_history=False)
            timings.lap("candidate_load")
            ranked = rank_recent(recent, plan.k)
            timings.lap("fusion")
            return ranked
        speakers = self.speakers(cq)
        analysis = analyze_query(plan.query, speakers=speakers, now=now)
        timings.lap("query_analysis")
        if query_vector is not None:
            validate_embeddings([query_vector], expected=1, dim=self.dim())  # typed error on a wrong-sized query
        vector_pool = config.engine_pool(plan.k, config.vector_pool)
        large = not self.small_scope(cq, vector_pool)
        keyword_args = (analysis.keywords, cq, config.engine_pool(plan.k, config.keyword_pool),
                        config.keyword_column_weights, large)
        graph_on = self.graph is not None and config.graph_weight > 0
        # the keyword search runs in a helper thread (its own SQLite connection) beside the vector stage, the
        # graph signal and the vector candidates' load, where the scope is too large to score exactly; over a
        # small scope (or with neither of the first two) it runs after them: there the helper's hand-offs
        # cost more than the overlap hides
        beside = bool(analysis.keywords) and (query_vector is not None or graph_on) and large
        # the vector request goes to the index worker first (the keyword search waits until it is sent): the
        # worker answers one request at a time, and the vector candidates can then be loaded here while it
        # runs the keyword search
        vector_sent = Handoff() if beside and query_vector is not None else None
        keyword_future = self._helpers().submit(self._timed_keyword_search, *keyword_args,
                                                after=vector_sent) if beside else None
        timings.lap("query_analysis")
        read: dict[str, Any] = {}  # embeddings the vector stage read (its exact path): not read again
        early: Loaded | None = None  # the vector candidates, loaded while the keyword search still runs
        graph: dict[str, float] = {}
        try:
            vector = self.vector_candidates(cq, query_vector, vector_pool, read, sent=vector_sent.set
                                            if vector_sent is not None else None) if query_vector is not None else []
            timings.lap("vector_search")
            vector_ids = {h.id for h in vector}
            if graph_on:
                graph = self.graph_scores(cq, analysis, config)
                timings.lap("graph_signal")
            if keyword_future is not None and vector and not keyword_future.done():
                early = self.load_candidates(cq, vector_ids, read)
                timings.lap("candidate_load")
        finally:
            if vector_sent is not None:
                vector_sent.set()
            timings.lap("vector_search")
            keyword, keyword_ms = keyword_future.result() if keyword_future is not None else ([], 0.0)
        if keyword_future is not None:
            timings.parallel_ms["keyword_search"] = keyword_ms
        elif analysis.keywords:
            keyword = self._timed_keyword_search(*keyword_args)[0]
        timings.lap("keyword_search")
        ids = {h.id for h in keyword} | vector_ids
        ids |= set(sorted((i for i in graph if i not in ids), key=lambda i: (-graph[i], i))[:config.graph_pool])
        if not ids:
            return []
        if early is None:
            cubes, next_ids, vectors = self.load_candidates(cq, ids, read)
        else:  # in the order one read of every id gives (newest change first, then id)
            cubes, next_ids, vectors = merge_loaded(early, self.load_candidates(cq, ids - vector_ids, read))
            cubes.sort(key=lambda c: (-c.updated_at.timestamp(), c.id))
        timings.lap("candidate_load")
        built: dict[str, Any] = {}  # the fusion view of each candidate, built once for both rounds
        hits = rank_candidates(plan, analysis, cubes, keyword=keyword, vector=vector, vectors=vectors,
                               next_ids=next_ids, query_vector=query_vector, now=now, graph=graph, built=built)
        timings.lap("fusion")
        # second round: the query's keywords plus terms of the best first-round hits (one more FTS query)
        terms = second_round_terms(hits, cubes, analysis, speakers, config)
        if not terms:
            return hits
        expansion = self.keyword_candidates(terms, cq, config.engine_pool(plan.k, config.keyword_pool),
                                            config.keyword_column_weights, large=large)
        timings.lap("keyword_search")
        extra = {h.id for h in expansion} - ids
        if extra:
            cubes, next_ids, vectors = merge_loaded((cubes, next_ids, vectors), self.load_candidates(cq, extra, read))
            timings.lap("candidate_load")
        ranked = rank_candidates(plan, analysis, cubes, keyword=keyword, vector=vector, vectors=vectors,
                                 next_ids=next_ids, query_vector=query_vector, now=now, graph=graph,
                                 expansion=expansion, built=built)
        timings.lap("fusion")
        return ranked

    def graph_scores(self, cq: CubeQuery, analysis: QueryAnalysis, config: RetrievalConfig) -> dict[str, float]:
        """The graph signal of the query's entities, speakers and keywords (cube id -> score), fact cubes
        found by key included."""
        assert self.graph is not None
        graph, fact_keys = self.graph.scores(cq.namespace_prefix, [*analysis.entities, *analysis.speakers,
                                                                   *analysis.keywords],
                                             analysis.keywords, as_of=cq.valid_at, hops=config.graph_hops)
        if fact_keys:
            for c in self.records.get_by_keys(cq.namespace_prefix, sorted(fact_keys)):
                if c is not None:
                    graph[c.id] = max(graph.get(c.id, 0.0), fact_keys[c.key])
        return graph

    def speakers(self, cq: CubeQuery) -> list[str]:
        """The speakers of the memories ``cq`` selects (at most 100)."""
        return [s for s in self.records.distinct_metadata(cq, "speaker", limit=100) if isinstance(s, str)]

    def query_text(self, plan: SearchPlan) -> str:
        """What the query is embedded as: :func:`~langchain_memos.retrieval.query.embedding_text` when the
        retrieval config's ``rewrite_query`` is on (it reads the scope's speakers), else the query itself."""
        if not plan.config.rewrite_query:
            return plan.query
        return embedding_text(plan.query, self.speakers(plan.cube_query))

    def load_candidates(self, cq: CubeQuery, ids: Iterable[str], read: Mapping[str, Any] | None = None,
                        ) -> Loaded:
        """Views of the cubes among ``ids`` that pass ``cq`` (:meth:`~..storage.base.CubeRecords.candidates`),
        the ids of their next thread units, and both's embeddings (those in ``read``, embeddings read before in
        this search, are taken from it)."""
        cubes = self.records.candidates(replace(cq, ids=frozenset(ids)))
        next_ids = self.records.next_in_thread([c.id for c in cubes])
        wanted = [c.id for c in cubes] + list(next_ids.values())
        known = read or {}
        vectors = self.records.embeddings([i for i in wanted if i not in known])
        vectors.update((i, known[i]) for i in wanted if i in known)
        return cubes, next_ids, vectors

    def retrieve(self, plan: SearchPlan, query_vector: Sequence[float] | None, *,
                 touch: bool = True, timings: SearchTimings | None = None) -> SearchResults:
        """:meth:`rank`, load the hits in full (with history) and, with ``touch``, count the access.

        The results carry the stage timings (``timings``, or a new :class:`~.timings.SearchTimings`).
        """
        timings = timings if timings is not None else SearchTimings()
        hits = self.rank(plan, query_vector, timings)
        cubes = self.records.get([h.id for h in hits])
        out = [SearchHit(cube=c, score=h.score, reasons=dict(h.reasons), rank=i + 1)
               for i, (h, c) in enumerate(zip(hits, cubes)) if c is not None]
        if touch and out and self.config.track_access:
            self.records.touch([h.cube.id for h in out], utcnow())
        timings.lap("render")
        return SearchResults(out, timings.finish())

    def _helpers(self) -> ThreadPoolExecutor:
        """The engine's helper threads (started on first use, stopped by :meth:`close`; a forked
        child, which inherits the pool but not its threads, starts its own)."""
        with self._helpers_lock:
            if self._helper_pool is None or self._helper_pid != os.getpid():
                self._helper_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memos-search")
                self._helper_pid = os.getpid()
            return self._helper_pool

    def keyword_candidates(self, terms: Sequence[str], cq: CubeQuery, k: int, weights: Sequence[float] | None, *,
                           large: bool) -> list[ScoredId]:
        """The ``k`` best BM25 candidates of ``terms`` within ``cq``: over a ``large`` scope from the vector
        index's keyword mirror when it offers one and answers (the index worker's tantivy mirror, see
        :mod:`~langchain_memos.storage.keyword_mirror`), its hits checked against ``cq`` in the record
        store; else from the record store's keyword index."""
        mirror = getattr(self.vectors, "keyword_candidates", None) if large else None
        fetch = k + max(16, k // 4)  # the mirror applies the namespace and string filters: most hits pass
        while mirror is not None and k > 0:
            hits = mirror(terms, cq, fetch, weights)
            if hits is None:
                break
            passed = self.matching_ids(cq, frozenset(h.id for h in hits))  # the rest of the query
            kept = sorted((h for h in hits if h.id in passed), key=lambda h: (-h.score, h.id))
            if len(kept) >= k or len(hits) < fetch:
                return kept[:k]
            if fetch >= 64 * k:
                break  # few of many hits pass: FTS5 answers exactly
            fetch *= 4
        return self.records.keyword_search(terms, cq, k, column_weights=weights)

    def _timed_keyword_search(self, terms: Sequence[str], cq: CubeQuery, k: int, weights: Sequence[float] | None,
                              large: bool, after: Handoff | None = None) -> tuple[list[ScoredId], float]:
        """The BM25 candidates (:meth:`keyword_candidates`) and the milliseconds they took (from ``after`` being
        set, when given: the vector request is sent)."""
        if after is not None:
            after.wait()
        start = perf_counter()
        found = self.keyword_candidates(terms, cq, k, weights, large=large)
        return found, (perf_counter() - start) * 1000.0

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Close the engines (the graph's first) and stop the helper threads."""
        with self._helpers_lock:
            pool, self._helper_pool = self._helper_pool, None
        if pool is not None and self._helper_pid == os.getpid():
            pool.shutdown(wait=True)
        if self.graph is not None:
            self.graph.store.close()
        self.records.close()
        self.vectors.close()


__all__ = ["EngineField", "MemoryEngine"]
