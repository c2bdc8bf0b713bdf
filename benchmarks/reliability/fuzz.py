"""Bad input: property-based fuzzing (hypothesis) of the public API and the store operations.

Targets: ``MemOS.add``/``search``/``update``/``delete`` (namespaces, contents,
metadata, filters, TTLs, tiers, k...), ``MemOSStore.batch`` with random
``PutOp``/``GetOp``/``SearchOp``/``ListNamespacesOp``, and embedders that return the
wrong dimension, NaN or the wrong number of vectors. Every case must either succeed
or raise a typed error (see :func:`~._shared.is_typed`); a call that fails must leave
the store as it was (no half-written batch), and the store must keep working.

Figures: ``fuzz_cases``, ``typed_errors``, ``untyped_errors`` (with examples),
``half_written`` (a failed call that changed the store).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings
from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

from ._shared import describe, is_typed, open_memos, open_store

_WEIRD = ["", ".", "..", "../etc", "a.b", "\x00", "\x1f", "\n", "users", "*", "€", "\ud800", " ", "x" * 300]
labels = st.one_of(st.sampled_from(_WEIRD), st.text(max_size=12), st.integers(), st.none())
namespaces = st.one_of(st.lists(labels, max_size=4).map(tuple), st.lists(st.sampled_from(["users", "a", "b"]),
                                                                          min_size=1, max_size=3).map(tuple),
                       st.text(max_size=5), st.none())


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20))
odd = st.one_of(st.just(object()), st.just({1, 2}), st.just(b"bytes"), st.just(math.nan), st.just({1: "int key"}),
                st.integers(1, 3000).map(_nest), st.integers(0, 250_000).map(lambda n: "x" * n))
values = st.recursive(st.one_of(scalars, odd), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)
filters = st.one_of(st.none(), st.dictionaries(st.text(max_size=6), st.one_of(scalars, st.dictionaries(
    st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$where", "x"]),
    st.one_of(scalars, st.lists(scalars, max_size=3), values), max_size=2)), max_size=3), values)
ttls = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**12), st.text(max_size=3))
contents = st.one_of(st.text(max_size=40), st.integers(0, 150_000).map(lambda n: "y" * n), scalars, values)


class _BadEmbeddings(Embeddings):
    """Returns vectors of the wrong size, NaN, or the wrong count, as told."""

    def __init__(self, mode: str, dims: int) -> None:
        self.mode, self.dims = mode, dims

    def _vec(self) -> list[float]:
        return [math.nan] * self.dims if self.mode == "nan" else [0.5] * self.dims

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        n = len(texts) + (1 if self.mode == "count" else 0)
        return [self._vec() for _ in range(n)]

    def embed_query(self, text: str) -> list[float]:
        return self._vec()


class Fuzzer:
    """Runs the targets against one in-memory MemOS and one MemOSStore, counting outcomes."""

    def __init__(self) -> None:
        self.memos = open_memos(None)
        self._store_cm = open_store(None)
        self.store = self._store_cm.__enter__()
        self.figures: dict[str, Any] = {"fuzz_cases": 0, "typed_errors": 0, "untyped_errors": 0, "half_written": 0,
                                        "untyped_examples": []}
        self.ids: list[str] = []
        self.trace = False

    def close(self) -> None:
        self.memos.close()
        self._store_cm.__exit__(None, None, None)

    def _state(self, memos: Any) -> tuple[int, int]:
        from langchain_memos.cube import Status
        from langchain_memos.storage.base import CubeQuery

        return memos.records.count(CubeQuery(statuses=frozenset(Status), include_expired=True)), memos.vectors.count()

    def case(self, memos: Any, call: Callable[[], Any], *, writes: bool = True) -> Any:
        """Run one case; classify its error; check a failed write changed nothing."""
        self.figures["fuzz_cases"] += 1
        before = self._state(memos) if writes else None
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified
            if is_typed(exc):
                self.figures["typed_errors"] += 1
            else:
                self.figures["untyped_errors"] += 1
                example = describe(exc)[:90]
                if example not in self.figures["untyped_examples"] and len(self.figures["untyped_examples"]) < 20:
                    self.figures["untyped_examples"].append(example)
                    if self.trace:
                        import traceback

                        traceback.print_exception(exc)
            if writes and self._state(memos) != before:
                self.figures["half_written"] += 1
            return None

    # ---------------------------------------------------------------- targets
    def add(self, content: Any, namespace: Any, metadata: Any, ttl: Any, batch_bad: bool) -> None:
        items = [content] if not batch_bad else ["fine one", "fine two", content]
        ids = self.case(self.memos, lambda: self.memos.add(items, namespace, metadata=metadata, ttl_minutes=ttl))
        if ids:
            self.ids.extend(ids[:2])

    def search(self, query: Any, namespace: Any, k: Any, flt: Any, tiers: Any, max_tokens: Any) -> None:
        self.case(self.memos, lambda: self.memos.search(query, namespace, k=k, filters=flt, tiers=tiers,
                                                        max_tokens=max_tokens), writes=False)

    def change(self, pick: int, content: Any, metadata: Any, field: str, delete: bool) -> None:
        cube_id = self.ids[pick % len(self.ids)] if self.ids and pick >= 0 else str(pick)
        if delete:
            self.case(self.memos, lambda: self.memos.delete(cube_id))
        else:
            self.case(self.memos, lambda: self.memos.update(cube_id, **{field: content}, metadata=metadata))

    def store_batch(self, ops: list[Any]) -> None:
        self.case(self.store.memos, lambda: self.store.batch(ops))

    def bad_embeddings(self, mode: str, dims: int, texts: list[str]) -> None:
        memos = self.memos
        previous = memos.embeddings
        memos.embeddings = _BadEmbeddings(mode, dims)
        try:
            self.case(memos, lambda: memos.add(texts, ("emb",)))
            self.case(memos, lambda: memos.search("tea", ("emb",)), writes=False)
        finally:
            memos.embeddings = previous

    def sanity(self) -> None:
        """The store still works after the cases (a crash would show here)."""
        cube_id = self.memos.add("still working", ("sanity",))[0]
        assert self.memos.get(cube_id, touch=False) is not None
        self.store.put(("sanity",), "k", {"text": "still working"})
        assert self.store.get(("sanity",), "k") is not None


put_ops = st.builds(PutOp, namespace=namespaces, key=st.one_of(st.text(max_size=10), st.sampled_from(
    ["../../etc/passwd", "a/b", "'; DROP TABLE cubes;--"]), st.integers()), value=st.one_of(st.none(), values, st.fixed_dictionaries(
    {"text": contents}, optional={"n": values})), index=st.one_of(st.none(), st.just(False), st.lists(
    st.sampled_from(["text", "$", "a.b", "items[*].x", "[", ""]), max_size=2)), ttl=ttls)
store_ops = st.one_of(
    put_ops,
    st.builds(GetOp, namespace=namespaces, key=st.one_of(st.text(max_size=6), st.integers())),
    st.builds(SearchOp, namespace_prefix=namespaces, filter=filters, limit=st.integers(-2, 50),
              offset=st.integers(-2, 50), query=st.one_of(st.none(), st.text(max_size=20))),
    st.builds(ListNamespacesOp, match_conditions=st.none(), max_depth=st.one_of(st.none(), st.integers(-1, 4)),
              limit=st.integers(-1, 20), offset=st.integers(-1, 5)),
)


def run(cases_per_target: int = 50, *, trace: bool = False) -> dict[str, Any]:
    """Run every target ``cases_per_target`` times; return the figures."""
    fuzzer = Fuzzer()
    fuzzer.trace = trace
    config = settings(max_examples=cases_per_target, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
    targets = [
        given(content=contents, namespace=namespaces, metadata=st.one_of(st.none(), values), ttl=ttls,
              batch_bad=st.booleans())(fuzzer.add),
        given(query=st.one_of(st.text(max_size=30), scalars), namespace=namespaces,
              k=st.one_of(st.integers(-3, 50), st.floats(), st.none()), flt=filters,
              tiers=st.one_of(st.none(), st.lists(st.sampled_from(["mid_term", "archive", "hot", "", "x"]))),
              max_tokens=st.one_of(st.none(), st.integers(-5, 100)))(fuzzer.search),
        given(pick=st.integers(-5, 100), content=contents, metadata=st.one_of(st.none(), values),
              field=st.sampled_from(["content", "tags", "importance", "tier", "expires_at", "owner", "version",
                                     "permissions"]), delete=st.booleans())(fuzzer.change),
        given(ops=st.lists(store_ops, min_size=1, max_size=4))(fuzzer.store_batch),
        given(mode=st.sampled_from(["dims", "nan", "count"]), dims=st.integers(0, 200),
              texts=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3))(fuzzer.bad_embeddings),
    ]
    try:
        for target in targets:
            config(target)()
        fuzzer.sanity()
        return dict(fuzzer.figures)
    finally:
        fuzzer.close()


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50, trace="--trace" in sys.argv), indent=2))
