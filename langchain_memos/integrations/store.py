"""MemOSStore: a drop-in LangGraph ``BaseStore`` where every item is a MemCube.

Swap it in for ``InMemoryStore`` / ``SqliteStore`` and nothing else changes::

    from langchain_memos.integrations import MemOSStore

    with MemOSStore.from_path("./memos_data", index={"dims": 384, "embed": embeddings}) as store:
        graph = builder.compile(store=store)

What you get beyond LangGraph's stores:

* every item is a :class:`~langchain_memos.cube.MemCube` (``Item.value`` is the
  cube's ``metadata``), so search is hybrid (vectors + BM25, fused), overwrites keep
  ``created_at`` and the previous version in history, and reads feed heat;
* MemOS fields can be read back (:meth:`MemOSStore.get_cube`) and filtered on with
  ``memos:``-prefixed filter keys (``{"memos:tier": "long_term", "memos:heat": {"$gt": 1}}``);
* ``IndexConfig.fields`` JSON paths are honoured (``a.b``, ``items[0]``, ``items[*].text``, ``$``);
* TTL with a sweeper thread you start and stop explicitly or as a context manager;
  expired items are never returned, even before a sweep.

Query search ranks the best candidates of each engine with hybrid relevance
(``SearchItem.score`` in [0, 1], larger is better; not a raw cosine as in
``InMemoryStore``), then lists every other matching item with score ``None`` in
``updated_at`` order. How deep it ranks is ``RetrievalConfig.engine_pool(limit, ...)``
(50 for a limit of 10, up to 100). For one query, limit and store state the order is
fixed, so ``offset`` pages without overlaps or gaps at any depth. A store without
an index still ranks queries by BM25. Without a query, items come in
``updated_at`` order (newest first) with score ``None``, as in ``SqliteStore``.
Values of any size are stored whole; the searchable text is capped at
``MemOSConfig.max_content_chars``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from time import perf_counter
from typing import Any, Iterable, Iterator, Mapping, Sequence

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError

from ..config import MemOSConfig
from ..cube import HistoryEntry, MemCube, MemoryType, utcnow
from ..errors import EmbeddingDimensionError, InvalidInputError, InvalidNamespaceError
from ..filters import OPERATORS, Condition
from ..ingest import PlannedCube
from ..engine.timings import SearchResults, SearchTimings
from ..memos import MemOS
from ..retrieval.pipeline import plan_search
from ..storage.base import CUBE_FILTER_FIELDS, CubeQuery
from ..validation import validate_json_value, validate_namespace, validate_ttl_minutes

#: Filter keys with this prefix address MemCube fields instead of ``Item.value``.
CUBE_FILTER_PREFIX = "memos:"

_SOURCE = "langgraph-store"


class StoreNamespaceError(LangGraphNamespaceError, InvalidNamespaceError):
    """A bad namespace; catchable as LangGraph's ``InvalidNamespaceError`` and as ours."""


class _NoEmbeddings(Embeddings):
    """Stands in when the store has no index: nothing is ever embedded."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise InvalidInputError("this MemOSStore has no vector index; pass index={'dims': ..., 'embed': ...}")

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


# ----------------------------------------------------------------- pure helpers
def _check_namespace(namespace: Any, *, allow_empty: bool) -> tuple[str, ...]:
    try:
        return validate_namespace(namespace, allow_empty=allow_empty)
    except InvalidNamespaceError as exc:
        raise StoreNamespaceError(str(exc)) from exc


def _validate_op(op: Op) -> None:
    """LangGraph's label checks plus ours (empty namespace for items, control characters)."""
    if isinstance(op, (GetOp, PutOp)):
        _check_namespace(op.namespace, allow_empty=False)
    elif isinstance(op, SearchOp):
        _check_namespace(op.namespace_prefix, allow_empty=True)
    try:
        validate_op_namespace(op)
    except LangGraphNamespaceError as exc:
        raise StoreNamespaceError(str(exc)) from exc
    if isinstance(op, (GetOp, PutOp)):
        if not isinstance(op.key, str):
            raise InvalidInputError(f"keys must be strings, got {type(op.key).__name__}")
    elif isinstance(op, SearchOp):
        if op.limit < 0 or op.offset < 0:
            raise InvalidInputError(f"limit and offset must be >= 0, got limit={op.limit}, offset={op.offset}")
    elif isinstance(op, ListNamespacesOp):
        if op.limit < 0 or op.offset < 0:
            raise InvalidInputError(f"limit and offset must be >= 0, got limit={op.limit}, offset={op.offset}")
    else:
        raise InvalidInputError(f"unknown store operation {type(op).__name__}; use GetOp, PutOp, SearchOp or "
                                "ListNamespacesOp")


