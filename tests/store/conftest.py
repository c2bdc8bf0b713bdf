"""Fixtures for the LangGraph ``BaseStore`` conformance suite (``tests/store/test_conformance.py``).

Store factories
---------------
Every case runs against each store *kind*, in a *sync* and (unless the case says
otherwise) an *async* flavour:

* ``inmemory`` -- ``langgraph.store.memory.InMemoryStore(index=...)``.  It takes no
  ``ttl`` argument in langgraph 1.2.22 (no TTL support at all).
* ``sqlite`` -- sync: ``langgraph.store.sqlite.SqliteStore`` on a ``pysqlite3``
  connection (this machine's stdlib ``sqlite3`` cannot load the sqlite-vec
  extension, pysqlite3 can); async: ``AsyncSqliteStore`` on an
  ``aiosqlite.Connection`` whose connector opens the same kind of pysqlite3
  connection.  Both call ``setup()``.
* ``memos_file`` -- ``MemOSStore.from_path(tmp_dir, index=..., ttl=...)``.
* ``memos_chroma_server`` -- ``MemOSStore.from_config(MemOSConfig(path=tmp_dir,
  vector_backend="chroma-http", ...), index=..., ttl=...)`` against the session
  ``chroma_server`` fixture of ``tests/conftest.py`` (marked ``server``).

The two memos kinds skip with "MemOSStore not implemented yet" while
``langchain_memos.integrations.store.MemOSStore`` cannot be imported.

``open_sync_store`` / ``open_async_store`` are the factories (a context manager
and an async context manager yielding a fresh, set-up store).  The ``harness``
fixture wraps them for the cases: ``harness.store(index=..., ttl=...)`` is an
async context manager in *both* flavours yielding an adapter whose methods are
awaitables; in the sync flavour the adapter calls the sync API (``put``,
``get``, ...) and the case coroutine is driven without an event loop (it never
suspends), in the async flavour it calls ``aput``, ``aget``, ... inside
``asyncio.run``.  One case body therefore exercises both APIs.

Per-case store-specific expectations are declared with markers the test module
sets through its helpers (``store_xfail``, ``store_skip``, ``store_flavours``)
and are turned into per-parameter ``xfail(strict=True)`` / ``skip`` marks here,
at collection time.  Memos kinds can never receive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Store kinds the conformance suite runs over, in order.
STORE_KINDS = ("inmemory", "sqlite", "memos_file", "memos_chroma_server")
#: The kinds backed by the project's own MemOSStore; never xfail-ed, never skipped by name.
MEMOS_KINDS = frozenset({"memos_file", "memos_chroma_server"})
#: API flavours.
FLAVOURS = ("sync", "async")

MEMOS_MISSING_REASON = "MemOSStore not implemented yet"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "store_xfail(**reasons): strict xfail for the named store kinds (key `kind` or `kind_flavour`)"
    )
    config.addinivalue_line(
        "markers", "store_skip(**reasons): skip for the named store kinds (key `kind` or `kind_flavour`)"
    )
    config.addinivalue_line("markers", "store_flavours(*flavours): API flavours a conformance case runs in")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``harness`` over store kinds x flavours, attaching per-store xfail/skip marks."""
    if "harness" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("store_flavours")
    flavours = tuple(marker.args) if marker is not None and marker.args else FLAVOURS
    xfails: dict[str, str] = {}
    skips: dict[str, str] = {}
    for mark in metafunc.definition.iter_markers("store_xfail"):
        xfails.update(mark.kwargs)
    for mark in metafunc.definition.iter_markers("store_skip"):
        skips.update(mark.kwargs)
    for name in itertools.chain(xfails, skips):
        kind = next((k for k in STORE_KINDS if name == k or name.startswith(k + "_")), None)
        if kind is None or kind in MEMOS_KINDS:
            raise pytest.UsageError(f"{metafunc.function.__name__}: bad store name {name!r} in store_xfail/store_skip")
    params = []
    for kind in STORE_KINDS:
        for flavour in flavours:
            marks: list[Any] = []
            if kind == "memos_chroma_server":
                marks.append(pytest.mark.server)
            skip = skips.get(f"{kind}_{flavour}") or skips.get(kind)
            if skip:
                marks.append(pytest.mark.skip(reason=f"{kind}: {skip}"))
            xfail = xfails.get(f"{kind}_{flavour}") or xfails.get(kind)
            if xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=f"{kind}: {xfail}"))
            params.append(pytest.param((kind, flavour), id=f"{kind}-{flavour}", marks=marks))
    metafunc.parametrize("harness", params, indirect=True)


