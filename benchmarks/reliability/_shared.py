"""Helpers shared by the reliability scenarios: opening stores, classifying errors."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError

from langchain_memos.errors import MemOSError

#: Embedding size of the reliability runs (HashingEmbeddings: fast and deterministic).
DIMS = 64


def embeddings() -> Any:
    """The embedder every scenario uses."""
    from langchain_memos.embeddings import HashingEmbeddings

    return HashingEmbeddings(DIMS)


def server_config(path: str | Path, server: tuple[str, int]) -> Any:
    """SQLite in ``path``, vectors on a Chroma server, in a collection named after ``path``."""
    import hashlib

    from langchain_memos.config import MemOSConfig

    name = "rel-" + hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:12]
    return MemOSConfig(path=str(path), vector_backend="chroma-http", chroma_host=server[0], chroma_port=server[1],
                       collection=name)


@contextmanager
def open_store(path: str | Path | None, server: tuple[str, int] | None = None, **kwargs: Any) -> Iterator[Any]:
    """A MemOSStore on ``path`` (``None``: in memory) with a hashing index over the item's ``text``.

    ``server``: keep the vectors on the Chroma server at ``(host, port)`` instead.
    """
    from langchain_memos.integrations import MemOSStore

    index = {"dims": DIMS, "embed": embeddings(), "fields": ["text"]}
    if server is not None:
        kwargs["config"] = server_config(path, server)
    else:
        kwargs["path"] = str(path) if path is not None else None
    with MemOSStore(index=index, **kwargs) as store:
        yield store


def open_memos(path: str | Path | None, server: tuple[str, int] | None = None, **kwargs: Any) -> Any:
    """A MemOS on ``path`` (``None``: in memory) with the hashing embedder (``server``: as in :func:`open_store`)."""
    from langchain_memos import MemOS

    if server is not None:
        return MemOS(config=server_config(path, server), embeddings=embeddings(), **kwargs)
    if path is None:
        return MemOS.ephemeral(embeddings=embeddings(), **kwargs)
    return MemOS(str(path), embeddings=embeddings(), **kwargs)


def is_typed(exc: BaseException) -> bool:
    """Whether an error is one the API promises: a ``MemOSError``, or LangGraph's own
    ``InvalidNamespaceError`` (a ``ValueError`` its ``BaseStore`` contract raises for bad
    namespace labels before any store code runs)."""
    return isinstance(exc, (MemOSError, LangGraphNamespaceError))


def is_locked(exc: BaseException) -> bool:
    """Whether a raw SQLite ``database is locked`` escaped (a typed StoreLockedError does not count)."""
    from langchain_memos.errors import StoreLockedError

    return not isinstance(exc, StoreLockedError) and "database is locked" in str(exc).lower()


def describe(exc: BaseException) -> str:
    """``Type: message (at file:line)`` (shortened) for reports: the innermost frame in this project."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "langchain_memos" in f.filename]
    where = f" (at {frames[-1].filename.split('langchain_memos/')[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:200]}{where}"


class VectorHealth(NamedTuple):
    """What :func:`vector_health` found among the hot cubes' vectors.

    Attributes:
        stale: The index holds another embedding for the cube, or none: an integrity error.
        unreachable: The index holds the right embedding, but approximate search does not
            return it among the 50 nearest to itself (HNSW recall after update/delete churn;
            MemOS scores small candidate sets exactly, so only large scopes feel it).
        unindexed: Of the unreachable, those that even a search for every vector in the
            index does not return: the ANN graph does not hold them at all, which is what a
            process that overwrote another's index file leaves behind.
    """

    stale: int
    unreachable: int
    unindexed: int


def vector_health(memos: Any, limit: int | None = None) -> VectorHealth:
    """Read each hot cube's stored embedding (``limit``: only the first ones) back from the index.

    ``check()`` compares id lists; this compares vectors and asks the approximate search
    for each (see :class:`VectorHealth` for what is counted).
    """
    from langchain_memos.cube import HOT_TIERS, Status
    from langchain_memos.storage.base import CubeQuery

    ids = memos.records.query_ids(CubeQuery(tiers=frozenset(HOT_TIERS), statuses=frozenset(Status),
                                            include_expired=True), order_by=None)
    stored = memos.records.embeddings(sorted(ids)[:limit])
    stale = unreachable = unindexed = 0
    everything = None
    for cube_id, vector in stored.items():
        own = memos.vectors.search(vector, 1, ids=[cube_id])
        if not own or own[0].score < 0.999:
            stale += 1
        elif cube_id not in {h.id for h in memos.vectors.search(vector, 50)}:
            unreachable += 1
            # a beam as wide as the index visits every node the HNSW graph can reach
            everything = everything if everything is not None else memos.vectors.count()
            unindexed += cube_id not in {h.id for h in memos.vectors.search(vector, everything)}
    return VectorHealth(stale, unreachable, unindexed)
