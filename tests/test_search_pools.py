"""How many candidates a search asks each engine for (``RetrievalConfig.engine_pool``)."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_memos import MemOS
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSStore
from langchain_memos.retrieval.fusion import RetrievalConfig


@pytest.mark.parametrize(("k", "expected"), [(1, 50), (10, 50), (15, 75), (20, 100), (40, 100), (300, 300)])
def test_engine_pool_scales_with_k_between_the_floor_and_the_pool(k: int, expected: int) -> None:
    assert RetrievalConfig().engine_pool(k, 100) == expected


def test_min_pool_restores_full_pools() -> None:
    assert RetrievalConfig(min_pool=100).engine_pool(10, 100) == 100
    assert RetrievalConfig(vector_pool=30).engine_pool(10, 30) == 30  # a smaller pool caps it


def _spy(memos: MemOS, seen: list[tuple[str, int]]) -> None:
    engine = memos.engine
    vector, keyword = engine.vector_candidates, engine.records.keyword_search

    def vector_spy(cq: Any, query_vector: Any, pool: int, *rest: Any, **kw: Any) -> Any:
        seen.append(("vector", pool))
        return vector(cq, query_vector, pool, *rest, **kw)

    def keyword_spy(terms: Any, cq: Any, k: int, **kw: Any) -> Any:
        seen.append(("keyword", k))
        return keyword(terms, cq, k, **kw)

    engine.vector_candidates = vector_spy  # type: ignore[method-assign]
    engine.records.keyword_search = keyword_spy  # type: ignore[method-assign]


def test_memos_search_asks_each_engine_for_pool_per_result_times_k() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos:
        memos.add([f"note {i} about green tea" for i in range(30)], ("u",))
        seen: list[tuple[str, int]] = []
        _spy(memos, seen)
        memos.search("green tea", ("u",), k=10)
        memos.search("green tea", ("u",), k=20)
        assert sorted(seen) == [("keyword", 50), ("keyword", 100), ("vector", 50), ("vector", 100)]


def test_store_ranks_engine_pool_of_the_limit_and_pages_one_order() -> None:
    with MemOSStore(index={"dims": 64, "embed": HashingEmbeddings(64)}) as store:
        for i in range(120):
            store.put(("docs",), f"k{i:03d}", {"text": f"green tea note {i}"})
        seen: list[tuple[str, int]] = []
        _spy(store.memos, seen)
        first = store.search(("docs",), query="green tea", limit=10)
        assert ("vector", 50) in seen and ("keyword", 50) in seen
        assert sum(item.score is not None for item in first) == 10
        pages = [store.search(("docs",), query="green tea", limit=10, offset=o) for o in range(0, 120, 10)]
        keys = [item.key for page in pages for item in page]
        assert sorted(keys) == sorted(f"k{i:03d}" for i in range(120))  # no overlap, no gap
        ranked = [item.score is not None for page in pages for item in page]
        assert ranked == sorted(ranked, reverse=True) and 10 <= sum(ranked) <= 50  # ranked first, 50 deep at most
