"""The operations as flows: each sequences the named steps once, for sync and async callers alike.

A flow is a generator that runs the pure steps itself and *yields* each I/O step as a
request: :class:`Embed` (documents), :class:`EmbedQuery`, or :class:`Call` (a store step).
:func:`run` performs the requests inline (the sync API); :func:`arun` awaits the
embedder's async API and runs store steps in a thread (the async API). So ``add`` and
``aadd`` (``update``/``aupdate``, ``fuse``/``afuse``, ``search``/``asearch``) are one body.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = run(memos.engine, add_flow(memos.engine, "Alice prefers green tea", ("u",), {}))
    ...     [h.cube.id for h in run(memos.engine, search_flow(memos.engine, "tea", ("u",), 1, {}))] == ids
    True
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator, Mapping, Sequence, TypeVar

from ..cube import MemCube, MemoryType
from ..errors import GraphIngestError, StorageError
from ..ingest import PlannedCube
from .core import MemoryEngine
from .graph_steps import ingest_graph, reextract
from .plans import apply_update, check_fuse_ids, plan_fuse, plan_query
from .timings import SearchResults, SearchTimings
from .write import embed_texts, extract_targets, plan_add

T = TypeVar("T")


@dataclass(frozen=True)
class Embed:
    """I/O request: embed these documents (batched by ``MemOSConfig.embed_batch_size``)."""

    texts: list[str]

    def run(self, engine: MemoryEngine) -> list[list[float]]:
        """Embed with the sync API."""
        return engine.embed_documents(self.texts)

    async def arun(self, engine: MemoryEngine) -> list[list[float]]:
        """Embed with the async API."""
        return await engine.aembed_documents(self.texts)


@dataclass(frozen=True)
class EmbedQuery:
    """I/O request: embed one query."""

    text: str

    def run(self, engine: MemoryEngine) -> list[float]:
        """Embed with the sync API."""
        return engine.embed_query(self.text)

    async def arun(self, engine: MemoryEngine) -> list[float]:
        """Embed with the async API."""
        return await engine.aembed_query(self.text)


@dataclass(frozen=True)
class Call:
    """I/O request: run a store step ``fn(*args, **kwargs)`` (in a thread for async callers)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run(self, engine: MemoryEngine) -> Any:
        """Run it on this thread."""
        return self.fn(*self.args, **self.kwargs)

    async def arun(self, engine: MemoryEngine) -> Any:
        """Run it in a worker thread."""
        return await asyncio.to_thread(self.fn, *self.args, **self.kwargs)


Step = Embed | EmbedQuery | Call
Flow = Generator[Step, Any, T]