# ------------------------------------------------------------------------------------------------
# Store factories
# ------------------------------------------------------------------------------------------------


def memos_store_class() -> Any:
    """``MemOSStore``, or skip the calling test while it does not exist."""
    try:
        from langchain_memos.integrations.store import MemOSStore
    except ImportError:
        pytest.skip(MEMOS_MISSING_REASON)
    return MemOSStore


def _pysqlite_connect() -> Any:
    from pysqlite3 import dbapi2

    return dbapi2.connect(":memory:", check_same_thread=False, isolation_level=None)


@contextlib.contextmanager
def open_sync_store(
    kind: str,
    *,
    workdir: Path,
    index: dict[str, Any] | None = None,
    ttl: dict[str, Any] | None = None,
    chroma: tuple[str, int] | None = None,
) -> Iterator[Any]:
    """A fresh store of ``kind`` (closed on exit)."""
    if kind == "inmemory":
        from langgraph.store.memory import InMemoryStore

        if ttl is not None:
            pytest.skip("InMemoryStore (langgraph 1.2.22) takes no TTL configuration")
        yield InMemoryStore(index=index)  # type: ignore[arg-type]
    elif kind == "sqlite":
        from langgraph.store.sqlite import SqliteStore

        conn = _pysqlite_connect()
        store = SqliteStore(conn, index=index, ttl=ttl)  # type: ignore[arg-type]
        try:
            store.setup()
            yield store
        finally:
            store.stop_ttl_sweeper(timeout=10)
            conn.close()
    elif kind == "memos_file":
        cls = memos_store_class()
        with cls.from_path(workdir, index=index, ttl=ttl) as store:
            yield store
    elif kind == "memos_chroma_server":
        cls = memos_store_class()
        from langchain_memos.config import MemOSConfig

        assert chroma is not None, "memos_chroma_server needs the chroma_server fixture"
        host, port = chroma
        config = MemOSConfig(path=workdir, vector_backend="chroma-http", chroma_host=host, chroma_port=port,
                             collection=f"store-{uuid.uuid4().hex}")
        with cls.from_config(config, index=index, ttl=ttl) as store:
            yield store
    else:  # pragma: no cover - guarded by STORE_KINDS
        raise ValueError(f"unknown store kind {kind!r}")


@contextlib.asynccontextmanager
async def open_async_store(
    kind: str,
    *,
    workdir: Path,
    index: dict[str, Any] | None = None,
    ttl: dict[str, Any] | None = None,
    chroma: tuple[str, int] | None = None,
) -> AsyncIterator[Any]:
    """A fresh store of ``kind`` for the async API; must be entered inside a running loop."""
    if kind == "sqlite":
        import aiosqlite
        from langgraph.store.sqlite.aio import AsyncSqliteStore

        conn = aiosqlite.Connection(_pysqlite_connect, 64)
        await conn
        store = AsyncSqliteStore(conn, index=index, ttl=ttl)  # type: ignore[arg-type]
        try:
            await store.setup()
            yield store
        finally:
            await store.stop_ttl_sweeper(timeout=10)
            await conn.close()
    else:
        with open_sync_store(kind, workdir=workdir, index=index, ttl=ttl, chroma=chroma) as store:
            yield store


# ------------------------------------------------------------------------------------------------
# Adapters: one awaitable surface over the sync or the async API
# ------------------------------------------------------------------------------------------------


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class _Adapter:
    """Awaitable facade over a store; ``raw`` is the store itself."""

    flavour: str

    def __init__(self, raw: Any, kind: str) -> None:
        self.raw = raw
        self.kind = kind

    @property
    def supports_ttl(self) -> bool:
        return bool(getattr(self.raw, "supports_ttl", False))

    def has(self, name: str) -> bool:
        return callable(getattr(self.raw, name, None))


