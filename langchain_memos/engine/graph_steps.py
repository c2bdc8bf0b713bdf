"""I/O steps between the memory and its graph: extract written cubes, re-extract changed ones, check sources.

Each returns the fact cubes the graph produced as planned writes; the flows of
:mod:`.flows` embed and commit them (one place: :func:`~.flows.commit_flow`).

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ingest_graph(memos.engine, [])
    []
"""

from __future__ import annotations

from typing import Sequence

from ..cube import MemCube, MemoryType, Status
from ..ingest import PlannedCube
from ..storage.base import CubeQuery
from .core import MemoryEngine
from .plans import apply_update


def ingest_graph(engine: MemoryEngine, cubes: Sequence[MemCube]) -> list[PlannedCube]:
    """Extract ``cubes`` into the graph; end superseded fact cubes; return the new fact cubes to commit."""
    if not cubes or engine.graph is None:
        return []
    result = engine.graph.ingest(cubes)
    stored = [(engine.records.get_by_keys(namespace, [key])[0], valid_to, by)
              for namespace, key, valid_to, by in result.ended]
    ended = [apply_update(old, {"valid_to": valid_to, "metadata": {**old.metadata, "superseded_by": by}},
                          reason="supersede", actor="memos:graph", max_chars=engine.config.max_content_chars)
             for old, valid_to, by in stored if old is not None and old.valid_to is None]
    if ended:
        engine.commit(ended, [])
    return [PlannedCube.for_cube(c) for c in result.fact_cubes]


def reextract(engine: MemoryEngine, cube: MemCube) -> list[PlannedCube]:
    """After a content change: replace the graph traces of a cube that was extracted from; return new fact cubes."""
    from ..graph.base import RelationQuery

    if engine.graph is None or cube.memory_type is MemoryType.FACT or not engine.graph.store.relations(
            RelationQuery(sources=frozenset({cube.id}), limit=1)):
        return []
    engine.drop_graph([cube.id])
    return ingest_graph(engine, [cube])


def check_graph(engine: MemoryEngine, repair: bool) -> tuple[int, int]:
    """A ``MemOS.check`` hook: relations whose source cubes are gone from the record store (a crash
    between a delete and its graph cleanup); repair drops them as sources. Returns (found, repaired)."""
    from ..graph.base import RelationQuery

    sources = sorted({ref for r in engine.graph.store.relations(RelationQuery()) for ref in r.provenance})
    present = {c.id for c in engine.records.query(CubeQuery(ids=frozenset(sources), statuses=frozenset(Status),
                                                            include_expired=True), with_history=False)}
    missing = [ref for ref in sources if ref not in present]
    if repair and missing:
        engine.drop_graph(missing)
    return len(missing), len(missing) if repair else 0


__all__ = ["check_graph", "ingest_graph", "reextract"]
