"""The index worker's keyword mirror (tantivy) against the record store's FTS5: what it returns always
matches the query, follows every write, and ranks nearly as FTS5 does."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

pytest.importorskip("tantivy")

from langchain_memos import MemOS  # noqa: E402
from langchain_memos.config import MemOSConfig  # noqa: E402
from langchain_memos.cube import MemCube, utcnow  # noqa: E402
from langchain_memos.embeddings import HashingEmbeddings  # noqa: E402
from langchain_memos.engine.core import MemoryEngine  # noqa: E402
from langchain_memos.engine.vector_steps import VectorSteps  # noqa: E402
from langchain_memos.filters import parse_filter  # noqa: E402
from langchain_memos.storage import keyword_mirror  # noqa: E402
from langchain_memos.storage.base import CubeQuery  # noqa: E402
from langchain_memos.storage.index_worker import WorkerVectorIndex, worker_supported  # noqa: E402
from langchain_memos.storage.keyword_mirror import KeywordMirror  # noqa: E402
from langchain_memos.storage.sqlite import SQLiteRecordStore  # noqa: E402

WORDS = ("tea coffee garden hiking museum camping swimming kids family dinner concert guitar painting "
         "running cycling pottery sunset beach mountain river library novel recipe bakery festival").split()


def corpus(records: SQLiteRecordStore, n: int, seed: int = 0) -> list[MemCube]:
    rng = random.Random(seed)
    cubes = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) + rng.choice(["", "s", "ing", "ed"]) for _ in range(rng.randint(4, 12)))
        cubes.append(MemCube(content=text, namespace=("users", f"u{i % 3}"), key=f"k{i}",
                             metadata={"kind": rng.choice(["note", "chat", "fact"]), "n": i % 5}))
    records.write(cubes, [None] * n, [{"body": c.content, "context": "", "next": "", "date": ""} for c in cubes])
    return cubes


def fts5(records, words, cq, k):
    return records.keyword_search(words, cq, k, column_weights=(1.0, 0.5, 0.2, 1.0))


def checked(records, mirror, words, cq, k):
    """The engine's keyword step over a large scope: the mirror's hits, checked against ``cq`` in SQLite."""
    engine = VectorSteps()  # the id check the engine's keyword step uses
    engine.records, engine.vectors = records, SimpleNamespace(keyword_candidates=mirror.search)
    return MemoryEngine.keyword_candidates(engine, words, cq, k, (1.0, 0.5, 0.2, 1.0), large=True)


QUERIES = [(["tea", "gardens"], CubeQuery()),
           (["hiking", "family", "kids"], CubeQuery(namespace_prefix=("users",))),
           (["museum", "concert"], CubeQuery(namespace_prefix=("users", "u1"), exact_namespace=True)),
           (["swimming", "beach", "sunset"], CubeQuery(conditions=tuple(parse_filter({"kind": "chat"})))),
           (["novel", "library"], CubeQuery(namespace_prefix=("users",), conditions=tuple(parse_filter({"n": 2})))),
           (["recipe", "bakery", "dinner"], CubeQuery(conditions=tuple(parse_filter({"kind": {"$in": ["fact", "note"]}}))))]


@pytest.fixture
def records(tmp_path):
    store = SQLiteRecordStore(tmp_path / "memos.sqlite3")
    try:
        yield store
    finally:
        store.close()


def test_answers_match_the_query_and_rank_nearly_as_fts5(records):
    corpus(records, 1500)
    mirror = KeywordMirror(records)
    assert mirror.search(["tea"], CubeQuery(), 5) is None  # not built yet: FTS5 answers
    mirror.build()
    overlaps = []
    for words, cq in QUERIES:
        raw = mirror.search(words, cq, 20, (1.0, 0.5, 0.2, 1.0))  # namespace and string filters applied
        if not cq.conditions or all(isinstance(c.value, str) and c.op == "$eq" for c in cq.conditions):
            assert {h.id for h in raw} <= set(records.query_ids(cq, order_by=None))
        got = checked(records, mirror, words, cq, 20)
        assert got and len(got) == 20
        assert {h.id for h in got} <= set(records.query_ids(cq, order_by=None))  # every one matches the query
        assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
        overlaps.append(len({h.id for h in got} & {h.id for h in fts5(records, words, cq, 20)}) / 20)
    assert sum(overlaps) / len(overlaps) >= 0.75  # another BM25 (per field, boosted): mostly the same top 20


def test_follows_rewrites_deletions_and_expiry(records):
    cubes = corpus(records, 300)
    mirror = KeywordMirror(records)
    mirror.build()
    target = cubes[7]
    rewritten = MemCube(content="a zeppelin over the harbour", namespace=target.namespace, key=target.key,
                        id=target.id, metadata=target.metadata)
    records.write([rewritten], [None], ["a zeppelin over the harbour"])
    gone = cubes[8]
    records.delete([gone.id], reason="test")
    late = MemCube(content="zeppelin museum tickets", namespace=("users", "u2"), key="late",
                   expires_at=utcnow() + timedelta(hours=1))
    records.write([late], [None], ["zeppelin museum tickets"])
    mirror.catch_up()
    found = [h.id for h in mirror.search(["zeppelin"], CubeQuery(), 10)]
    assert sorted(found) == sorted([target.id, late.id])
    later = CubeQuery(now=utcnow() + timedelta(hours=2))  # `late` has expired by then
    assert [h.id for h in checked(records, mirror, ["zeppelin"], later, 10)] == [target.id]
    old_words = set(target.content.split()) - set(rewritten.content.split())
    assert all(h.id != target.id for h in mirror.search(sorted(old_words), CubeQuery(), 300))
    assert all(h.id != gone.id for h in mirror.search(gone.content.split(), CubeQuery(), 300))


def test_a_mirror_behind_the_pruned_log_builds_itself_again(records, monkeypatch):
    corpus(records, 50)
    mirror = KeywordMirror(records)
    mirror.build()
    monkeypatch.setattr(keyword_mirror, "LOG_KEEP", 10)
    records.write_transaction(lambda conn: conn.execute("DELETE FROM keyword_log"), bookkeeping=True)  # pruned
    fresh = MemCube(content="quokka sighting", namespace=("users", "u0"), key="quokka")
    records.write([fresh], [None], ["quokka sighting"])
    mirror.catch_up()
    assert [h.id for h in mirror.search(["quokka"], CubeQuery(), 5)] == [fresh.id]


@pytest.mark.skipif(not worker_supported(), reason="the index worker needs POSIX")
def test_a_large_scopes_keyword_search_goes_to_the_workers_mirror(tmp_path, monkeypatch):
    config = MemOSConfig(path=str(tmp_path / "m"), index_worker_after=0, graph_backend=None)
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:
        corpus(memos.records, 10)  # records written directly: not in the vector index, which is fine here
        rng = random.Random(1)
        memos.add([" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(2600)], ("users", "big"),
                  metadata={"kind": "chat"})
        asked = []
        ask = WorkerVectorIndex.keyword_candidates
        monkeypatch.setattr(WorkerVectorIndex, "keyword_candidates",
                            lambda self, *args: asked.append(ask(self, *args)) or asked[-1])
        cq = CubeQuery(namespace_prefix=("users", "big"), exact_namespace=True)
        for _ in range(200):  # the worker builds its mirror when it starts: until then FTS5 answers
            if ask(memos.vectors, ["tea"], cq, 5) is not None:
                break
            time.sleep(0.05)
        hits = memos.search("garden concert tea", ("users", "big"), k=5)
        assert len(hits) == 5 and asked and all(found is not None for found in asked)
        assert all(h.cube.namespace == ("users", "big") for h in hits)
        before = len(asked)
        small = memos.search("garden concert tea", ("users", "u1"), k=3)  # a small scope: FTS5 only
        assert len(asked) == before and all(h.cube.namespace == ("users", "u1") for h in small)


def test_metadata_holding_the_term_separators_is_still_found(records):
    odd = MemCube(content="walrus choir rehearsal", namespace=("users", "u0"), key="odd",
                  metadata={"kind": "a\x1eb", "x\x1fy": "z"})
    records.write([odd], [None], ["walrus choir rehearsal"])
    mirror = KeywordMirror(records)
    mirror.build()
    for flt in ({"kind": "a\x1eb"}, {"x\x1fy": "z"}):
        cq = CubeQuery(conditions=tuple(parse_filter(flt)))
        assert [h.id for h in checked(records, mirror, ["walrus"], cq, 5)] == [odd.id]