class SyncAdapter(_Adapter):
    """Calls the sync API; its coroutines never suspend."""

    flavour = "sync"

    async def put(self, *args: Any, **kwargs: Any) -> None:
        return self.raw.put(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw.get(*args, **kwargs)

    async def search(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw.search(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        return self.raw.delete(*args, **kwargs)

    async def list_namespaces(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw.list_namespaces(*args, **kwargs)

    async def batch(self, ops: Any) -> Any:
        return self.raw.batch(ops)

    async def sweep_ttl(self) -> Any:
        return await _maybe_await(self.raw.sweep_ttl())

    async def start_ttl_sweeper(self, *args: Any, **kwargs: Any) -> Any:
        return await _maybe_await(self.raw.start_ttl_sweeper(*args, **kwargs))

    async def stop_ttl_sweeper(self, *args: Any, **kwargs: Any) -> Any:
        return await _maybe_await(self.raw.stop_ttl_sweeper(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AsyncAdapter(_Adapter):
    """Calls the async API (``aput``, ``aget``, ...)."""

    flavour = "async"

    async def put(self, *args: Any, **kwargs: Any) -> None:
        return await self.raw.aput(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self.raw.aget(*args, **kwargs)

    async def search(self, *args: Any, **kwargs: Any) -> Any:
        return await self.raw.asearch(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        return await self.raw.adelete(*args, **kwargs)

    async def list_namespaces(self, *args: Any, **kwargs: Any) -> Any:
        return await self.raw.alist_namespaces(*args, **kwargs)

    async def batch(self, ops: Any) -> Any:
        return await self.raw.abatch(ops)

    def _method(self, name: str) -> Any:
        return getattr(self.raw, f"a{name}", None) or getattr(self.raw, name)

    async def sweep_ttl(self) -> Any:
        return await _maybe_await(self._method("sweep_ttl")())

    async def start_ttl_sweeper(self, *args: Any, **kwargs: Any) -> Any:
        return await _maybe_await(self._method("start_ttl_sweeper")(*args, **kwargs))

    async def stop_ttl_sweeper(self, *args: Any, **kwargs: Any) -> Any:
        return await _maybe_await(self._method("stop_ttl_sweeper")(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _drive_without_loop(coro: Any) -> Any:
    """Run a coroutine that never suspends (the sync flavour) to completion, with no event loop."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError(f"a sync-flavour case awaited real asynchronous work ({yielded!r}); "
                       "the sync API must not need an event loop")


class Harness:
    """What a conformance case receives: the store kind, the flavour and a store factory."""

    def __init__(self, kind: str, flavour: str, tmp_path: Path, chroma: tuple[str, int] | None) -> None:
        self.kind = kind
        self.flavour = flavour
        self._tmp_path = tmp_path
        self._chroma = chroma
        self._count = itertools.count()

    def __repr__(self) -> str:
        return f"Harness({self.kind}-{self.flavour})"

    @contextlib.asynccontextmanager
    async def store(self, *, index: dict[str, Any] | None = None,
                    ttl: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        """A fresh store (own directory, own collection) behind an adapter for this flavour."""
        workdir = self._tmp_path / f"{self.kind}-{next(self._count)}"
        workdir.mkdir(parents=True, exist_ok=True)
        if self.flavour == "sync":
            with open_sync_store(self.kind, workdir=workdir, index=index, ttl=ttl, chroma=self._chroma) as raw:
                yield SyncAdapter(raw, self.kind)
        else:
            async with open_async_store(self.kind, workdir=workdir, index=index, ttl=ttl,
                                        chroma=self._chroma) as raw:
                yield AsyncAdapter(raw, self.kind)

    async def sleep(self, seconds: float) -> None:
        if self.flavour == "sync":
            time.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def run(self, case: Any, **kwargs: Any) -> Any:
        """Run the case coroutine function in this flavour."""
        if self.flavour == "sync":
            return _drive_without_loop(case(**kwargs))
        return asyncio.run(case(**kwargs))


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """The (store kind, flavour) a conformance case runs against; see the module docstring."""
    kind, flavour = request.param
    chroma = None
    if kind in MEMOS_KINDS:
        memos_store_class()
        if kind == "memos_chroma_server":
            chroma = request.getfixturevalue("chroma_server")
    return Harness(kind, flavour, tmp_path, chroma)