def _store_conditions(filter: Mapping[str, Any] | None) -> tuple[list[Condition], list[Condition], list[tuple]]:
    """Split a LangGraph filter into value conditions, cube-field conditions and Python-only checks.

    Nested dicts without operators match as sub-documents (``{"a": {"b": 1}}`` means
    ``a.b == 1``); list values must equal the stored list (checked in Python).
    """
    value_conds: list[Condition] = []
    cube_conds: list[Condition] = []
    python_checks: list[tuple] = []

    def walk(path: tuple[str, ...], spec: Any, target: list[Condition]) -> None:
        if isinstance(spec, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in spec):
            for op, value in spec.items():
                if op not in OPERATORS:
                    from ..errors import UnknownFilterOperatorError

                    raise UnknownFilterOperatorError(
                        f"unknown filter operator {op!r} on {'.'.join(path)!r}; use one of {', '.join(OPERATORS)}")
                if isinstance(value, (list, tuple)) and op not in ("$in", "$nin"):
                    python_checks.append((path, op, value))
                else:
                    target.append(Condition(path, op, tuple(value) if op in ("$in", "$nin") else value))
        elif isinstance(spec, Mapping):
            for key, sub in spec.items():
                walk(path + (str(key),), sub, target)
        elif isinstance(spec, (list, tuple)):
            python_checks.append((path, "$eq", list(spec)))
        else:
            validate_json_value(spec, what=f"filter value of {'.'.join(path)}")
            target.append(Condition(path, "$eq", spec))

    if filter is not None and not isinstance(filter, Mapping):
        raise InvalidInputError(f"a search filter must be a dict such as {{'category': 'books'}}, "
                                f"got {type(filter).__name__}")
    for key, spec in (filter or {}).items():
        if not isinstance(key, str):
            raise InvalidInputError(f"filter keys must be strings, got {key!r}")
        if key.startswith(CUBE_FILTER_PREFIX):
            name = key[len(CUBE_FILTER_PREFIX):]
            if name not in CUBE_FILTER_FIELDS:
                raise InvalidInputError(f"unknown MemOS filter field {key!r}; use memos: + one of "
                                        f"{', '.join(sorted(CUBE_FILTER_FIELDS))}")
            walk((name,), spec, cube_conds)
        else:
            walk(tuple(key.split(".")), spec, value_conds)
    return value_conds, cube_conds, python_checks


def _passes_python_checks(value: Mapping[str, Any], checks: Sequence[tuple]) -> bool:
    for path, op, expected in checks:
        actual: Any = value
        for part in path:
            actual = actual.get(part) if isinstance(actual, Mapping) else None
        equal = actual == expected
        if (op == "$eq" and not equal) or (op == "$ne" and equal):
            return False
        if op not in ("$eq", "$ne"):
            return False
    return True


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path):]
    return all(p == "*" or p == n for p, n in zip(path, part))


def _plain_prefix(conditions: Sequence[MatchCondition] | None) -> tuple[str, ...]:
    """The longest wildcard-free leading part of the prefix conditions (to narrow the SQL scan)."""
    for cond in conditions or ():
        if cond.match_type == "prefix":
            out = []
            for label in cond.path:
                if label == "*":
                    break
                out.append(label)
            return tuple(out)
    return ()


def _item(cube: MemCube) -> Item:
    return Item(value=dict(cube.metadata), key=cube.key or cube.id, namespace=cube.namespace,
                created_at=cube.created_at, updated_at=cube.updated_at)


