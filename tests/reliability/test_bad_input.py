"""Bad input (issue 10, point 3): property tests over the public API and the store ops.

Allowed errors: subclasses of ``langchain_memos.errors.MemOSError`` (their messages name
the fix), and LangGraph's ``InvalidNamespaceError`` (a ``ValueError``) that
``BaseStore`` raises itself for bad namespace labels; ``MemOSStore`` raises
``StoreNamespaceError``, which is both.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError
from langgraph.store.base import PutOp

from benchmarks.reliability import fuzz
from benchmarks.reliability._shared import open_memos, open_store
from langchain_memos.errors import InvalidInputError, MemOSError


def test_fuzzing_every_target_gives_only_typed_errors_and_no_half_written_batch():
    figures = fuzz.run(40)
    assert figures["fuzz_cases"] >= 200
    assert figures["untyped_errors"] == 0, figures["untyped_examples"]
    assert figures["half_written"] == 0
    assert figures["typed_errors"] > 0  # the strategies do reach the error paths


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(fuzz.put_ops, min_size=2, max_size=5))
def test_a_store_batch_with_one_bad_put_writes_nothing(ops):
    with open_store(None) as store:
        good = PutOp(("ok",), "fine", {"text": "fine"})
        try:
            store.batch([good, *ops])
        except (MemOSError, LangGraphNamespaceError):
            assert store.get(("ok",), "fine") is None


@pytest.mark.parametrize("call, match", [
    (lambda m: m.search("tea", tiers=["hot"]), "tier 'hot' is not one of"),
    (lambda m: m.search("tea", types="fact"), "memory type must be a list"),
    (lambda m: m.add("x", ("u",), ttl_minutes=math.nan), "ttl_minutes must be a positive finite number"),
    (lambda m: m.add("x", ("u",), ttl_minutes=10**12), "1,000 years"),
    (lambda m: m.add("x", ("u",), metadata=[1, 2]), "metadata must be a dict"),
    (lambda m: m.update(m.add("x", ("u",))[0], metadata=None), "metadata must be a dict"),
    (lambda m: m.update(m.add("x", ("u",))[0], importance=None), "wrong type"),
    (lambda m: m.update(m.add("x", ("u",))[0], expires_at="not a date"), "cannot update"),
    (lambda m: m.promote(m.add("x", ("u",))[0], "hot"), "tier 'hot'"),
])
def test_bad_values_found_by_fuzzing_raise_typed_errors_that_name_the_fix(call, match):
    memos = open_memos(None)
    try:
        with pytest.raises(InvalidInputError, match=match):
            call(memos)
    finally:
        memos.close()


def test_store_ops_with_a_none_namespace_raise_the_namespace_error():
    with open_store(None) as store:
        with pytest.raises(LangGraphNamespaceError):
            store.batch([PutOp(None, "k", {"text": "x"})])  # type: ignore[arg-type]


def test_store_keys_with_nul_are_found_again():
    with open_store(None) as store:
        store.put(("a",), "k\x00x", {"text": "v"})
        assert store.get(("a",), "k\x00x").value == {"text": "v"}
        assert store.get(("a",), "k") is None


def test_a_store_filter_that_is_not_a_dict_is_a_typed_error():
    with open_store(None) as store:
        with pytest.raises(InvalidInputError, match="filter must be a dict"):
            store.search(("a",), filter=[("category", "books")])  # type: ignore[arg-type]


def test_a_query_embedding_of_another_dimension_is_a_typed_error():
    from langchain_memos.errors import EmbeddingDimensionError

    memos = open_memos(None)
    try:
        memos.add("green tea", ("u",))
        with pytest.raises(EmbeddingDimensionError, match="same embedding model"):
            memos.search_by_vector("tea", [0.1] * 7, ("u",))
    finally:
        memos.close()


_SURROGATE = "\ud800"  # a lone surrogate: Python holds it, UTF-8 (and so SQLite) cannot


@pytest.mark.parametrize("call", [
    lambda m, s: m.search("tea", (_SURROGATE,)),
    lambda m, s: m.search("tea", ("a",), filters={_SURROGATE: 1}),
    lambda m, s: m.search("tea", ("a",), filters={"k": {"$in": [_SURROGATE]}}),
    lambda m, s: m.get(_SURROGATE),
    lambda m, s: m.delete(_SURROGATE),
    lambda m, s: s.put(("a",), _SURROGATE, {"t": 1}),
    lambda m, s: s.put((_SURROGATE,), "k", {"t": 1}),
    lambda m, s: s.get(("a",), _SURROGATE),
    lambda m, s: s.search(("a",), filter={"t": _SURROGATE}),
], ids=["search-namespace", "search-filter-key", "search-filter-in", "get", "delete", "put-key", "put-namespace",
        "store-get", "store-search-filter"])
def test_text_that_is_not_valid_unicode_is_a_typed_error_on_every_path(call):
    memos = open_memos(None)
    try:
        with open_store(None) as store:
            memos.add(["green tea"], ("a",))
            store.put(("a",), "fine", {"t": 1})
            with pytest.raises((MemOSError, LangGraphNamespaceError)) as caught:
                call(memos, store)
            if isinstance(caught.value, InvalidInputError):
                assert "surrogate" in str(caught.value)
            assert [h.cube.content for h in memos.search("green tea", ("a",), k=1)] == ["green tea"]  # still works
            assert store.get(("a",), "fine").value == {"t": 1}
    finally:
        memos.close()


@pytest.mark.parametrize("ttl", [4_193_429_446, 1e12, float("inf")])
def test_a_ttl_beyond_any_date_is_a_typed_error(ttl: float) -> None:
    with open_store(None) as store:
        with pytest.raises(InvalidInputError, match="minutes"):
            store.batch([PutOp(("users",), "k", {"a": 1}, ttl=ttl)])
        with pytest.raises(InvalidInputError, match="minutes"):
            store.memos.add("a note", ("users",), ttl_minutes=ttl)
        assert store.get(("users",), "k") is None