def _resume(flow: Flow[T], reply: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Send the last step's outcome into ``flow``; ``(True, result)`` when it finished, else ``(False, next step)``."""
    try:
        return False, (flow.throw(error) if error is not None else flow.send(reply))
    except StopIteration as done:
        return True, done.value


def run(engine: MemoryEngine, flow: Flow[T]) -> T:
    """Run a flow with the sync embedder API and store steps inline."""
    reply, error = None, None
    while True:
        done, step = _resume(flow, reply, error)
        if done:
            return step
        try:
            reply, error = step.run(engine), None
        except BaseException as exc:  # handed to the flow, which may handle it (graph_errors) or re-raise
            reply, error = None, exc


async def arun(engine: MemoryEngine, flow: Flow[T]) -> T:
    """Run a flow with the async embedder API and store steps in a thread."""
    reply, error = None, None
    while True:
        done, step = _resume(flow, reply, error)
        if done:
            return step
        try:
            reply, error = await step.arun(engine), None
        except BaseException as exc:
            reply, error = None, exc


@contextlib.contextmanager
def graph_errors(ids: Sequence[str]) -> Iterator[None]:
    """Turn a graph engine failure after a committed write into :class:`GraphIngestError` (with the ids)."""
    try:
        yield
    except StorageError as exc:
        raise GraphIngestError(
            f"the {len(ids)} cubes were written, but the graph engine failed while extracting them ({exc}); "
            "fix the graph engine, then call MemOS.extract(error.ids)", list(ids)) from exc


# --------------------------------------------------------------------- flows
def commit_flow(engine: MemoryEngine, planned: Sequence[PlannedCube]) -> Flow[list[str]]:
    """Embed what ``planned`` needs, then commit it; returns the ids."""
    vectors = yield Embed(embed_texts(planned))
    return (yield Call(engine.commit, (list(planned), vectors)))


def facts_flow(engine: MemoryEngine, facts: Sequence[PlannedCube]) -> Flow[None]:
    """Commit the fact cubes a graph step returned (nothing when there are none)."""
    if facts:
        yield from commit_flow(engine, facts)


def add_flow(engine: MemoryEngine, items: Any, namespace: Sequence[str], options: dict[str, Any]) -> Flow[list[str]]:
    """``MemOS.add``: plan, embed, commit, then extract into the graph and commit the new facts."""
    extract = options.pop("extract", None)
    planned = plan_add(items, namespace, options, max_chars=engine.config.max_content_chars)
    ids = yield from commit_flow(engine, planned)
    targets = (extract_targets(items, planned, extract, default=engine.config.extract)
               if engine.graph is not None else [])
    with graph_errors(ids):
        facts = yield Call(ingest_graph, (engine, targets))
    yield from facts_flow(engine, facts)
    return ids


def extract_flow(engine: MemoryEngine, ids: Sequence[str], user: str | None) -> Flow[int]:
    """``MemOS.extract``: extract stored cubes ``user`` may read into the graph; returns how many."""
    reader = engine.reader(user)
    stored = yield Call(engine.records.get, (list(ids),))
    cubes = [c for c in stored if c is not None and c.can_read(reader) and c.memory_type is not MemoryType.FACT]
    facts = yield Call(ingest_graph, (engine, cubes))
    yield from facts_flow(engine, facts)
    return len(cubes)


def update_flow(engine: MemoryEngine, cube_id: str, changes: Mapping[str, Any], reason: str,
                user: str | None) -> Flow[MemCube]:
    """``MemOS.update``: read the cube, plan the new version, commit; a content change re-extracts its facts."""
    user = engine.reader(user)
    cube = yield Call(engine.require, (cube_id, user), {"write": True})
    planned = apply_update(cube, changes, reason=reason, actor=user, max_chars=engine.config.max_content_chars)
    yield from commit_flow(engine, [planned])
    if planned.embed_text is not None:  # the content changed: so may its facts
        facts = yield Call(reextract, (engine, planned.cube))
        yield from facts_flow(engine, facts)
    return planned.cube


def fuse_flow(engine: MemoryEngine, ids: Sequence[str], content: str | None, user: str | None,
              options: dict[str, Any]) -> Flow[MemCube]:
    """``MemOS.fuse``: read the sources, plan the fused cube and the archived sources, commit."""
    user = engine.reader(user)
    ids = list(ids)
    check_fuse_ids(ids)
    sources = yield Call(engine.require_all, (ids, user), {"write": True})
    planned = plan_fuse(sources, content, user, options, max_chars=engine.config.max_content_chars)
    yield from commit_flow(engine, planned)
    return planned[0].cube


def search_flow(engine: MemoryEngine, query: str, namespace: Sequence[str], k: int,
                options: Mapping[str, Any]) -> Flow[SearchResults]:
    """``MemOS.search``: plan, embed the query (none for an empty one), rank and load the hits
    (the results carry their :class:`~.timings.SearchTimings`)."""
    timings = SearchTimings()
    plan = plan_query(query, namespace, k, options, retrieval=engine.retrieval,
                      reader=engine.reader(options.get("user")))
    timings.lap("query_analysis")
    if not plan.query.strip():
        return (yield Call(engine.retrieve, (plan, None), {"timings": timings}))
    text = (yield Call(engine.query_text, (plan,))) if plan.config.rewrite_query else plan.query
    timings.lap("query_analysis")
    vector = yield EmbedQuery(text)
    timings.lap("query_embedding")
    return (yield Call(engine.retrieve, (plan, vector), {"timings": timings}))


__all__ = ["Call", "Embed", "EmbedQuery", "Flow", "Step", "add_flow", "arun", "commit_flow", "extract_flow",
           "facts_flow", "fuse_flow", "graph_errors", "run", "search_flow", "update_flow"]