def _timed_call(fn: Any, *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` and the milliseconds it took."""
    start = perf_counter()
    return fn(*args), (perf_counter() - start) * 1000.0


async def _atimed_call(fn: Any, *args: Any) -> tuple[Any, float]:
    """Async twin of :func:`_timed_call` (awaits ``fn(*args)``)."""
    start = perf_counter()
    return await fn(*args), (perf_counter() - start) * 1000.0


def _search_item(cube: MemCube, score: float | None) -> SearchItem:
    return SearchItem(namespace=cube.namespace, key=cube.key or cube.id, value=dict(cube.metadata),
                      created_at=cube.created_at, updated_at=cube.updated_at, score=score)


class MemOSStore(BaseStore):
    """A LangGraph ``BaseStore`` over :class:`~langchain_memos.memos.MemOS`.

    Args:
        memos: An open MemOS to use; when omitted one is opened from ``config`` or ``path``
            (and closed by :meth:`close`).
        path: Data directory (shortcut for ``MemOSConfig(path=path)``); ``None`` = in memory.
        config: Full MemOS configuration (e.g. a Chroma server).
        index: LangGraph ``IndexConfig``: ``dims``, ``embed`` (anything ``ensure_embeddings``
            accepts) and ``fields`` (JSON paths, default ``["$"]``: the whole value).
        ttl: LangGraph ``TTLConfig``: ``default_ttl`` (minutes), ``refresh_on_read``,
            ``sweep_interval_minutes`` (expired items are always omitted from reads).
        keep_history: Keep the previous version of an item in its history on overwrite.

    Example:
        >>> from langchain_memos.integrations import MemOSStore
        >>> from langchain_memos.embeddings import HashingEmbeddings
        >>> with MemOSStore(index={"dims": 64, "embed": HashingEmbeddings(64)}) as store:
        ...     store.put(("users", "ann"), "tea", {"text": "Ann drinks green tea"})
        ...     [i.key for i in store.search(("users",), query="green tea")]
        ['tea']
    """

    supports_ttl = True
    __slots__ = ("memos", "index_config", "embeddings", "ttl_config", "keep_history", "_fields", "_owns_memos",
                 "_sweeper", "_sweeper_stop", "_sweeper_lock")

    def __init__(self, memos: MemOS | None = None, *, path: str | None = None, config: MemOSConfig | None = None,
                 index: IndexConfig | None = None, ttl: TTLConfig | None = None, keep_history: bool = True) -> None:
        self.index_config: dict[str, Any] | None = dict(index) if index else None
        self.embeddings: Embeddings | None = None
        if self.index_config is not None:
            if self.index_config.get("embed") is None:
                raise InvalidInputError("index needs an 'embed' (LangChain Embeddings, a function, or a provider string)")
            self.embeddings = ensure_embeddings(self.index_config["embed"])
        fields = (self.index_config or {}).get("fields") or ["$"]
        self._fields = [(f, tokenize_path(f)) for f in fields]
        self.ttl_config = ttl
        self.keep_history = keep_history
        self._owns_memos = memos is None
        if memos is None:
            cfg = config or MemOSConfig(path=path)
            memos = MemOS(config=cfg, embeddings=self.embeddings or _NoEmbeddings())
        self.memos = memos
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        self._sweeper_lock = threading.Lock()

    # ------------------------------------------------------------ construction
    @classmethod
    @contextmanager
    def from_path(cls, path: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
                  **kwargs: Any) -> Iterator["MemOSStore"]:
        """Open the embedded store in ``path`` as a context manager (sweeper started if configured)."""
        with cls(path=str(path), index=index, ttl=ttl, **kwargs) as store:
            yield store

    @classmethod
    @contextmanager
    def from_config(cls, config: MemOSConfig, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None,
                    **kwargs: Any) -> Iterator["MemOSStore"]:
        """Open a store from a full :class:`MemOSConfig` (e.g. a Chroma server) as a context manager."""
        with cls(config=config, index=index, ttl=ttl, **kwargs) as store:
            yield store

    def setup(self) -> None:
        """Create tables and indexes; idempotent (the constructor already calls it)."""
        self.memos.engine.setup()

    def close(self) -> None:
        """Stop the sweeper and close the engines this store opened; idempotent."""
        self.stop_ttl_sweeper()
        if self._owns_memos:
            self.memos.close()

    def __enter__(self) -> "MemOSStore":
        if self.ttl_config and self.ttl_config.get("sweep_interval_minutes"):
            self.start_ttl_sweeper()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_cube(self, namespace: tuple[str, ...], key: str) -> MemCube | None:
        """The MemCube behind an item (tier, heat, history, provenance...), or ``None``."""
        namespace = _check_namespace(namespace, allow_empty=False)
        return self.memos.engine.by_keys(namespace, [key])[0]

    # ------------------------------------------------------------------ TTL
    def sweep_ttl(self) -> int:
        """Delete every expired item now (each deletion is audited); return how many."""
        return len(self.memos.expire(reason="ttl expired (store sweep)"))

    async def asweep_ttl(self) -> int:
        """Async twin of :meth:`sweep_ttl`."""
        return await asyncio.to_thread(self.sweep_ttl)

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> threading.Thread:
        """Start a daemon thread that sweeps expired items every interval; returns it (idempotent)."""
        with self._sweeper_lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return self._sweeper
            minutes = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
            self._sweeper_stop.clear()

            def loop() -> None:
                while not self._sweeper_stop.wait(float(minutes) * 60.0):
                    self.sweep_ttl()

            self._sweeper = threading.Thread(target=loop, name="memos-ttl-sweeper", daemon=True)
            self._sweeper.start()
            return self._sweeper

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; returns True when it has stopped (or never ran)."""
        with self._sweeper_lock:
            thread, self._sweeper = self._sweeper, None
            self._sweeper_stop.set()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # ----------------------------------------------------------------- planning
    def _ttl_minutes(self, op: PutOp) -> float | None:
        ttl = op.ttl
        if ttl is NOT_PROVIDED:
            ttl = (self.ttl_config or {}).get("default_ttl")
        return validate_ttl_minutes(ttl, what="ttl")

    def _texts(self, op: PutOp) -> list[str]:
        """The texts of the value at the index fields (``$`` = the whole value as JSON)."""
        if op.index is False:
            return []
        paths = self._fields if op.index is None else [(f, tokenize_path(f)) for f in op.index]
        texts: list[str] = []
        for path, tokens in paths:
            if path == "$":
                texts.append(json.dumps(op.value, ensure_ascii=False, sort_keys=True))
            else:
                texts.extend(t for t in get_text_at_path(op.value, tokens) if t)
        return texts

    def _existing(self, keys: Iterable[tuple[tuple[str, ...], str]]) -> dict[tuple[tuple[str, ...], str], MemCube]:
        """I/O step: the stored cubes behind these ``(namespace, key)`` items."""
        existing: dict[tuple[tuple[str, ...], str], MemCube] = {}
        by_ns: dict[tuple[str, ...], list[str]] = {}
        for ns, key in keys:
            by_ns.setdefault(ns, []).append(key)
        for ns, keys_in_ns in by_ns.items():
            for key, cube in zip(keys_in_ns, self.memos.engine.by_keys(ns, keys_in_ns)):
                if cube is not None:
                    existing[(ns, key)] = cube
        return existing

    def _plan_puts(self, puts: Mapping[tuple[tuple[str, ...], str], PutOp],
                   existing: Mapping[tuple[tuple[str, ...], str], MemCube]) -> tuple[list[PlannedCube], list[tuple]]:
        """Pure step: cubes for the puts (``existing`` items keep id, created_at and history) and the deletes."""
        now = utcnow()
        writes = [(k, op) for k, op in puts.items() if op.value is not None]
        deletes = [k for k, op in puts.items() if op.value is None]
        planned: list[PlannedCube] = []
        for (ns, key), op in writes:
            if not isinstance(op.value, Mapping):
                raise InvalidInputError(f"store values must be dicts, got {type(op.value).__name__}")
            value = validate_json_value(dict(op.value), what="value")
            ttl = self._ttl_minutes(op)
            texts = self._texts(op)
            # The searchable text is capped at max_content_chars; the value itself is stored whole.
            content = ("\n".join(texts) if texts else json.dumps(value, ensure_ascii=False, sort_keys=True))
            content = content[: self.memos.config.max_content_chars]
            old = existing.get((ns, key))
            cube = MemCube(content=content, namespace=ns, key=key, metadata=value, source=_SOURCE,
                           memory_type=MemoryType.PLAINTEXT, created_at=now, updated_at=now,
                           ttl_minutes=ttl, expires_at=now + timedelta(minutes=ttl) if ttl else None)
            if old is not None:
                history = list(old.history)
                if self.keep_history:
                    history.append(HistoryEntry(version=old.version, content=old.content, metadata=old.metadata,
                                                changed_at=now, reason="put", snapshot=old.snapshot()))
                cube = replace(cube, id=old.id, created_at=old.created_at, version=old.version + 1,
                               history=history, tier=old.tier, status=old.status, heat=old.heat,
                               access_count=old.access_count, last_accessed_at=old.last_accessed_at,
                               importance=old.importance, tags=old.tags, owner=old.owner,
                               permissions=old.permissions, provenance=list(old.provenance))
            # Items with no text at the index fields (or index=False) are stored but not searchable.
            embed = self.embeddings is not None and bool(texts)
            keyword = bool(texts)
            planned.append(PlannedCube(cube=cube, index_text=content if keyword else None,
                                       embed_text=content if embed else None))
        return planned, deletes

    def _check_dims(self, vectors: Sequence[Sequence[float]]) -> None:
        dims = (self.index_config or {}).get("dims")
        for v in vectors:
            if dims is not None and len(v) != dims:
                raise EmbeddingDimensionError(
                    f"the index embedder returned {len(v)}-dimensional vectors but IndexConfig.dims is {dims}; "
                    "set dims to the model's dimension")

    # ---------------------------------------------------------------- execution
    def _search_query(self, op: SearchOp) -> tuple[CubeQuery, list[tuple]]:
        value_conds, cube_conds, checks = _store_conditions(op.filter)
        return CubeQuery(namespace_prefix=tuple(op.namespace_prefix), conditions=tuple(value_conds),
                         cube_conditions=tuple(cube_conds)), checks

    def _search(self, op: SearchOp, query_vector: Sequence[float] | None,
                timings: SearchTimings) -> list[tuple[MemCube, float | None]]:
        cq, checks = self._search_query(op)
        timings.lap("query_analysis")
        end = op.offset + op.limit
        engine = self.memos.engine
        if not op.query:
            if checks:
                cubes = [c for c in engine.cubes(cq, with_history=False) if _passes_python_checks(c.metadata, checks)]
                return [(c, None) for c in cubes[op.offset:end]]
            return [(c, None) for c in engine.cubes(cq, limit=op.limit, offset=op.offset, with_history=False)]
        config = self.memos.retrieval
        # the best `depth` items are ranked, each engine asked for `depth` candidates: one order for a
        # query and a limit, so offsets page through it without overlaps or gaps
        depth = config.engine_pool(op.limit, max(config.keyword_pool, config.vector_pool))
        # a page is cut by limit and offset alone: no token budget (that is for prompts) drops ranked items
        plan = replace(plan_search(op.query, cq, depth, replace(config, pool_per_result=1, min_pool=depth),
                                   min_score=0.0, mmr=False), max_tokens=None)
        hits = engine.rank(plan, query_vector, timings)
        ranked_ids = [h.id for h in hits]
        scores = {h.id: h.score for h in hits}
        # Without Python-only checks only the page is loaded: ranked ids first, then the
        # listing's ids (no JSON is parsed for the rest).

        def load(ids: Sequence[str]) -> list[MemCube]:
            return [c for c in engine.load(ids) if c is not None]

        if checks:
            ordered = [c for c in load(ranked_ids) if _passes_python_checks(c.metadata, checks)]
            if len(ordered) < end:
                seen = set(ranked_ids)
                ordered.extend(c for c in engine.cubes(cq, with_history=False)
                               if c.id not in seen and _passes_python_checks(c.metadata, checks))
            return [(c, scores.get(c.id)) for c in ordered[op.offset:end]]
        page = ranked_ids[op.offset:end]
        if len(ranked_ids) < end:
            seen = set(ranked_ids)
            listed = [i for i in engine.cube_ids(cq, limit=end + len(seen)) if i not in seen]
            page = (ranked_ids + listed)[op.offset:end]
        return [(c, scores.get(c.id)) for c in load(page)]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = self.memos.engine.namespaces(_plain_prefix(op.match_conditions))
        namespaces = [ns for ns in namespaces if all(_namespace_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        return namespaces[op.offset: op.offset + op.limit]

    def _execute(self, ops: Sequence[Op], query_vectors: Mapping[str, Sequence[float]],
                 embed_ms: Mapping[str, float], planned: Sequence[PlannedCube], deletes: Sequence[tuple], vectors: Sequence[Sequence[float]]
                 ) -> list[Result]:
        """Run the reads against the state before the batch, then apply puts and deletes."""
        results: list[Result] = [None] * len(ops)
        now = utcnow()
        refresh: list[str] = []
        seen: list[str] = []
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                cube = self.memos.engine.by_keys(op.namespace, [op.key])[0]
                if cube is not None and cube.is_expired(now):
                    cube = None
                results[i] = _item(cube) if cube is not None else None
                if cube is not None:
                    seen.append(cube.id)
                    if op.refresh_ttl and cube.ttl_minutes:
                        refresh.append(cube.id)
            elif isinstance(op, SearchOp):
                timings = SearchTimings()
                timings.add("query_embedding", embed_ms.get(op.query or "", 0.0))
                found = self._search(op, query_vectors.get(op.query or ""), timings)
                items = [_search_item(c, s) for c, s in found]
                timings.lap("render")
                results[i] = SearchResults(items, timings.finish())
                seen.extend(c.id for c, _ in found)
                if op.refresh_ttl:
                    refresh.extend(c.id for c, _ in found if c.ttl_minutes)
            elif isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(op)
        if refresh:
            self.memos.engine.refresh_expiry(refresh, now)
        if seen and self.memos.config.track_access:
            self.memos.engine.touch(seen, now)
        if planned:
            self.memos.engine.commit(planned, vectors)
        for ns, key in deletes:
            cube = self.memos.engine.by_keys(ns, [key])[0]
            if cube is not None:
                self.memos.delete(cube.id, reason="store delete")
        return results

    def _prepare(self, ops: Iterable[Op]) -> tuple[list[Op], list[PlannedCube], list[tuple], list[str], list[str]]:
        """Validate every op, dedupe puts (last wins), plan writes; list texts to embed."""
        ops = list(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            _validate_op(op)
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op
        for op in ops:
            if isinstance(op, SearchOp):
                self._search_query(op)  # validate filters before anything is written
        existing = self._existing(k for k, op in puts.items() if op.value is not None)
        planned, deletes = self._plan_puts(puts, existing)
        queries = sorted({op.query for op in ops if isinstance(op, SearchOp) and op.query}) if self.embeddings else []
        texts = [p.embed_text for p in planned if p.embed_text is not None]
        return ops, planned, deletes, queries, texts

    def _query_embedder(self) -> Any:
        """What embeds the store's queries: the engine, which keeps them by text
        (``MemOSConfig.query_cache_size``), when it embeds with the index's model; else that model."""
        engine = self.memos.engine
        return engine if engine.embeddings is self.embeddings else self.embeddings

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ops in one call; results come back in input order."""
        ops, planned, deletes, queries, texts = self._prepare(ops)
        embedded = [_timed_call(self._query_embedder().embed_query, q) for q in queries] if self.embeddings else []
        query_vectors = {q: v for q, (v, _) in zip(queries, embedded)}
        vectors = self.embeddings.embed_documents(texts) if texts and self.embeddings else []
        self._check_dims([*query_vectors.values(), *vectors])
        return self._execute(ops, query_vectors, {q: ms for q, (_, ms) in zip(queries, embedded)},
                             planned, deletes, vectors)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (embeds with the async API, runs storage in a thread)."""
        ops, planned, deletes, queries, texts = await asyncio.to_thread(self._prepare, ops)
        embedded = (await asyncio.gather(*(_atimed_call(self._query_embedder().aembed_query, q) for q in queries))
                    if self.embeddings is not None else [])
        query_vectors = {q: v for q, (v, _) in zip(queries, embedded)}
        vectors = await self.embeddings.aembed_documents(texts) if texts and self.embeddings else []
        self._check_dims([*query_vectors.values(), *vectors])
        return await asyncio.to_thread(self._execute, ops, query_vectors,
                                       {q: ms for q, (_, ms) in zip(queries, embedded)}, planned, deletes, vectors)


def make_store(path: str | None = None) -> MemOSStore:
    """Factory for ``langgraph.json`` (``"store": {"path": "langchain_memos.integrations.store:make_store"}``).

    Reads ``MEMOS_PATH`` (default ``./memos_data``) and indexes with the offline MiniLM.
    """
    import os

    from ..embeddings import MINILM_DIMS, LocalMiniLMEmbeddings

    return MemOSStore(path=path or os.environ.get("MEMOS_PATH", "memos_data"),
                      index={"dims": MINILM_DIMS, "embed": LocalMiniLMEmbeddings()})
