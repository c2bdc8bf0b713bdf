"""One conformance suite over every storage engine.

``record_store`` runs each RecordStore test over SQLite (file and in-memory);
``vector_index`` runs each VectorIndex test over Chroma (persistent, ephemeral,
and HTTP against a real ``chroma run`` server, marked ``server``). The last section
has cases for each small protocol RecordStore is composed of (``CubeRecords``,
``KeywordIndex``, ``ThreadLinks``, ``PendingVectors``, ``TierState``, ``ExpiryState``,
``AuditLog``, ``StoreAdmin``), each reaching the engine only through that protocol.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_memos.cube import (
    HistoryEntry,
    MemCube,
    MemoryType,
    Permissions,
    Provenance,
    Status,
    Tier,
)
from langchain_memos.errors import (
    EmbeddingDimensionError,
    EngineUnavailableError,
    InvalidInputError,
    StorageError,
    StoreLockedError,
)
from langchain_memos.filters import OPERATORS, Condition, matches, parse_filter
from langchain_memos.storage import AuditRecord, CubeQuery, RecordStore, ScoredId, VectorIndex
from langchain_memos.storage.base import (
    AuditLog,
    CubeRecords,
    ExpiryState,
    KeywordIndex,
    PendingVectors,
    StoreAdmin,
    ThreadLinks,
    TierMove,
    TierState,
    ns_key,
)
from langchain_memos.retrieval.query import keywords
from langchain_memos.storage.sqlite import SCHEMA_VERSION, SQLiteRecordStore, fts_match

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)

INJECTIONS = [
    'say "hello" to "bob',
    "NEAR(alpha beta, 2)",
    "pre* fix*",
    "alpha OR beta AND NOT gamma",
    "(unbalanced (parens",
    "'; DROP TABLE cubes; --",
    "col:value ^start + - {braces}",
    '"""',
    "",
]


# ----------------------------------------------------------------------------- helpers
def cube(content: str = "hello world", ns: tuple[str, ...] = ("users", "alice"), **kw) -> MemCube:
    kw.setdefault("created_at", T0)
    return MemCube(content=content, namespace=ns, **kw)

def kw_search(store, text, query, k, **kwargs):
    """Keyword search the way the facade runs it: query analysis picks the terms."""
    return store.keyword_search(keywords(text), query, k, **kwargs)



def vec(*values: float) -> list[float]:
    return [float(v) for v in values]


def put(store, cubes, embeddings=None, texts=None):
    """Write cubes with no embeddings and their content as index text by default."""
    cubes = list(cubes)
    embeddings = [None] * len(cubes) if embeddings is None else embeddings
    texts = [c.content for c in cubes] if texts is None else texts
    return store.write(cubes, embeddings, texts)


def ids_of(cubes) -> set[str]:
    return {c.id for c in cubes}


def full_cube() -> MemCube:
    return MemCube(
        content="Alice moved to Oslo in 2023 — naïve café ☕",
        namespace=("users", "alice", "facts"),
        key="home-city",
        memory_type=MemoryType.FACT,
        tier=Tier.LONG_TERM,
        status=Status.ACTIVATED,
        metadata={"city": "Oslo", "score": 3.25, "n": 7, "ok": True, "none": None,
                  "nested": {"a": [1, 2, {"b": "c"}], "x.y": 'q"uote'}},
        created_at=T0,
        updated_at=T0 + timedelta(days=1),
        last_accessed_at=T0 + timedelta(days=2, microseconds=7),
        access_count=4,
        heat=1.75,
        importance=0.9,
        source="conversation",
        provenance=[Provenance("message", "D1:3", "thread-1", {"speaker": "Alice"})],
        version=3,
        history=[
            HistoryEntry(1, "Alice lives in Bergen", {"city": "Bergen"}, T0 - timedelta(days=9), "update", "bob",
                         {"tier": "mid_term"}),
            HistoryEntry(2, "Alice lives in Trondheim", {}, T0 - timedelta(days=3), "supersede"),
        ],
        valid_from=T0 - timedelta(days=1),
        valid_to=None,
        expires_at=T0 + timedelta(days=3650 * 20),
        tags=("geo", "home"),
        modality="text",
        owner="alice",
        permissions=Permissions(readers=("bob",), writers=("carol",)),
        language="en",
    )


# ============================================================================= RecordStore
def test_protocols_are_implemented(record_store):
    assert isinstance(record_store, RecordStore)


def test_round_trip_equality(record_store):
    c = full_cube()
    plain = cube("second", key="k2")
    assert put(record_store, [c, plain], [vec(1, 2, 3), None]) == []
    got = record_store.get([c.id, "missing", plain.id])
    assert got == [c, None, plain]
    assert got[0].history == c.history
    assert record_store.get_by_keys(("users", "alice", "facts"), ["home-city", "nope"]) == [c, None]
    assert record_store.get_by_keys(("users", "alice"), ["k2"]) == [plain]
    assert record_store.get([]) == [] and record_store.get_by_keys(("x",), []) == []
    embs = record_store.embeddings([c.id, plain.id, "missing"])
    assert list(embs) == [c.id]
    assert embs[c.id] == pytest.approx([1, 2, 3])
    assert record_store.get_meta("embedding_dim") == "3"


def test_rewrite_replaces_history_vector_and_keyword_text(record_store):
    c = cube("apple pie recipe")
    put(record_store, [c], [vec(1, 0)])
    record_store.mark_indexed([c.id])
    c2 = c.copy(content="banana bread recipe", version=2,
                history=[HistoryEntry(1, "apple pie recipe", {}, T0, "update")])
    put(record_store, [c2], [vec(0, 1)])
    assert record_store.get([c.id]) == [c2]
    assert kw_search(record_store, "apple", CubeQuery(), 5) == []
    assert [s.id for s in kw_search(record_store, "banana", CubeQuery(), 5)] == [c.id]
    assert record_store.embeddings([c.id])[c.id] == pytest.approx([0, 1])
    assert record_store.unindexed_ids() == [c.id]  # a new embedding needs re-indexing
    put(record_store, [c2.copy(history=[])], [None], [None])
    assert record_store.get([c.id])[0].history == []
    assert record_store.embeddings([c.id]) == {}
    assert record_store.unindexed_ids() == []
    assert kw_search(record_store, "banana", CubeQuery(), 5) == []


def test_write_with_one_bad_embedding_writes_nothing(record_store):
    good, bad = cube("good one"), cube("bad one")
    with pytest.raises(InvalidInputError, match="NaN"):
        put(record_store, [good, bad], [vec(1, 2), vec(1, math.nan)])
    with pytest.raises(InvalidInputError):
        put(record_store, [good, bad], [vec(1, 2), vec(math.inf, 0)])
    with pytest.raises(EmbeddingDimensionError):
        put(record_store, [good, bad], [vec(1, 2), vec(1, 2, 3)])
    with pytest.raises(InvalidInputError):
        record_store.write([good], [], [])
    assert record_store.get([good.id, bad.id]) == [None, None]
    assert record_store.count(CubeQuery()) == 0
    assert record_store.get_meta("embedding_dim") is None


def test_failure_mid_transaction_rolls_back(record_store, monkeypatch):
    first = cube("first", key="a")
    second = cube("second", key="b")
    existing = cube("existing", key="a", id="old")
    put(record_store, [existing])
    calls = {"n": 0}
    original = SQLiteRecordStore._write_row

    def failing(self, conn, row):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return original(self, conn, row)

    monkeypatch.setattr(SQLiteRecordStore, "_write_row", failing)
    with pytest.raises(RuntimeError):
        put(record_store, [first, second], [vec(1, 0), vec(0, 1)])
    monkeypatch.undo()
    assert record_store.get([first.id, second.id, "old"]) == [None, None, existing]
    assert record_store.get_meta("embedding_dim") is None
    assert [s.id for s in kw_search(record_store, "existing", CubeQuery(), 5)] == ["old"]


def test_namespace_key_clash_replaces_other_cube(record_store):
    a = cube("first version", key="k", id="A")
    other_ns = cube("same key elsewhere", ns=("users", "bob"), key="k", id="C")
    put(record_store, [a, other_ns], [vec(1, 0), vec(0, 1)])
    b = cube("second version", key="k", id="B")
    assert put(record_store, [b], [vec(1, 1)]) == ["A"]
    assert record_store.get(["A", "B", "C"]) == [None, b, other_ns]
    assert record_store.embeddings(["A"]) == {}
    assert kw_search(record_store, "first", CubeQuery(), 5) == []
    assert record_store.get_by_keys(("users", "alice"), ["k"]) == [b]
    # two cubes with one (ns, key) in a single batch: the later one wins
    x, y = cube("x", key="dup", id="X"), cube("y", key="dup", id="Y")
    assert put(record_store, [x, y]) == ["X"]
    assert record_store.get(["X", "Y"]) == [None, y]


def test_embedding_dimension_mismatch(record_store):
    put(record_store, [cube("one")], [vec(1, 2, 3, 4)])
    newcomer = cube("two")
    with pytest.raises(EmbeddingDimensionError) as err:
        put(record_store, [newcomer], [vec(1, 2, 3)])
    assert "4" in str(err.value) and "3" in str(err.value) and "new store" in str(err.value)
    assert isinstance(err.value, ValueError)
    assert record_store.get([newcomer.id]) == [None]
    put(record_store, [newcomer], [None])  # no embedding: fine
    assert record_store.get([newcomer.id]) == [newcomer]


def test_namespace_prefix_does_not_match_siblings(record_store):
    spaces = [("a", "b"), ("a", "b", "c"), ("a", "bc"), ("a",), ("ab",), ("b",), ("a", "b!")]
    cubes = {ns: cube("xylophone", ns=ns) for ns in spaces}
    put(record_store, cubes.values())

    def q(prefix, exact=False):
        return {c.namespace for c in record_store.query(CubeQuery(namespace_prefix=prefix, exact_namespace=exact))}

    assert q(("a", "b")) == {("a", "b"), ("a", "b", "c")}
    assert q(("a", "b"), exact=True) == {("a", "b")}
    assert q(("a",)) == {("a", "b"), ("a", "b", "c"), ("a", "bc"), ("a",), ("a", "b!")}
    assert q(()) == set(spaces)
    assert q(("zz",)) == set()
    assert record_store.count(CubeQuery(namespace_prefix=("a", "b"))) == 2
    assert record_store.namespaces(("a", "b")) == [("a", "b"), ("a", "b", "c")]
    assert record_store.namespaces() == sorted(spaces)
    hits = kw_search(record_store, "xylophone", CubeQuery(namespace_prefix=("a", "b")), 10)
    assert {s.id for s in hits} == {cubes[("a", "b")].id, cubes[("a", "b", "c")].id}


def test_every_cube_query_field(record_store):
    now = T0 + timedelta(days=10)
    c = {
        "fact": cube("fact", memory_type=MemoryType.FACT, tier=Tier.LONG_TERM, created_at=T0,
                     metadata={"kind": "note"}),
        "episode": cube("episode", memory_type=MemoryType.EPISODE, tier=Tier.WORKING,
                        created_at=T0 + timedelta(days=1), owner="alice"),
        "archived": cube("archived", tier=Tier.ARCHIVE, status=Status.ARCHIVED, created_at=T0 + timedelta(days=2),
                         owner="alice", permissions=Permissions(readers=("bob",))),
        "expired_status": cube("expired status", status=Status.EXPIRED, created_at=T0 + timedelta(days=3)),
        "ttl_passed": cube("ttl", expires_at=now - timedelta(seconds=1), created_at=T0 + timedelta(days=4),
                           owner="carol", permissions=Permissions(readers=("*",))),
        "ttl_future": cube("ttl future", expires_at=now + timedelta(days=1), created_at=T0 + timedelta(days=5),
                           valid_from=T0 + timedelta(days=5), valid_to=T0 + timedelta(days=7)),
        "old_fact": cube("old fact", valid_to=T0 + timedelta(days=5), created_at=T0 + timedelta(days=6)),
    }
    put(record_store, c.values())
    ident = {v.id: k for k, v in c.items()}

    def names(**kw):
        kw.setdefault("now", now)
        return {ident[x.id] for x in record_store.query(CubeQuery(**kw))}

    default = set(c) - {"expired_status", "ttl_passed"}
    assert names() == default
    assert names(ids=frozenset({c["fact"].id, c["expired_status"].id, "nope"})) == {"fact"}
    assert names(ids=frozenset()) == set()
    assert names(tiers=frozenset({Tier.LONG_TERM, Tier.ARCHIVE})) == {"fact", "archived"}
    assert names(types=frozenset({MemoryType.EPISODE})) == {"episode"}
    assert names(statuses=frozenset({Status.EXPIRED})) == {"expired_status"}
    assert names(statuses=frozenset({Status.ARCHIVED})) == {"archived"}
    assert names(statuses=frozenset({Status.ARCHIVED, Status.GENERATED})) == default
    assert names(created_after=T0 + timedelta(days=1), created_before=T0 + timedelta(days=2)) == {"episode"}
    assert names(created_after=T0 + timedelta(days=5)) == {"ttl_future", "old_fact"}
    assert names(created_before=T0 + timedelta(days=1)) == {"fact"}
    assert names(valid_at=T0 + timedelta(days=6)) == default - {"old_fact"}
    assert names(valid_at=T0 + timedelta(days=7)) == default - {"old_fact", "ttl_future"}
    assert names(valid_at=T0 + timedelta(days=4)) == default - {"ttl_future"}
    assert names(include_expired=True) == set(c) - {"expired_status"}
    assert names(include_expired=True, statuses=frozenset(Status)) == set(c)
    assert names(now=T0) == default | {"ttl_passed"}
    assert "ttl_passed" not in {ident[x.id] for x in record_store.query(CubeQuery())}  # engine clock
    shared = {"fact", "expired_status", "ttl_future", "old_fact"}  # owner None
    assert names(reader="alice", include_expired=True, statuses=frozenset(Status)) == shared | {
        "episode", "archived", "ttl_passed"}
    assert names(reader="bob", include_expired=True, statuses=frozenset(Status)) == shared | {
        "archived", "ttl_passed"}
    assert names(reader="mallory", include_expired=True, statuses=frozenset(Status)) == shared | {"ttl_passed"}
    assert names(conditions=tuple(parse_filter({"kind": "note"}))) == {"fact"}
    assert record_store.count(CubeQuery(now=now)) == len(default)
    assert record_store.count(CubeQuery(tiers=frozenset({Tier.WORKING}), now=now)) == 1
    hits = kw_search(record_store, "fact", CubeQuery(now=now, valid_at=T0 + timedelta(days=6)), 10)
    assert {ident[h.id] for h in hits} == {"fact"}


def test_order_by_limit_offset(record_store):
    cs = [cube(f"c{i}", key=f"k{3 - i}", created_at=T0 + timedelta(hours=i), heat=float(i % 2),
               ns=("n", str(i % 2))) for i in range(4)]
    put(record_store, cs)
    ids = [c.id for c in cs]

    def order(o, **kw):
        return [c.id for c in record_store.query(CubeQuery(), order_by=o, **kw)]

    assert order("created_at ASC") == ids
    assert order("created_at DESC") == ids[::-1]
    assert order("updated_at DESC") == ids[::-1]
    assert order("key ASC") == ids[::-1]
    assert order("heat DESC")[:2] == sorted([ids[1], ids[3]])
    assert order("ns ASC, key ASC") == [ids[2], ids[0], ids[3], ids[1]]
    assert order("created_at ASC", limit=2, offset=1) == ids[1:3]
    assert order("created_at ASC", limit=0) == []
    assert order("created_at ASC", offset=10) == []
    for bad in ["id; DROP TABLE cubes", "content ASC", "created_at", ""]:
        with pytest.raises(InvalidInputError, match="order_by"):
            record_store.query(CubeQuery(), order_by=bad)
    with pytest.raises(InvalidInputError):
        record_store.query(CubeQuery(), limit=-1)


FILTER_DOCS = {
    "n1": {"n": 1, "s": "b", "flag": True, "nested": {"deep": {"v": 5}, "x": "y"}},
    "n2": {"n": 2.5, "s": "a", "flag": False, "tags": ["a", "b"], "nul": None},
    "n3": {"n": "1", "s": 3, "flag": 1, "nested": "flat"},
    "n4": {'we"ird': "q", "dot.key": 1, "'; DROP TABLE cubes; --": "sql", "$.x": 2, "": "empty", "[0]": 1},
    "n5": {},
}

FILTER_CASES = [
    ({"n": 1}, {"n1"}),
    ({"n": 1.0}, {"n1"}),
    ({"n": {"$ne": 1}}, {"n2", "n3", "n4", "n5"}),
    ({"n": {"$gt": 1}}, {"n2"}),
    ({"n": {"$gte": 1}}, {"n1", "n2"}),
    ({"n": {"$lt": 2.5}}, {"n1"}),
    ({"n": {"$lte": 2.5}}, {"n1", "n2"}),
    ({"n": {"$gt": "0"}}, {"n3"}),
    ({"s": {"$lt": "b"}}, {"n2"}),
    ({"s": {"$gte": "a", "$lte": "b"}}, {"n1", "n2"}),
    ({"n": {"$in": [1, "1"]}}, {"n1", "n3"}),
    ({"n": {"$nin": [1, "1"]}}, {"n2", "n4", "n5"}),
    ({"n": {"$in": []}}, set()),
    ({"n": {"$nin": []}}, set(FILTER_DOCS)),
    ({"flag": True}, {"n1"}),
    ({"flag": 1}, {"n3"}),
    ({"flag": False}, {"n2"}),
    ({"flag": {"$ne": True}}, {"n2", "n3", "n4", "n5"}),
    ({"flag": {"$gt": 0}}, {"n3"}),
    ({"flag": {"$gt": False}}, set()),
    ({"nul": None}, {"n2"}),
    ({"nul": {"$ne": None}}, {"n1", "n3", "n4", "n5"}),
    ({"missing": None}, set()),
    ({"missing": {"$ne": None}}, set(FILTER_DOCS)),
    ({"nested.deep.v": 5}, {"n1"}),
    ({"nested.deep.v": {"$gte": 5}}, {"n1"}),
    ({"nested.x": "y"}, {"n1"}),
    ({"nested.x": {"$ne": "y"}}, {"n2", "n3", "n4", "n5"}),
    ({"nested.deep": {"$ne": 1}}, set(FILTER_DOCS)),
    ({"tags": "a"}, set()),  # lists are not searched
    ({"tags.0": "a"}, set()),  # no array indexing
    ({"n": 1, "s": "b"}, {"n1"}),
]

RAW_CASES = [  # conditions whose keys a dotted filter string cannot express
    ((Condition(('we"ird',), "$eq", "q"),), {"n4"}),
    ((Condition(("dot.key",), "$eq", 1),), {"n4"}),
    ((Condition(("'; DROP TABLE cubes; --",), "$eq", "sql"),), {"n4"}),
    ((Condition(("$.x",), "$gt", 1),), {"n4"}),
    ((Condition(("",), "$eq", "empty"),), {"n4"}),
    ((Condition(("[0]",), "$in", (1, 2)),), {"n4"}),
    ((Condition(('we"ird',), "$ne", "q"),), {"n1", "n2", "n3", "n5"}),
    ((Condition(("n",), "$eq", "1') OR 1=1 --"),), set()),
]


@pytest.fixture
def filter_store(record_store):
    cubes = {name: cube(name, key=name, metadata=meta) for name, meta in FILTER_DOCS.items()}
    put(record_store, cubes.values())
    return record_store, {c.id: name for name, c in cubes.items()}


@pytest.mark.parametrize("flt,expected", FILTER_CASES, ids=[json.dumps(f) for f, _ in FILTER_CASES])
def test_filter_operators(filter_store, flt, expected):
    store, names = filter_store
    conds = tuple(parse_filter(flt))
    got = {names[c.id] for c in store.query(CubeQuery(conditions=conds))}
    assert got == expected
    assert got == {n for n, meta in FILTER_DOCS.items() if matches(meta, list(conds))}
    assert store.count(CubeQuery(conditions=conds)) == len(expected)
    for cap in (0, 1, 100):  # a bound, never low, whatever the cap
        at_most, total = store.match_bound(CubeQuery(conditions=conds), cap)
        assert len(expected) <= at_most <= total and total >= len(FILTER_DOCS)


@pytest.mark.parametrize("conds,expected", RAW_CASES, ids=[repr(c[0]) for c, _ in RAW_CASES])
def test_filter_odd_keys(filter_store, conds, expected):
    store, names = filter_store
    got = {names[c.id] for c in store.query(CubeQuery(conditions=conds))}
    assert got == expected
    assert got == {n for n, meta in FILTER_DOCS.items() if matches(meta, list(conds))}
    assert store.count(CubeQuery()) == len(FILTER_DOCS)  # the table survived


def test_every_operator_is_covered():
    used = {c.op for flt, _ in FILTER_CASES for c in parse_filter(flt)}
    assert used == set(OPERATORS)


# --- property: SQL filtering == filters.matches --------------------------------------
_KEYS = st.sampled_from(["a", "b", 'q"k', "d.t", "'; --"])
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=4)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.sampled_from([0, 1, -1, 0.0, 1.0, 1.5]),
    _TEXT, st.sampled_from(["", "a", "b", "A", "é"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=2), st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=6)
_DOCS = st.dictionaries(_KEYS, _VALUES, max_size=4)


@st.composite
def _conditions(draw):
    path = tuple(draw(st.lists(_KEYS, min_size=1, max_size=2)))
    op = draw(st.sampled_from(OPERATORS))
    if op in ("$in", "$nin"):
        return Condition(path, op, tuple(draw(st.lists(_SCALARS, max_size=3))))
    return Condition(path, op, draw(_SCALARS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_DOCS, min_size=1, max_size=6), conds=st.lists(_conditions(), min_size=1, max_size=3))
def test_sql_filters_equal_python_matches(docs, conds):
    store = SQLiteRecordStore(None)
    try:
        cubes = [cube(f"d{i}", key=f"d{i}", metadata=d) for i, d in enumerate(docs)]
        put(store, cubes)
        expected = {c.id for c, d in zip(cubes, docs) if matches(d, conds)}
        got = {c.id for c in store.query(CubeQuery(conditions=tuple(conds)))}
        assert got == expected
        assert store.match_bound(CubeQuery(conditions=tuple(conds)), 3)[0] >= len(expected)
    finally:
        store.close()


# --- keyword search -------------------------------------------------------------------
def test_keyword_search_bm25_ranking(record_store):
    docs = {
        "heavy": cube("tea tea tea with green tea leaves"),
        "light": cube("tea and coffee and juice and water and soda and milk"),
        "coffee": cube("coffee only, strong coffee"),
        "none": cube("nothing relevant here"),
        "other_ns": cube("tea tea tea tea", ns=("users", "bob")),
        "unindexed": cube("tea tea"),
    }
    put(record_store, docs.values(), texts=[c.content if n != "unindexed" else None for n, c in docs.items()])
    name = {c.id: n for n, c in docs.items()}
    hits = kw_search(record_store, "Tea?", CubeQuery(namespace_prefix=("users", "alice")), 10)
    assert [name[h.id] for h in hits] == ["heavy", "light"]
    assert all(isinstance(h, ScoredId) and h.score > 0 for h in hits)
    assert hits[0].score > hits[1].score
    both = kw_search(record_store, "What did they say about tea or coffee?", CubeQuery(), 10)
    assert {name[h.id] for h in both} == {"heavy", "light", "coffee", "other_ns"}
    # "tea" is in most documents (near-zero IDF); the rarer "coffee" dominates, denser text first
    assert [name[h.id] for h in both[:2]] == ["coffee", "light"]
    assert [h.score for h in both] == sorted((h.score for h in both), reverse=True)
    assert len(kw_search(record_store, "tea", CubeQuery(), 1)) == 1
    assert kw_search(record_store, "tea", CubeQuery(), 0) == []
    assert kw_search(record_store, "what did who how", CubeQuery(), 5) == []
    assert kw_search(record_store, "", CubeQuery(), 5) == []
    assert name[kw_search(record_store, "naïve strongly coffees", CubeQuery(), 5)[0].id] == "coffee"



def test_keyword_head_gives_the_full_statements_answer_or_steps_aside(record_store, monkeypatch):
    """A keyword search scores its head first; whatever the head settles is exactly what the full BM25
    statement returns (order, ties by id, scores), and a head that cannot settle a search (a selective
    namespace that is not small) hands over to the full statement, after which the scope rests."""
    import itertools
    import random

    from langchain_memos.storage.sqlite import keyword as keyword_module
    from langchain_memos.storage.sqlite.compiler import bm25_weights, keyword_search_sql

    rng = random.Random(3)
    words = ["tea", "green", "garden", "river", "train", "paper", "violin", "market", "winter", "cake"]
    cubes = []
    for i in range(600):
        ns = ("t", "big") if i % 10 else ("t", "small")  # "small" holds 10% of the cubes
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))  # many equal scores: ties by id
        meta = {"kind": rng.choice("ab"), "deep": {"n": i % 3}}
        expires = T0 - timedelta(days=1) if i % 37 == 0 else None
        cubes.append(cube(text, ns=ns, key=f"k{i}", metadata=meta, expires_at=expires))
    # equal texts: every score ties, and a quarter of them lie in ("u", "q"), so a head of 4k rows holds
    # about k of that scope's: whether the k-th is the best k by id only the full statement can tell
    tied = [cube("lake stone", ns=("u", "q") if i % 4 == 0 else ("u", "r"), key=f"u{i}") for i in range(400)]
    put(record_store, [*cubes, *tied])
    heads = []
    real = keyword_module.keyword_head_sql
    monkeypatch.setattr(keyword_module, "keyword_head_sql", lambda *a, **kw: heads.append(a[1]) or real(*a, **kw))

    def full(terms, query, k):
        sql, params = keyword_search_sql(fts_match(terms), query, k, bm25_weights(None))
        return [ScoredId(i, float(s)) for i, s in record_store.read_transaction(
            lambda conn: conn.execute(sql, params).fetchall())]

    big_kind = CubeQuery(namespace_prefix=("t",), conditions=tuple(parse_filter({"kind": "a"})), now=T0)
    nested = CubeQuery(namespace_prefix=("t",), conditions=tuple(parse_filter({"kind": "b", "deep.n": 1})),
                       now=T0)
    small = CubeQuery(namespace_prefix=("t", "small"), now=T0)
    quarter = CubeQuery(namespace_prefix=("u", "q"), now=T0)
    for small_scope in (4096, 10):  # small scopes' heads list their namespace's rids, or not
        monkeypatch.setattr(keyword_module, "SMALL_SCOPE", small_scope)
        for query, terms, k in itertools.product((big_kind, nested, CubeQuery(now=T0), small, quarter),
                                                 (["tea"], ["green", "violin"], words, ["absent"], ["lake"]),
                                                 (1, 5, 40)):
            record_store._head_rest.clear()
            heads.clear()
            got = record_store.keyword_search(terms, query, k)
            assert got == full(terms, query, k), (small_scope, query, terms, k)
            assert heads == [query]  # the head was tried first, whatever it settled
    monkeypatch.setattr(keyword_module, "SMALL_SCOPE", 4096)
    # a small scope's head holds its own rows only: it settles the search
    record_store._head_rest.clear()
    heads.clear()
    assert record_store.keyword_search(words, small, 20) == full(words, small, 20)
    assert heads == [small] and record_store._head_rest == {}
    # a selective namespace that is not small: the head (the best rows of the whole store) cannot settle it
    monkeypatch.setattr(keyword_module, "SMALL_SCOPE", 10)
    heads.clear()
    assert record_store.keyword_search(words, small, 20) == full(words, small, 20)
    assert record_store._head_rest == {(ns_key(("t", "small")), False): keyword_module.HEAD_REST}
    for _ in range(keyword_module.HEAD_REST):  # the scope rests: the full statement alone, still exact
        assert record_store.keyword_search(words, small, 20) == full(words, small, 20)
    assert len(heads) == 1
    record_store.keyword_search(words, small, 20)  # rested: the head is tried again
    assert len(heads) == 2
    # a search restricted to ids never uses the head
    ids = frozenset(c.id for c in cubes[:50])
    assert record_store.keyword_search(words, replace(big_kind, ids=ids), 5) == full(
        words, replace(big_kind, ids=ids), 5)
    assert len(heads) == 2


def test_kept_filter_lists_follow_every_write_even_one_during_the_head(record_store, monkeypatch):
    """A keyword head keeps each top-level filter's rids between searches (temp tables); a write refills
    them, and a head during which a write landed is not used: the answer is always the full statement's."""
    from langchain_memos.storage.sqlite import keyword as keyword_module
    from langchain_memos.storage.sqlite.compiler import bm25_weights, keyword_search_sql

    cubes = [cube(f"tea {'green ' * (i % 5)}cup", ns=("t",), key=f"k{i}", created_at=T0,
                  metadata={"kind": "a" if i % 3 else "b", "n": i % 4}) for i in range(60)]
    put(record_store, cubes)
    fills = []
    real_fill = keyword_module.filter_rids_sql
    monkeypatch.setattr(keyword_module, "filter_rids_sql", lambda c: fills.append(c) or real_fill(c))

    def full(query, k=5):
        sql, params = keyword_search_sql(fts_match(["green", "tea"]), query, k, bm25_weights(None))
        return [ScoredId(i, float(s)) for i, s in record_store.read_transaction(
            lambda conn: conn.execute(sql, params).fetchall())]

    def search(query, k=5):
        record_store._head_rest.clear()
        return record_store.keyword_search(["green", "tea"], query, k)

    queries = [CubeQuery(namespace_prefix=("t",), conditions=tuple(parse_filter(f)), now=T0)
               for f in ({"kind": "a"}, {"kind": {"$ne": "a"}}, {"n": {"$in": [1, 4]}}, {"n": {"$nin": [0, 3]}},
                         {"kind": "b", "n": 1}, {"n": 1.0}, {"n": True})]
    for query in queries:
        assert search(query) == full(query), query
    assert len(fills) == 8  # one list per distinct filter ({"n": 1.0} and {"n": True} are not {"n": 1})
    for query in queries:  # nothing written: every list is kept
        assert search(query) == full(query), query
    assert len(fills) == 8
    best = full(queries[0], 1)[0].id
    moved = next(c for c in cubes if c.id == best)
    put(record_store, [replace(moved, metadata={"kind": "b", "n": 1})])  # out of one filter, into another
    for query in queries:
        assert search(query) == full(query), query
    assert best not in {h.id for h in search(queries[0])} and best in {h.id for h in search(queries[4])}
    assert len(fills) == 16  # the write moved the change token: every list was filled again
    # a write that lands while a head runs: that head is not used, the full statement answers after it
    real_side, written = record_store.side_read, []

    def side_read_then_write(fn):
        out = real_side(fn)
        if not written:
            written.append(put(record_store, [replace(moved, metadata={"kind": "a", "n": 1})]))
        return out

    monkeypatch.setattr(record_store, "side_read", side_read_then_write)
    got = search(queries[0])
    assert written and best in {h.id for h in got} and got == full(queries[0])
    monkeypatch.setattr(record_store, "side_read", real_side)
    many = [CubeQuery(namespace_prefix=("t",), conditions=tuple(parse_filter({"n": {"$ne": v}})), now=T0)
            for v in range(keyword_module.KEPT_FILTERS + 3)]
    for query in many:  # more filters than are kept: the oldest tables are dropped, answers stay exact
        assert search(query) == full(query), query
    kept = record_store._kept_filters
    assert all(len(tables) <= keyword_module.KEPT_FILTERS for _, tables in kept.values())


def test_fts_match_is_safe():
    assert fts_match(["alice", 'say"']) == '"alice" OR "say"'
    assert fts_match([]) is None and fts_match(["", "  "]) is None
    assert fts_match(keywords("'; DROP TABLE cubes; --")) == '"drop" OR "table" OR "cubes"'
    assert fts_match(["NEAR(a b)", "x*", "OR", "y"]) == '"near" OR "a" OR "b" OR "x" OR "or" OR "y"'
    assert fts_match(["Café", "CAFÉ", "café"]) == '"café"'


@pytest.mark.parametrize("nasty", INJECTIONS)
def test_fts_injection_text_is_stored_and_searched_verbatim(record_store, nasty):
    c = cube(nasty + " marker", key="nasty", metadata={"q": nasty})
    put(record_store, [c])
    assert record_store.get([c.id]) == [c]
    assert record_store.get_by_keys(c.namespace, ["nasty"]) == [c]
    hits = kw_search(record_store, nasty, CubeQuery(), 5)
    assert all(h.id == c.id for h in hits)
    assert [h.id for h in kw_search(record_store, nasty + " marker", CubeQuery(), 5)] == [c.id]
    assert {x.id for x in record_store.query(CubeQuery(conditions=tuple(parse_filter({"q": nasty}))))} == {c.id}
    assert record_store.count(CubeQuery()) == 1


# --- delete, audit, touch, namespaces, meta -----------------------------------------
def test_delete_and_audit(record_store):
    a = cube("to delete", key="a", version=2, history=[HistoryEntry(1, "older", {}, T0, "update")])
    b = cube("to keep", key="b")
    c = cube("also delete", key="c")
    put(record_store, [a, b, c], [vec(1, 0), vec(0, 1), None])
    deleted = record_store.delete([a.id, "unknown", c.id, a.id], reason="user request", actor="alice")
    assert deleted == [a.id, c.id]
    assert record_store.get([a.id, b.id, c.id]) == [None, b, None]
    assert record_store.embeddings([a.id, b.id]).keys() == {b.id}
    assert kw_search(record_store, "delete", CubeQuery(), 5) == []
    assert record_store.delete([], reason="noop") == []
    log = record_store.audit_log(a.id)
    assert len(log) == 1
    rec = log[0]
    assert (rec.action, rec.cube_id, rec.namespace, rec.actor, rec.reason) == (
        "delete", a.id, a.namespace, "alice", "user request")
    assert rec.detail["content"] == "to delete" and rec.detail["version"] == 2 and rec.detail["key"] == "a"
    assert rec.at.tzinfo is not None
    custom = AuditRecord("repair", None, ("users",), T0, detail={"n": 1})
    record_store.audit([custom, AuditRecord("expire", b.id, b.namespace, T0 + timedelta(seconds=1), "sys", "ttl")])
    newest = record_store.audit_log(limit=2)
    assert [r.action for r in newest] == ["expire", "repair"]
    assert newest[1] == custom
    assert len(record_store.audit_log()) == 4
    assert [r.action for r in record_store.audit_log(b.id)] == ["expire"]


def test_touch(record_store):
    a, b = cube("a", heat=1.0), cube("b")
    put(record_store, [a, b])
    at = T0 + timedelta(hours=5, microseconds=3)
    record_store.touch([a.id, "unknown"], at, heat_delta=0.1)
    record_store.touch([a.id], at + timedelta(seconds=1), heat_delta=0.2)
    got = record_store.get([a.id])[0]
    assert got.access_count == 2
    assert got.heat == 1.0 + 0.1 + 0.2
    assert got.last_accessed_at == at + timedelta(seconds=1)
    assert record_store.get([b.id]) == [b]
    assert [c.id for c in record_store.query(CubeQuery(), order_by="heat DESC")] == [a.id, b.id]
    record_store.touch([], at)


def test_unindexed_ids_and_mark_indexed(record_store):
    cs = [cube(f"c{i}") for i in range(4)]
    put(record_store, cs, [vec(1, i) for i in range(3)] + [None])
    expected = sorted(c.id for c in cs[:3])
    assert record_store.unindexed_ids() == expected
    assert len(record_store.unindexed_ids(limit=2)) == 2
    record_store.mark_indexed([cs[0].id, "unknown"])
    assert record_store.unindexed_ids() == sorted(c.id for c in cs[1:3])
    record_store.mark_indexed([c.id for c in cs])
    assert record_store.unindexed_ids() == []


def test_requeue_all_vectors_queues_every_embedding_outside_the_archive(record_store):
    from langchain_memos.cube import Tier

    hot = [cube(f"c{i}") for i in range(3)]
    cold = cube("an old note", tier=Tier.ARCHIVE)
    put(record_store, [*hot, cold, cube("no vector")], [vec(1, 0), vec(1, 1), vec(1, 2), vec(0, 1), None])
    record_store.mark_indexed([c.id for c in hot])
    assert record_store.unindexed_ids() == []
    assert record_store.requeue_all_vectors() == 3
    assert record_store.unindexed_ids() == sorted(c.id for c in hot)
    assert record_store.requeue_all_vectors() == 0


def test_archived_embeddings_are_kept_but_never_pending(record_store):
    from langchain_memos.cube import Tier

    cold = cube("an old note", tier=Tier.ARCHIVE)
    put(record_store, [cold], [vec(1, 0)])
    assert record_store.unindexed_ids() == [] and cold.id in record_store.embeddings([cold.id])


def test_meta_setup_close(record_store):
    assert record_store.get_meta("nope") is None
    record_store.set_meta("model", "m1")
    record_store.set_meta("model", "m2")
    assert record_store.get_meta("model") == "m2"
    assert record_store.get_meta("schema_version") == SCHEMA_VERSION
    record_store.setup()
    record_store.setup()
    assert record_store.get_meta("model") == "m2"
    record_store.close()
    record_store.close()
    with pytest.raises(StorageError, match="closed"):
        record_store.get(["x"])


def test_non_json_metadata_is_rejected(record_store):
    with pytest.raises(InvalidInputError, match="JSON"):
        put(record_store, [cube("x", metadata={"f": math.nan})])
    with pytest.raises(InvalidInputError):
        put(record_store, [cube("x", metadata={"o": object()})])
    assert record_store.count(CubeQuery()) == 0


# --- file databases: processes, threads, locking ---------------------------------------
def _run_python(code: str, timeout: float = 60) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_wal_mode(sqlite_file_store):
    store = sqlite_file_store
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_reopen_in_new_process_sees_every_write(sqlite_file_store):
    store = sqlite_file_store
    cs = [full_cube(), cube("plain"), cube("gone")]
    put(store, cs, [vec(1, 2), None, vec(3, 4)])
    store.touch([cs[1].id], T0, 0.5)
    store.delete([cs[2].id], reason="test", actor="me")
    store.set_meta("k", "v")
    ids = [c.id for c in cs]
    out = _run_python(f"""
        import json
        from langchain_memos.storage.sqlite import SQLiteRecordStore
        s = SQLiteRecordStore({str(store.path)!r})
        cubes = s.get({ids!r})
        print(json.dumps({{
            "cubes": [c.to_json() if c else None for c in cubes],
            "emb": {{k: [float(x) for x in v] for k, v in s.embeddings({ids!r}).items()}},
            "audit": [r.action for r in s.audit_log()],
            "meta": s.get_meta("k"),
        }}))
        s.close()
    """)
    data = json.loads(out)
    expected = store.get(ids)
    assert [MemCube.from_json(c) if c else None for c in data["cubes"]] == expected
    assert expected[1].access_count == 1 and expected[2] is None
    assert data["emb"].keys() == {cs[0].id}
    assert data["audit"] == ["delete"] and data["meta"] == "v"


def test_two_threads_write_concurrently(record_store):
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(40):
                c = cube(f"{tag} {i}", ns=("threads", tag), key=str(i))
                record_store.write([c], [vec(1, i)], [c.content])
                record_store.query(CubeQuery(namespace_prefix=("threads",)), limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert record_store.count(CubeQuery(namespace_prefix=("threads",))) == 80
    assert record_store.namespaces(("threads",)) == [("threads", "x"), ("threads", "y")]


def test_processes_set_up_and_write_one_new_file_concurrently(tmp_path):
    path = tmp_path / "sub" / "shared.db"  # neither the folder nor the file exists yet
    code = f"""
        import sys
        from langchain_memos.cube import MemCube
        from langchain_memos.storage.sqlite import SQLiteRecordStore
        tag = sys.argv[1]
        s = SQLiteRecordStore({str(path)!r}, busy_timeout_s=30)
        s.setup()
        for i in range(25):
            c = MemCube(content=f"{{tag}} {{i}}", namespace=("procs", tag), key=str(i))
            s.write([c], [[1.0, float(i)]], [c.content])
        s.close()
    """
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), tag], env=env,
                              stderr=subprocess.PIPE, text=True) for tag in ("p", "q", "r")]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with SQLiteRecordStore(path) as store:
        assert store.count(CubeQuery(namespace_prefix=("procs",))) == 75
        assert store.namespaces() == [("procs", "p"), ("procs", "q"), ("procs", "r")]
        assert len(store.unindexed_ids()) == 75


def test_lock_held_too_long_raises_store_locked(sqlite_file_store):
    store = sqlite_file_store
    impatient = SQLiteRecordStore(store.path, busy_timeout_s=0.3)
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreLockedError, match="busy_timeout_s"):
            put(impatient, [cube("blocked")])
        assert impatient.count(CubeQuery()) == 0  # WAL: reads still work during a write
        blocker.execute("COMMIT")
        put(impatient, [cube("free")])
        assert store.count(CubeQuery()) == 1
    finally:
        blocker.close()
        impatient.close()


def test_package_import_does_not_import_chromadb():
    out = _run_python("""
        import sys
        import langchain_memos, langchain_memos.storage
        from langchain_memos.storage import SQLiteRecordStore
        import langchain_memos.storage.chroma
        print("chromadb" in sys.modules)
    """)
    assert out.strip() == "False"


# ============================================================================= VectorIndex
def test_vector_protocol_and_empty_index(vector_index):
    assert isinstance(vector_index, VectorIndex)
    assert vector_index.count() == 0
    assert vector_index.ids() == set()
    assert vector_index.search(vec(1, 0, 0), 5) == []
    assert vector_index.search(vec(1, 0, 0), 5, ids=["x"]) == []
    vector_index.delete(["unknown"])
    vector_index.delete([])
    vector_index.upsert([], [])


def test_vector_upsert_search_scores(vector_index):
    vector_index.upsert(["x", "y", "z"], [vec(1, 0, 0), vec(1, 1, 0), vec(-1, 0, 0)])
    hits = vector_index.search(vec(2, 0, 0), 10)  # k larger than the index
    assert [h.id for h in hits] == ["x", "y", "z"]
    assert [h.score for h in hits] == pytest.approx([1.0, math.sqrt(0.5), -1.0], abs=1e-5)
    assert [h.id for h in vector_index.search(vec(0, 1, 0), 1)] == ["y"]
    assert vector_index.search(vec(1, 0, 0), 0) == []
    assert vector_index.count() == 3 and vector_index.ids() == {"x", "y", "z"}
    vector_index.upsert(["x"], [vec(0, 0, 1)])
    assert vector_index.count() == 3
    assert [h.id for h in vector_index.search(vec(0, 0, 1), 1)] == ["x"]


def test_vector_search_among_given_ids(vector_index):
    ids = ["ab", "abc", "abc2", "a", "x"]
    vector_index.upsert(ids, [vec(1, 0.1, 0), vec(1, 0.2, 0), vec(1, 0, 0), vec(1, 0.3, 0), vec(1, 0.4, 0)])
    q = vec(1, 0, 0)

    def found(**kw):
        return [h.id for h in vector_index.search(q, 10, **kw)]

    assert found() == ["abc2", "ab", "abc", "a", "x"]
    assert found(ids=["abc", "x", "unknown"]) == ["abc", "x"]
    assert found(ids=[]) == []
    assert found(ids=["unknown"]) == []
    with_ids = vector_index.search(q, 1, ids=["abc", "ab"])
    assert [h.id for h in with_ids] == ["ab"]
    assert with_ids[0].score == pytest.approx(1 / math.sqrt(1.01), abs=1e-5)
    assert [h.id for h in vector_index.search(q, 2)] == ["abc2", "ab"]


def test_vector_reset_empties_the_index_and_keeps_it_usable(vector_index):
    vector_index.upsert(["a", "b"], [vec(1, 0), vec(0, 1)])
    vector_index.reset()
    assert vector_index.count() == 0 and vector_index.ids() == set() and vector_index.search(vec(1, 0), 5) == []
    vector_index.upsert(["c"], [vec(1, 1)])
    assert [h.id for h in vector_index.search(vec(1, 1), 5)] == ["c"]


def test_vector_delete_ids_count(vector_index, monkeypatch):
    if hasattr(vector_index, "_max_batch"):  # force several batches (the worker's index does its own)
        monkeypatch.setattr(vector_index, "_max_batch", 2)
    ids = [f"id{i}" for i in range(5)]
    vector_index.upsert(ids, [vec(1, i) for i in range(5)])
    assert vector_index.count() == 5 and vector_index.ids() == set(ids)
    vector_index.delete(["id0", "id3", "unknown", "id0"])
    assert vector_index.ids() == {"id1", "id2", "id4"}
    assert vector_index.count() == 3
    assert "id0" not in {h.id for h in vector_index.search(vec(1, 0), 10)}


def test_vector_bad_input(vector_index):
    vector_index.upsert(["x"], [vec(1, 0, 0)])
    with pytest.raises(EmbeddingDimensionError):
        vector_index.upsert(["y"], [vec(1, 0)])
    with pytest.raises(EmbeddingDimensionError):
        vector_index.search(vec(1, 0), 3)
    with pytest.raises(InvalidInputError):
        vector_index.upsert(["y"], [vec(1, math.nan, 0)])
    with pytest.raises(InvalidInputError):
        vector_index.upsert(["y", "z"], [vec(1, 0, 0)])
    with pytest.raises(InvalidInputError):
        vector_index.search(vec(math.inf, 0, 0), 3)
    assert vector_index.ids() == {"x"}


def test_vector_close_is_idempotent(vector_index):
    vector_index.close()
    vector_index.close()
    with pytest.raises(StorageError, match="closed"):
        vector_index.count()


def test_persistent_index_survives_reopen(tmp_path):
    from langchain_memos.storage.chroma import ChromaVectorIndex

    first = ChromaVectorIndex.persistent(tmp_path / "c", collection_name="memos")
    first.upsert(["x"], [vec(1, 0)])
    first.close()
    again = ChromaVectorIndex.persistent(tmp_path / "c", collection_name="memos")
    assert again.ids() == {"x"}
    again.close()


def test_collection_with_other_distance_is_refused():
    import chromadb
    from chromadb.config import Settings

    from langchain_memos.storage.chroma import ChromaVectorIndex

    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    client.get_or_create_collection("l2-space", embedding_function=None, configuration={"hnsw": {"space": "l2"}})
    try:
        with pytest.raises(StorageError, match="cosine"):
            ChromaVectorIndex(client, "l2-space")
    finally:
        client.delete_collection("l2-space")


def test_http_index_without_server_names_the_fix():
    import socket

    from langchain_memos.storage.chroma import ChromaVectorIndex

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EngineUnavailableError, match="chroma run"):
        ChromaVectorIndex.http("127.0.0.1", port)


# ------------------------------------------------------------------ keyword columns and threads
def threaded(text, thread, position, ns=("t",), **kw):
    return cube(text, ns=ns, provenance=[Provenance("message", f"{thread}:{position}", thread_id=thread)],
                position=position, **kw)


def test_keyword_columns_are_weighted(record_store):
    in_body = cube("irrelevant")
    in_context = cube("other words")
    record_store.write([in_body, in_context], [None, None],
                       [{"body": "gardening tips", "context": "", "next": "", "date": ""},
                        {"body": "other words", "context": "gardening tips", "next": "", "date": ""}])
    hits = kw_search(record_store, "gardening", CubeQuery(), 5, column_weights=(1.0, 0.5, 0.2, 1.0))
    assert [h.id for h in hits] == [in_body.id, in_context.id]
    flipped = kw_search(record_store, "gardening", CubeQuery(), 5, column_weights=(0.1, 5.0, 0.2, 1.0))
    assert [h.id for h in flipped] == [in_context.id, in_body.id]
    with pytest.raises(InvalidInputError, match="column_weights"):
        kw_search(record_store, "gardening", CubeQuery(), 5, column_weights=(1.0, 2.0))
    with pytest.raises(InvalidInputError, match="unknown keyword columns"):
        record_store.write([cube("x")], [None], [{"bogus": "y"}])


def test_keyword_updates_replace_neighbour_rows_in_the_same_write(record_store):
    first = cube("first")
    record_store.write([first], [None], [{"body": "first"}])
    second = cube("second")
    record_store.write([second], [None], [{"body": "second"}],
                       keyword_updates={first.id: {"body": "first", "next": "pineapple"}, "unknown-id": "ignored"})
    assert [h.id for h in kw_search(record_store, "pineapple", CubeQuery(), 5)] == [first.id]
    record_store.write([], [], [], keyword_updates={first.id: {"body": "first"}})
    assert kw_search(record_store, "pineapple", CubeQuery(), 5) == []


def test_thread_positions_and_next_in_thread(record_store):
    units = [threaded(f"turn {i}", "s1", i) for i in range(4)] + [threaded("other", "s2", 0)]
    units.append(threaded("same thread other namespace", "s1", 1, ns=("u",)))
    put(record_store, units)
    assert record_store.thread_max_position(("t",), "s1") == 3
    assert record_store.thread_max_position(("t",), "nope") is None
    assert [c.content for c in record_store.thread_units(("t",), "s1", 1, 2)] == ["turn 1", "turn 2"]
    assert record_store.thread_units(("t",), "s1", 1, 2)[0].history == []
    nxt = record_store.next_in_thread([u.id for u in units])
    assert nxt == {units[0].id: units[1].id, units[1].id: units[2].id, units[2].id: units[3].id}
    unthreaded = cube("loose")
    put(record_store, [unthreaded])
    assert record_store.next_in_thread([unthreaded.id]) == {}


def test_distinct_metadata(record_store):
    put(record_store, [cube("a", metadata={"speaker": "Ann"}), cube("b", metadata={"speaker": "Bob"}),
                       cube("c", metadata={"speaker": "Ann"}), cube("d", metadata={"speaker": {"nested": 1}}),
                       cube("e", ns=("other",), metadata={"speaker": "Eve"})])
    assert record_store.distinct_metadata(CubeQuery(namespace_prefix=("users", "alice")), "speaker") == ["Ann", "Bob"]
    assert record_store.distinct_metadata(CubeQuery(), "speaker", limit=1) == ["Ann"]
    assert record_store.distinct_metadata(CubeQuery(), "'; DROP TABLE cubes; --") == []


@pytest.mark.parametrize("small_scope", [0, 4096], ids=["by-field-rows", "cube-by-cube"])
def test_distinct_metadata_gives_the_same_values_walking_fields_or_cubes(record_store, monkeypatch, small_scope):
    # a namespace of at most SMALL_SCOPE cubes is read cube by cube, a larger one through the field's rows
    import langchain_memos.storage.sqlite.records as records

    monkeypatch.setattr(records, "SMALL_SCOPE", small_scope)
    put(record_store, [cube("a", metadata={"speaker": "Ann"}), cube("b", metadata={"speaker": "Bob"}),
                       cube("c", ns=("users", "alice", "s1"), metadata={"speaker": "Cid"}),
                       cube("d", ns=("users", "alicea"), metadata={"speaker": "Dee"}),
                       cube("e", tier=Tier.ARCHIVE, metadata={"speaker": "Eve"}), cube("f")])
    alice = CubeQuery(namespace_prefix=("users", "alice"))
    assert record_store.distinct_metadata(alice, "speaker") == ["Ann", "Bob", "Cid", "Eve"]
    assert record_store.distinct_metadata(replace(alice, exact_namespace=True), "speaker") == ["Ann", "Bob", "Eve"]
    assert record_store.distinct_metadata(replace(alice, tiers=frozenset({Tier.MID_TERM})), "speaker") == [
        "Ann", "Bob", "Cid"]
    assert record_store.distinct_metadata(alice, "speaker", limit=2) == ["Ann", "Bob"]
    assert record_store.distinct_metadata(CubeQuery(namespace_prefix=("nobody",)), "speaker") == []



def test_kept_distinct_metadata_follows_writes_and_the_time_passing(record_store):
    """Distinct values are kept between calls while nothing is written, each with when its last cube
    expires: the time passing drops a value whose cubes all expired, writes are seen at once, and
    values hidden behind many expired ones are still found."""
    soon, later = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    put(record_store, [cube("a", metadata={"speaker": "Ann"}, expires_at=soon),
                       cube("b", metadata={"speaker": "Ann"}, expires_at=later),
                       cube("c", metadata={"speaker": "Bob"}, expires_at=soon),
                       cube("d", metadata={"speaker": "Cid"})])
    at = lambda when: CubeQuery(namespace_prefix=("users",), now=when)  # noqa: E731
    assert record_store.distinct_metadata(at(T0), "speaker") == ["Ann", "Bob", "Cid"]

    def kept() -> object:
        (value,) = [v for k, v in record_store._kept.items() if k[0] == "distinct_metadata"]
        return value

    first = kept()
    assert record_store.distinct_metadata(at(soon), "speaker") == ["Ann", "Cid"]  # Bob's only cube expired
    assert record_store.distinct_metadata(at(later), "speaker") == ["Cid"]
    assert record_store.distinct_metadata(replace(at(later), include_expired=True), "speaker") == [
        "Ann", "Bob", "Cid"]
    assert kept() is first  # all of it from the one kept read
    record_store.touch([c.id for c in record_store.query(at(T0))], T0)  # access counting changes nothing
    assert record_store.distinct_metadata(at(later), "speaker") == ["Cid"] and kept() is first
    put(record_store, [cube("e", metadata={"speaker": "Dee"})])
    assert record_store.distinct_metadata(at(later), "speaker") == ["Cid", "Dee"]  # the write is seen
    assert kept() is not first
    # many values whose cubes all expired come first: the live ones past the kept cap are read too
    put(record_store, [cube(f"x{i}", key=f"x{i}", metadata={"speaker": f"A{i:02d}"}, expires_at=soon)
                       for i in range(12)])
    assert record_store.distinct_metadata(at(later), "speaker", limit=2) == ["Cid", "Dee"]


def test_a_namespaced_query_is_driven_by_the_namespace_not_the_tier_index(record_store):
    # without statistics SQLite would scan the tier index (a few values over the whole store) for
    # "tier IN (...)", reading every cube of every namespace; the namespace range is the narrow one
    from langchain_memos.storage.sqlite.compiler import compile_query

    put(record_store, [cube(f"n{i}", ns=("users", f"u{i % 5}"), key=f"k{i}") for i in range(20)])
    scoped = CubeQuery(namespace_prefix=("users", "u1"), tiers=frozenset({Tier.MID_TERM, Tier.LONG_TERM}))

    def plan(query: CubeQuery) -> str:
        where, params = compile_query(query)
        return " | ".join(r[3] for r in record_store.read_transaction(lambda conn: conn.execute(
            f"EXPLAIN QUERY PLAN SELECT c.id FROM cubes AS c WHERE {where}", params).fetchall()))

    assert "cubes_tier" not in plan(scoped) and "ns" in plan(scoped)
    assert len(record_store.query_ids(scoped)) == 4
    assert len(record_store.query_ids(replace(scoped, namespace_prefix=()))) == 20  # unscoped: tiers still apply


def test_query_without_history(record_store):
    c = cube("x", history=[HistoryEntry(1, "old", {}, T0, "update")], version=2)
    put(record_store, [c])
    assert record_store.query(CubeQuery(ids=frozenset({c.id})), with_history=False)[0].history == []
    assert record_store.query(CubeQuery(ids=frozenset({c.id})))[0].history == c.history


# ============================================================================= filter pushdown, ids-only reads
def test_query_ids_matches_query(record_store):
    cubes = [cube(f"n{i}", key=f"k{i}", metadata={"i": i, "even": i % 2 == 0},
                  updated_at=T0 + timedelta(minutes=i)) for i in range(7)]
    put(record_store, cubes)
    q = CubeQuery(conditions=(Condition(("even",), "$eq", True),))
    assert record_store.query_ids(q) == [c.id for c in record_store.query(q)]
    assert record_store.query_ids(q, limit=2, offset=1) == [c.id for c in record_store.query(q, limit=2, offset=1)]
    assert record_store.query_ids(q, order_by="key ASC") == [c.id for c in record_store.query(q, order_by="key ASC")]
    assert set(record_store.query_ids(q, order_by=None)) == {c.id for c in cubes[::2]}
    assert len(record_store.query_ids(CubeQuery(), limit=3, order_by=None)) == 3
    assert record_store.query_ids(CubeQuery(ids=frozenset())) == []
    with pytest.raises(InvalidInputError):
        record_store.query_ids(q, order_by="id; DROP TABLE cubes")
    with pytest.raises(InvalidInputError):
        record_store.query_ids(q, limit=-1)


def test_candidates_are_the_views_of_the_queried_cubes_and_follow_updates(record_store):
    cubes = [cube(f"n{i}", key=f"k{i}", metadata={"even": i % 2 == 0, "speaker": "Ann"},
                  updated_at=T0 + timedelta(minutes=i, microseconds=7 * i),
                  history=[HistoryEntry(1, "old", {}, T0, "update")], version=2) for i in range(6)]
    # a thread with positions, a thread from provenance alone (no position), validity, another type
    cubes[0] = replace(cubes[0], provenance=[Provenance("message", "m0", thread_id="s1")], position=3)
    cubes[2] = replace(cubes[2], provenance=[Provenance("message", "m2"), Provenance("message", "m3", thread_id="s2")],
                       valid_from=T0 - timedelta(days=2), valid_to=T0 + timedelta(days=1, microseconds=1),
                       memory_type=MemoryType.FACT)
    # no thread anywhere, though the words are in its text
    cubes[4] = replace(cubes[4], content='"thread_id": "s9"', provenance=[Provenance("message", "m4")])
    put(record_store, cubes)
    q = CubeQuery(conditions=(Condition(("even",), "$eq", True),))
    got = record_store.candidates(q)
    assert got == [c.view() for c in record_store.query(q, with_history=False)]
    assert [(v.thread_id, v.position) for v in got[::-1]] == [("s1", 3), ("s2", None), (None, None)]
    assert got[1].valid_to == T0 + timedelta(days=1, microseconds=1) and got[1].memory_type is MemoryType.FACT
    changed = replace(cubes[0], content="n0 changed", updated_at=T0 + timedelta(hours=1))
    put(record_store, [changed])
    again = record_store.candidates(q)
    assert again[0].id == changed.id and again[0].content == "n0 changed"  # a new version is read anew
    assert record_store.candidates(CubeQuery(ids=frozenset())) == []


def test_match_bound_is_tight_on_one_index_range_and_never_low(record_store):
    cubes = [cube(f"n{i}", key=f"k{i}", ns=("users", "ann" if i < 6 else "bob"),
                  metadata={"cat": "a" if i % 3 == 0 else "b", "tags": ["a"]}) for i in range(12)]
    put(record_store, cubes)
    cat_a = (Condition(("cat",), "$eq", "a"),)
    assert record_store.match_bound(CubeQuery(conditions=cat_a), 100) == (4, 12)
    assert record_store.match_bound(CubeQuery(namespace_prefix=("users", "ann")), 100) == (6, 12)
    assert record_store.match_bound(CubeQuery(namespace_prefix=("users", "ann"), conditions=cat_a), 100)[0] == 4
    assert record_store.match_bound(CubeQuery(conditions=(Condition(("cat",), "$in", ("a", "b")),)), 100)[0] == 12
    assert record_store.match_bound(CubeQuery(ids=frozenset({cubes[0].id})), 100)[0] == 1
    assert record_store.match_bound(CubeQuery(conditions=cat_a), 2)[0] == 12  # range longer than the cap: no bound
    # conditions the indexes cannot count (nested paths, ranges, arrays) bound nothing, but never wrongly
    for conds in [(Condition(("tags",), "$eq", "a"),), (Condition(("cat",), "$ne", "a"),)]:
        assert record_store.match_bound(CubeQuery(conditions=conds), 100)[0] >= record_store.count(
            CubeQuery(conditions=conds))
    record_store.delete([c.id for c in cubes[:3]], reason="test")
    at_most, total = record_store.match_bound(CubeQuery(conditions=cat_a), 100)
    assert at_most >= record_store.count(CubeQuery(conditions=cat_a)) and total >= 9


def test_match_bounds_kept_between_calls_follow_every_write(record_store):
    cat_a = CubeQuery(conditions=(Condition(("cat",), "$eq", "a"),))
    put(record_store, [cube(f"n{i}", key=f"k{i}", metadata={"cat": "a"}) for i in range(3)])
    assert record_store.match_bound(cat_a, 100) == record_store.match_bound(cat_a, 100) == (3, 3)
    put(record_store, [cube("more", key="more", metadata={"cat": "a"})])
    assert record_store.match_bound(cat_a, 100) == (4, 4)
    one, two = frozenset({"x"}), frozenset({"x", "y"})  # the ids' count is part of what is kept
    assert record_store.match_bound(CubeQuery(ids=one), 100)[0] == 1
    assert record_store.match_bound(CubeQuery(ids=two), 100)[0] == 2
    assert record_store.match_bound(CubeQuery(), 100)[0] == 4


def test_kept_read_keeps_values_until_the_database_changes(record_store):
    calls = []

    def read(conn):
        calls.append(1)
        return conn.execute("SELECT count(*) FROM cubes").fetchone()[0]

    assert record_store.kept_read("n", read) == record_store.kept_read("n", read) == 0 and len(calls) == 1
    put(record_store, [cube("a")])
    assert record_store.kept_read("n", read) == 1 and len(calls) == 2
    assert record_store.kept_read(["unhashable"], read) == 1 and len(calls) == 3  # read, not kept
    assert record_store.kept_read("big", read, keep=lambda v: False) == 1
    assert record_store.kept_read("big", read, keep=lambda v: False) == 1 and len(calls) == 5


def test_kept_in_background_reads_beside_the_caller_and_keeps_until_the_database_changes(record_store):
    calls = []

    def read(conn):
        calls.append(1)
        return conn.execute("SELECT count(*) FROM cubes").fetchone()[0]

    def ask(key, **kw):
        value = record_store.kept_in_background(key, read, **kw)
        assert record_store.wait_background_reads(10)
        return value

    # a file starts the read at the first ask, in the background; in memory (one connection) the second
    # ask reads, inline: either way the first answer is None and the next one the value
    assert [ask("n"), ask("n"), ask("n")] == [None, 0, 0] and len(calls) == 1
    put(record_store, [cube("a")])
    assert [ask("n"), ask("n")] == [None, 1] and len(calls) == 2  # a write: read again
    # a value not worth keeping is read once, then not again until the database changes
    big = [ask("big", keep=lambda v: False) for _ in range(3)]
    assert big == [None, 1 if record_store.in_memory else None, None] and len(calls) == 3


def test_background_reads_run_one_at_a_time_and_an_ask_meanwhile_waits_for_the_next(sqlite_file_store):
    release = threading.Event()

    def slow(conn):
        release.wait(10)
        return "slow"

    assert sqlite_file_store.kept_in_background("slow", slow) is None  # its read runs
    assert sqlite_file_store.kept_in_background("quick", lambda conn: "quick") is None  # noted, not started
    release.set()
    assert sqlite_file_store.wait_background_reads(10)
    assert sqlite_file_store.kept_in_background("slow", slow) == "slow"
    assert sqlite_file_store.kept_in_background("quick", lambda conn: "quick") is None  # started now
    assert sqlite_file_store.wait_background_reads(10)
    assert sqlite_file_store.kept_in_background("quick", lambda conn: "quick") == "quick"


def test_condition_rids_name_the_cubes_whose_metadata_passes(record_store):
    """``condition_rids`` (the rids whose top-level metadata passes every condition, any scope or status) name
    exactly the cubes whose metadata passes, and follow writes; a query it cannot answer from the metadata index
    alone gives ``None``."""
    stored = [cube(f"n{i}", key=f"k{i}", ns=("users", "ann" if i < 8 else "bob"),
                   metadata={"cat": "a" if i % 2 else "b", "n": i, "deep": {"x": 1}}) for i in range(12)]
    put(record_store, stored)

    def named(query):
        rids = record_store.condition_rids(query)
        table = dict(record_store.read_transaction(lambda conn: conn.execute("SELECT rid, id FROM cubes").fetchall()))
        assert list(rids) == sorted(set(rids.tolist()))  # sorted, each rid once (ranges of $in and $gte too)
        return {table[r] for r in rids.tolist()}

    by_id = {c.id: c for c in stored}
    cat_a = CubeQuery(conditions=(Condition(("cat",), "$eq", "a"),))
    assert named(cat_a) == {c.id for c in stored if c.metadata["cat"] == "a"}
    both = CubeQuery(namespace_prefix=("users", "ann"), conditions=(Condition(("cat",), "$eq", "a"),
                                                                    Condition(("n",), "$gte", 5)))
    assert named(both) == {c.id for c in stored if c.metadata["cat"] == "a" and c.metadata["n"] >= 5}  # any scope
    assert set(record_store.query_ids(both, order_by=None)) <= named(both)
    listed = CubeQuery(conditions=(Condition(("n",), "$in", (1, 2, 30)),))
    assert named(listed) == {c.id for c in stored if c.metadata["n"] in (1, 2)}
    for query in (CubeQuery(), CubeQuery(conditions=(Condition(("cat",), "$ne", "a"),)),
                  CubeQuery(conditions=(Condition(("deep", "x"), "$eq", 1),)),
                  replace(cat_a, ids=frozenset(by_id))):
        assert record_store.condition_rids(query) is None
    record_store.delete([stored[1].id], reason="test")
    late = cube("late", key="late", metadata={"cat": "a", "n": 99})
    put(record_store, [late])
    assert named(cat_a) == {c.id for c in stored if c.metadata["cat"] == "a" and c is not stored[1]} | {late.id}


def test_kept_matches_are_exactly_the_matching_ids_and_follow_writes_and_the_time(record_store):
    """Whatever an engine's ``kept_matches`` gives is what ``query_ids`` gives now: through writes, tier
    moves, deletions and the time passing (expiry)."""
    soon = T0 + timedelta(hours=1)
    stored = [cube(f"n{i}", key=f"k{i}", ns=("users", "ann" if i < 8 else "bob"),
                   metadata={"cat": "a" if i % 2 else "b"}, expires_at=soon if i == 3 else None) for i in range(12)]
    put(record_store, stored)
    every = [c.id for c in stored] + ["late"]
    queries = [CubeQuery(namespace_prefix=("users", "ann"), conditions=(Condition(("cat",), "$eq", "a"),), now=T0),
               CubeQuery(namespace_prefix=("users",), now=T0), CubeQuery(namespace_prefix=("users", "ann"), now=T0),
               CubeQuery(namespace_prefix=("users", "ann"), now=soon)]  # the same scope later: n3 has expired

    def agree() -> int:
        answered = 0
        for query in queries:
            for _ in range(3):  # an engine may keep them once it has read them (in the background)
                known = record_store.kept_matches(query)
                record_store.wait_background_reads(10)
                if known is not None:
                    answered += 1
                    expected = set(record_store.query_ids(query, order_by=None))
                    assert {i for i in every if i in known} == expected
        return answered

    agree()
    ann = record_store.query_ids(queries[0], order_by=None)
    record_store.delete(ann[:1], reason="test")
    agree()
    late = cube("late", key="late", metadata={"cat": "a"})
    every[-1] = late.id
    put(record_store, [late])
    agree()
    assert record_store.kept_matches(CubeQuery(ids=frozenset(ann))) is None  # ids: never kept
    assert agree() in (0, 3 * len(queries))  # nothing written since: an engine that keeps answers every ask


def test_kept_match_rids_are_exactly_the_rids_of_the_matches_and_follow_writes(record_store, monkeypatch):
    """``kept_match_rids`` (once kept) names exactly the cubes ``query_ids`` gives, through deletes, new cubes
    and tier moves; never for a scope where a cube expires (the time passing would change it), nor past its
    cap, nor with ``ids``."""
    import langchain_memos.storage.sqlite.records as records

    stored = [cube(f"n{i}", key=f"k{i}", ns=("users", "ann" if i < 8 else "bob"), metadata={"cat": "a" if i % 2 else "b"},
                   expires_at=T0 + timedelta(hours=1) if i == 11 else None) for i in range(12)]
    put(record_store, stored)
    cat_a = CubeQuery(namespace_prefix=("users", "ann"), conditions=(Condition(("cat",), "$eq", "a"),), now=T0)

    def kept(query):
        for _ in range(3):  # kept once read (in the background, or at the second ask in memory)
            rids = record_store.kept_match_rids(query)
            record_store.wait_background_reads(10)
            if rids is not None:
                return rids
        return None

    def named(rids):
        table = dict(record_store.read_transaction(lambda conn: conn.execute("SELECT rid, id FROM cubes").fetchall()))
        assert list(rids) == sorted(set(rids.tolist()))  # sorted, each rid once (ranges of $in and $gte too)
        return {table[r] for r in rids.tolist()}

    assert named(kept(cat_a)) == set(record_store.query_ids(cat_a, order_by=None)) and len(kept(cat_a)) == 4
    assert kept(cat_a) is kept(cat_a)  # the same array while nothing is written
    record_store.delete([stored[1].id], reason="test")
    put(record_store, [cube("late", key="late", ns=("users", "ann"), metadata={"cat": "a"})])
    assert record_store.move_tiers([TierMove(stored[3].id, Tier.ARCHIVE)], T0) == [stored[3].id]
    for query in (cat_a, replace(cat_a, tiers=frozenset({Tier.MID_TERM}))):
        assert named(kept(query)) == set(record_store.query_ids(query, order_by=None))
    assert kept(CubeQuery(namespace_prefix=("users",), now=T0)) is None  # n11 expires
    assert kept(replace(cat_a, ids=frozenset({stored[5].id}))) is None
    monkeypatch.setattr(records, "MATCH_RIDS_KEPT", 2)
    put(record_store, [cube("later", key="later", ns=("users", "ann"), metadata={"cat": "a"})])
    assert kept(cat_a) is None  # too many to keep


def test_sqlite_keeps_matches_from_the_second_ask_within_its_cap(record_store, monkeypatch):
    import langchain_memos.storage.sqlite.records as records

    put(record_store, [cube(f"n{i}", key=f"k{i}", metadata={"cat": "a"}) for i in range(5)])
    query = CubeQuery(conditions=(Condition(("cat",), "$eq", "a"),))
    assert record_store.kept_matches(query) is None  # a file reads them in the background now, memory next
    assert record_store.wait_background_reads(10)
    known = record_store.kept_matches(query)
    assert known is not None and all(i in known for i in record_store.query_ids(query))
    monkeypatch.setattr(records, "MATCHES_KEPT", 4)
    put(record_store, [cube("n5", key="k5", metadata={"cat": "a"})])
    asks = []
    for _ in range(3):
        asks.append(record_store.kept_matches(query))
        record_store.wait_background_reads(10)
    assert asks == [None, None, None]  # too many: never kept


def test_access_bookkeeping_keeps_kept_reads_and_heat_filters_stay_exact(record_store):
    # a search counts an access (touch): that does not change what kept reads return, so they are kept;
    # a filter on heat is never answered from a kept matrix
    put(record_store, [cube("a", key="a"), cube("b", key="b")], [vec(1, 0, 0), vec(0, 1, 0)])
    calls = []

    def read(conn):
        calls.append(1)
        return conn.execute("SELECT count(*) FROM cubes").fetchone()[0]

    record_store.kept_read("n", read)
    ids = record_store.embedding_matrix(CubeQuery())[0]
    record_store.touch(ids[:1], T0, heat_delta=5.0)
    assert record_store.kept_read("n", read) == 2 and len(calls) == 1
    hot = CubeQuery(cube_conditions=(Condition(("heat",), "$gt", 1.0),))
    assert record_store.embedding_matrix(hot)[0] == ids[:1]
    record_store.touch(ids[1:], T0, heat_delta=5.0)
    assert sorted(record_store.embedding_matrix(hot)[0]) == sorted(ids)


def test_kept_reads_outlive_another_connections_bookkeeping_not_its_writes(sqlite_file_store):
    # the index worker reads the same file on its own connection: the access counting of every search
    # (a bookkeeping write of the store's process) must not throw its kept reads away, a real write must
    other = SQLiteRecordStore(sqlite_file_store.path, busy_timeout_s=10.0)
    try:
        put(other, [cube("a", key="a")], [vec(1, 0)])
        calls = []

        def read(conn):
            calls.append(1)
            return conn.execute("SELECT count(*) FROM cubes").fetchone()[0]

        assert sqlite_file_store.kept_read("n", read) == 1 and len(calls) == 1
        other.touch(other.embedding_matrix(CubeQuery())[0], T0, heat_delta=1.0)
        assert sqlite_file_store.kept_read("n", read) == 1 and len(calls) == 1
        put(other, [cube("b", key="b")], [vec(0, 1)])
        assert sqlite_file_store.kept_read("n", read) == 2 and len(calls) == 2
    finally:
        other.close()


def test_metadata_filters_follow_overwrites_clashes_and_deletes(record_store):
    a = cube("a", key="a", metadata={"cat": "x", "n": 1})
    b = cube("b", key="b", metadata={"cat": "y", "n": 2})
    put(record_store, [a, b])

    def ids(**flt):
        return set(record_store.query_ids(CubeQuery(conditions=tuple(parse_filter(flt)))))

    assert ids(cat="x") == {a.id} and ids(n={"$gte": 1}) == {a.id, b.id}
    a2 = a.copy(metadata={"n": 5})  # "cat" removed, "n" changed
    put(record_store, [a2])
    assert ids(cat="x") == set() and ids(n=5) == {a.id} and ids(n=1) == set()
    assert ids(cat={"$ne": "y"}) == {a.id}  # a field that is gone counts as missing
    clash = cube("c", key="b", metadata={"cat": "z"})  # takes over (namespace, key) "b"
    assert put(record_store, [clash]) == [b.id]
    assert ids(cat="y") == set() and ids(cat="z") == {clash.id}
    record_store.delete([clash.id], reason="test")
    assert ids(cat="z") == set() and ids(cat={"$nin": ["q"]}) == {a.id}


def test_metadata_filters_on_each_access_path(record_store):
    docs = {"d1": {"cat": "tea", "n": 3}, "d2": {"cat": "coffee", "n": 7}, "d3": {"cat": "tea", "n": 9.5},
            "d4": {"n": True}, "d5": {"cat": ["tea"]}}
    cubes = {name: cube(f"green {name}", key=name, metadata=meta) for name, meta in docs.items()}
    put(record_store, cubes.values())
    names = {c.id: n for n, c in cubes.items()}
    for flt in ({"cat": "tea"}, {"n": {"$gt": 3}}, {"cat": {"$ne": "tea"}}, {"n": {"$in": [1, 7]}},
                {"cat": {"$nin": ["coffee"]}, "n": {"$lte": 9.5}}, {"n": True}):
        conds = tuple(parse_filter(flt))
        expected = {n for n, meta in docs.items() if matches(meta, list(conds))}
        q = CubeQuery(conditions=conds)
        assert {names[i] for i in record_store.query_ids(q)} == expected, flt
        assert record_store.count(q) == len(expected), flt
        with_ids = CubeQuery(conditions=conds, ids=frozenset(cubes[n].id for n in ("d1", "d2", "d4")))
        assert {names[c.id] for c in record_store.query(with_ids)} == expected & {"d1", "d2", "d4"}, flt
        assert {names[h.id] for h in kw_search(record_store, "green", q, 10)} == expected, flt


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_DOCS, min_size=1, max_size=6), conds=st.lists(_conditions(), min_size=1, max_size=3))
def test_filter_access_paths_equal_python_matches(docs, conds):
    """Listing, id-restricted reads, counts and keyword search all filter like filters.matches."""
    store = SQLiteRecordStore(None)
    try:
        cubes = [cube(f"word d{i}", key=f"d{i}", metadata=d) for i, d in enumerate(docs)]
        put(store, cubes)
        expected = {c.id for c, d in zip(cubes, docs) if matches(d, conds)}
        q = CubeQuery(conditions=tuple(conds))
        assert set(store.query_ids(q, order_by=None)) == expected
        assert store.count(q) == len(expected)
        some = frozenset(c.id for c in cubes[::2])
        assert {c.id for c in store.query(CubeQuery(conditions=tuple(conds), ids=some))} == expected & some
        assert {h.id for h in store.keyword_search(["word"], q, 10)} == expected
    finally:
        store.close()


def test_distinct_metadata_values_of_every_type(record_store):
    long_text = "x" * 300
    put(record_store, [cube("a", metadata={"v": long_text}), cube("b", metadata={"v": 2}),
                       cube("c", metadata={"v": None}), cube("d", metadata={"v": [1]}), cube("e", metadata={})])
    assert record_store.distinct_metadata(CubeQuery(), "v") == [None, 2, long_text]
    assert record_store.distinct_metadata(CubeQuery(), "absent") == []


def test_schema_2_database_gets_metadata_fields_on_open(tmp_path):
    path = tmp_path / "old.db"
    store = SQLiteRecordStore(path)
    c = cube("old", metadata={"cat": "tea", "n": 2, "deep": {"x": 1}})
    put(store, [c])
    store.close()
    raw = sqlite3.connect(path)  # turn it into a schema-2 file: no metadata_fields rows, version 2
    raw.execute("DELETE FROM metadata_fields")
    raw.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    raw.commit()
    raw.close()
    store = SQLiteRecordStore(path)
    try:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        assert store.query_ids(CubeQuery(conditions=tuple(parse_filter({"cat": "tea", "n": {"$lt": 3}})))) == [c.id]
        assert store.query_ids(CubeQuery(conditions=tuple(parse_filter({"deep.x": 1})))) == [c.id]
    finally:
        store.close()


def test_vector_upsert_takes_numpy_rows_and_names_bad_ones(vector_index):
    import numpy as np

    ids = ["a", "b", "c"]
    vectors = np.asarray([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    vector_index.upsert(ids, vectors)
    vector_index.upsert(["d"], [vectors[0] * 2])  # a list of numpy rows
    assert {h.id for h in vector_index.search([1.0, 0.0, 0.0], 2)} == {"a", "d"}
    bad = np.asarray([[1, 0, 0], [np.nan, 0, 0]], dtype=np.float32)
    with pytest.raises(InvalidInputError, match="embedding of y"):
        vector_index.upsert(["x", "y"], bad)
    with pytest.raises(InvalidInputError, match="embedding of y"):
        vector_index.upsert(["x", "y"], [[1.0, 0.0, 0.0], ["a", 0.0, 0.0]])
    assert vector_index.ids() == {"a", "b", "c", "d"}
    assert len(vector_index.search([1.0, 0.0, 0.0], 50)) == 4  # k beyond the index size


# ============================================================================= lifecycle support (scheduler)
def test_move_tiers_working_sets_status_audit_and_versions(record_store):
    a = cube("a", key="a", version=3)
    b = cube("b", key="b")
    c = cube("c", key="c", ns=("users", "bob"))
    put(record_store, [a, b, c], [vec(1, 0), None, vec(0, 1)])
    record_store.mark_indexed([a.id, c.id])
    at = T0 + timedelta(hours=1)
    moved = record_store.move_tiers([
        TierMove(a.id, Tier.WORKING, thread="t1", reason="admit"),
        TierMove(b.id, Tier.ARCHIVE, expected_version=2),          # stale version: skipped
        TierMove("missing", Tier.ARCHIVE),
        TierMove(c.id, Tier.WORKING, thread="t1"),
    ], at, actor="sched")
    assert moved == [a.id, c.id]
    got = {x.id: x for x in record_store.get([a.id, b.id, c.id])}
    assert (got[a.id].tier, got[a.id].status, got[a.id].version) == (Tier.WORKING, Status.ACTIVATED, 3)
    assert got[a.id].updated_at == a.updated_at and got[a.id].history == a.history
    assert got[b.id].tier is Tier.MID_TERM
    assert record_store.unindexed_ids() == []  # the vector index holds no tiers: a hot-to-hot move leaves it
    assert [(t, i) for t, i, _ in record_store.working_set(("users", "alice"), "t1")] == [("t1", a.id)]
    assert {i for _, i, _ in record_store.working_set((), "t1")} == {a.id, c.id}
    assert record_store.working_set(("users",), "other") == []
    log = record_store.audit_log(a.id)[0]
    assert (log.action, log.actor, log.reason, log.detail["from"], log.detail["to"]) == (
        "tier_move", "sched", "admit", "mid_term", "working")
    # a second thread holds `a`: leaving t1's working set keeps it in the working tier
    assert record_store.move_tiers([TierMove(a.id, Tier.WORKING, thread="t2")], at) == []
    assert record_store.move_tiers([TierMove(a.id, Tier.MID_TERM, thread="t1")], at) == []
    assert record_store.get([a.id])[0].tier is Tier.WORKING
    assert record_store.move_tiers([TierMove(a.id, Tier.MID_TERM, thread="t2")], at) == [a.id]
    back = record_store.get([a.id])[0]
    assert (back.tier, back.status) == (Tier.MID_TERM, Status.GENERATED)
    assert record_store.working_set((), "t2") == []
    # archive, and the fused status survives moves
    record_store.mark_indexed([a.id, c.id])
    assert record_store.move_tiers([TierMove(a.id, Tier.ARCHIVE, status=Status.FUSED)], at) == [a.id]
    assert record_store.unindexed_ids() == []  # the archive is not vector-indexed
    assert record_store.move_tiers([TierMove(a.id, Tier.LONG_TERM)], at) == [a.id]
    assert (record_store.get([a.id])[0].status, record_store.unindexed_ids()) == (Status.FUSED, [a.id])
    # a cube without a thread leaves every working set
    assert record_store.move_tiers([TierMove(c.id, Tier.ARCHIVE)], at) == [c.id]
    assert record_store.working_set((), "t1") == []
    assert record_store.move_tiers([], at) == []


def test_set_heat_and_coaccess(record_store):
    a, b, c, d = (cube(x, key=x) for x in "abcd")
    put(record_store, [a, b, c, d])
    record_store.set_heat({a.id: 2.5, b.id: 0.25, "missing": 9.0})
    got = {x.id: x for x in record_store.get([a.id, b.id, c.id])}
    assert (got[a.id].heat, got[b.id].heat, got[c.id].heat) == (2.5, 0.25, 0.0)
    assert [x.id for x in record_store.query(CubeQuery(), order_by="heat DESC")][:2] == [a.id, b.id]
    with pytest.raises(InvalidInputError):
        record_store.set_heat({a.id: float("nan")})
    record_store.record_coaccess([[a.id, b.id, c.id], [a.id, b.id, "missing"], [d.id]], T0)
    assert record_store.coaccessed([a.id]) == [ScoredId(b.id, 2.0), ScoredId(c.id, 1.0)]
    assert record_store.coaccessed([a.id, b.id], limit=5) == [ScoredId(c.id, 2.0)]
    assert record_store.coaccessed(["missing"]) == [] and record_store.coaccessed([]) == []
    record_store.delete([b.id], reason="test")  # rows of a deleted cube go with it
    assert record_store.coaccessed([a.id]) == [ScoredId(c.id, 1.0)]


def test_write_lock_holds_off_other_threads(record_store):
    a = cube("a")
    put(record_store, [a])
    seen: list[str] = []
    with record_store.write_lock():
        worker = threading.Thread(target=lambda: seen.append(record_store.get([a.id])[0].content))
        worker.start()
        worker.join(0.3)
        assert seen == []  # the other thread waits for the lock
        assert record_store.get([a.id])[0].content == "a"  # re-entrant for the holder
    worker.join(5)
    assert seen == ["a"]


def test_new_chroma_collections_get_the_hnsw_settings(tmp_path) -> None:
    from langchain_memos.storage.chroma import ChromaVectorIndex

    index = ChromaVectorIndex.persistent(tmp_path / "c", hnsw={"ef_search": 150})
    try:
        config = index._collection.configuration_json["hnsw"]
        assert (config["space"], config["ef_construction"], config["ef_search"]) == ("cosine", 40, 150)
    finally:
        index.close()
    again = ChromaVectorIndex.persistent(tmp_path / "c", hnsw={"ef_construction": 100})
    try:
        assert again._collection.configuration_json["hnsw"]["ef_construction"] == 40  # an existing one keeps its own
    finally:
        again.close()


# ============================================================================= RecordStore, protocol by protocol
# Each small protocol of ``storage.base`` gets cases that reach the engine only through
# that protocol's methods (``through`` hides every other name); cubes are seeded through
# ``CubeRecords.write``, the one way any of them gets data.

SMALL_PROTOCOLS = (CubeRecords, KeywordIndex, ThreadLinks, PendingVectors, TierState, ExpiryState, AuditLog,
                   StoreAdmin)


def protocol_methods(protocol: type) -> set[str]:
    """The public methods a protocol declares (its own and those of the protocols it composes)."""
    return {name for klass in protocol.__mro__ if klass not in (object,) and klass.__module__ != "typing"
            for name, value in vars(klass).items() if callable(value) and not name.startswith("_")}


def through(store, protocol: type) -> SimpleNamespace:
    """``store`` seen as ``protocol``: only that protocol's methods are reachable."""
    assert isinstance(store, protocol)
    return SimpleNamespace(**{name: getattr(store, name) for name in protocol_methods(protocol)})


def seed(store, cubes, embeddings=None, texts=None):
    """Write cubes through :class:`CubeRecords` (content as keyword text, no embeddings by default)."""
    return put(through(store, CubeRecords), cubes, embeddings, texts)


def test_small_protocols_partition_record_store():
    owners: dict[str, list[str]] = {}
    for protocol in SMALL_PROTOCOLS:
        for name in protocol_methods(protocol):
            owners.setdefault(name, []).append(protocol.__name__)
    assert {name: where for name, where in owners.items() if len(where) > 1} == {}
    assert set(owners) == protocol_methods(RecordStore)


@pytest.mark.parametrize("protocol", SMALL_PROTOCOLS, ids=lambda p: p.__name__)
def test_engine_implements_each_small_protocol(record_store, protocol):
    assert isinstance(record_store, protocol)


def test_cube_records_protocol(record_store):
    records = through(record_store, CubeRecords)
    a = cube("alpha", key="a", metadata={"topic": "tea"})
    b = cube("beta", key="b", metadata={"topic": "coffee"}, version=2,
             history=[HistoryEntry(1, "older beta", {}, T0, "update")])
    c = cube("gamma", key="c", ns=("users", "bob"), metadata={"topic": "tea"})
    assert records.write([a, b, c], [None] * 3, [None] * 3) == []
    assert records.get([c.id, "missing", b.id]) == [c, None, b]
    assert records.get_by_keys(("users", "alice"), ["b", "zz", "a"]) == [b, None, a]
    alice = CubeQuery(namespace_prefix=("users", "alice"))
    assert records.count(CubeQuery()) == 3 and records.count(alice) == 2
    assert records.query_ids(alice, order_by="key ASC") == [a.id, b.id]
    assert [x.id for x in records.query(CubeQuery(), order_by="key ASC", limit=2, offset=1)] == [b.id, c.id]
    assert records.query(alice, order_by="key ASC", with_history=False)[1].history == []
    assert sorted(records.distinct_metadata(CubeQuery(), "topic")) == ["coffee", "tea"]
    assert records.namespaces(("users",)) == [("users", "alice"), ("users", "bob")]
    clash = cube("alpha again", key="a")  # same (namespace, key), another id
    assert records.write([clash], [None], [None]) == [a.id]
    assert records.get([a.id, clash.id]) == [None, clash]
    assert records.delete([b.id, "missing"], reason="test") == [b.id]
    assert records.erase([c.id, "missing"]) == [c.id]
    assert records.get([b.id, c.id]) == [None, None]
    assert records.namespaces() == [("users", "alice")]


def test_keyword_index_protocol(record_store):
    tea = cube("alice drinks green tea every morning", key="tea")
    both = cube("green tea and black tea", key="both")
    other = cube("green tea in another namespace", key="o", ns=("users", "bob"))
    seed(record_store, [tea, both, other])
    index = through(record_store, KeywordIndex)
    alice = CubeQuery(namespace_prefix=("users", "alice"))
    hits = index.keyword_search(["black", "tea"], alice, 5)
    assert [h.id for h in hits] == [both.id, tea.id]
    assert all(isinstance(h, ScoredId) and h.score > 0 for h in hits) and hits[0].score > hits[1].score
    assert len(index.keyword_search(["tea"], CubeQuery(), 1)) == 1
    assert {h.id for h in index.keyword_search(["namespace"], CubeQuery(), 5)} == {other.id}
    assert index.keyword_search(["nothing"], CubeQuery(), 5) == []
    assert index.keyword_search([], CubeQuery(), 5) == []
    assert index.keyword_search(["tea"], CubeQuery(), 0) == []
    ctx = threaded("reply", "t", 1)
    seed(record_store, [ctx], texts=[{"body": "a reply", "context": "zebra"}])
    assert [h.id for h in index.keyword_search(["zebra"], CubeQuery(), 5, column_weights=[1, 1, 1, 1])] == [ctx.id]
    assert index.keyword_search(["zebra"], CubeQuery(), 5, column_weights=[1, 0, 1, 1])[0].score == 0
    with pytest.raises(InvalidInputError, match="column_weights"):
        index.keyword_search(["tea"], CubeQuery(), 5, column_weights=[1.0])


def test_thread_links_protocol(record_store):
    units = [threaded(f"unit {i}", "t1", i) for i in (0, 1, 3)]
    elsewhere = threaded("other thread", "t2", 0)
    loose = cube("no thread")
    seed(record_store, [*units, elsewhere, loose])
    links = through(record_store, ThreadLinks)
    assert links.thread_max_position(("t",), "t1") == 3
    assert links.thread_max_position(("t",), "new") is None
    assert links.next_in_thread([units[0].id, units[1].id, units[2].id, loose.id, "missing"]) == {
        units[0].id: units[1].id, units[1].id: units[2].id}
    assert [u.content for u in links.thread_units(("t",), "t1", 1, 3)] == ["unit 1", "unit 3"]
    assert all(u.history == [] for u in links.thread_units(("t",), "t1", 0, 9))
    assert links.thread_units(("t",), "t2", 1, 5) == [] and links.next_in_thread([]) == {}


def test_pending_vectors_protocol(record_store):
    a, b, cold = cube("a", key="a"), cube("b", key="b"), cube("cold", key="c", tier=Tier.ARCHIVE)
    seed(record_store, [a, b, cold], [vec(1, 2), None, vec(3, 4)])
    pending = through(record_store, PendingVectors)
    assert pending.unindexed_ids() == [a.id]  # b has no vector; the archive is never pending
    assert {k: list(v) for k, v in pending.embeddings([a.id, b.id, cold.id]).items()} == {
        a.id: [1.0, 2.0], cold.id: [3.0, 4.0]}
    entries = pending.unindexed_embeddings(10)
    assert [(w.id, w.namespace, w.tier, list(w.embedding)) for w in entries] == [(a.id, a.namespace, a.tier, [1.0, 2.0])]
    assert all(isinstance(w.rid, int) for w in entries) or all(w.rid is None for w in entries)
    assert pending.confirm_indexed(entries) == 1 and pending.unindexed_ids() == []
    pending.mark_indexed([a.id], indexed=False)
    assert pending.unindexed_ids() == [a.id]
    stale = pending.unindexed_embeddings(10)
    seed(record_store, [a], [vec(5, 6)])  # written again before the index confirmed
    assert pending.confirm_indexed(stale) == 0 and pending.unindexed_ids() == [a.id]
    before = pending.unindexed_embeddings(10)
    record_store.delete([a.id], reason="test")
    seed(record_store, [a], [vec(5, 6)])  # the same cube and vector again, as a new row (a new rid)
    again = pending.unindexed_embeddings(10)
    if before[0].rid is not None:  # the index must not keep the old row's rid
        assert again[0].rid != before[0].rid and pending.confirm_indexed(before) == 0
    assert pending.confirm_indexed(again) == 1 and pending.unindexed_ids() == []
    pending.mark_indexed([a.id], indexed=False)
    pending.mark_indexed([a.id, "missing"])
    assert pending.unindexed_ids() == [] and pending.confirm_indexed([]) == 0


def test_tier_state_protocol(record_store):
    a, b, c = cube("a", key="a", heat=1.0), cube("b", key="b"), cube("c", key="c")
    seed(record_store, [a, b, c])
    state = through(record_store, TierState)
    at = T0 + timedelta(hours=1)
    assert state.move_tiers([TierMove(a.id, Tier.WORKING, thread="t1"),
                             TierMove(b.id, Tier.ARCHIVE, expected_tier=Tier.LONG_TERM),
                             TierMove("missing", Tier.ARCHIVE)], at) == [a.id]
    assert state.working_set(("users",)) == [("t1", a.id, at)]
    assert state.working_set(("users",), "t2") == []
    assert state.move_tiers([TierMove(a.id, Tier.MID_TERM, thread="t1")], at) == [a.id]
    assert state.working_set(()) == []
    state.touch([a.id, a.id, "missing"], at, heat_delta=0.5)
    state.set_heat({b.id: 3.0, "missing": 1.0})
    state.record_coaccess([[a.id, b.id], [a.id, c.id, "missing"], [a.id, b.id]], at)
    assert state.coaccessed([a.id]) == [ScoredId(b.id, 2.0), ScoredId(c.id, 1.0)]
    assert state.coaccessed([b.id, c.id], limit=1) == [ScoredId(a.id, 3.0)]
    got = {x.id: x for x in through(record_store, CubeRecords).get([a.id, b.id])}
    assert (got[a.id].access_count, got[a.id].heat, got[a.id].last_accessed_at) == (2, 2.0, at)
    assert (got[a.id].tier, got[b.id].heat) == (Tier.MID_TERM, 3.0)
    with pytest.raises(InvalidInputError):
        state.touch([a.id], at, heat_delta=float("inf"))


def test_expiry_state_protocol(record_store):
    sliding = cube("sliding", key="s", ttl_minutes=30.0, expires_at=T0 + timedelta(minutes=5))
    fixed = cube("fixed", key="f", expires_at=T0 + timedelta(minutes=10))
    forever = cube("forever", key="n")
    seed(record_store, [sliding, fixed, forever])
    expiry = through(record_store, ExpiryState)
    assert expiry.expired_ids(T0 + timedelta(minutes=10)) == [sliding.id, fixed.id]
    assert expiry.expired_ids(T0 + timedelta(minutes=10), limit=1) == [sliding.id]
    expiry.refresh_expiry([sliding.id, fixed.id, forever.id, "missing"], T0 + timedelta(minutes=8))
    assert expiry.expired_ids(T0 + timedelta(minutes=10)) == [fixed.id]
    assert expiry.expired_ids(T0 + timedelta(minutes=38)) == [fixed.id, sliding.id]
    assert expiry.expired_ids(T0) == []
    refreshed = through(record_store, CubeRecords).get([sliding.id])[0]
    assert refreshed.expires_at == T0 + timedelta(minutes=38)


def test_audit_log_protocol(record_store):
    log = through(record_store, AuditLog)
    assert log.audit_log() == []
    first = AuditRecord("repair", None, ("users",), T0, detail={"fixed": 2})
    second = AuditRecord("expire", "c1", ("users", "alice"), T0 + timedelta(seconds=1), "sys", "ttl",
                         {"nested": {"a": [1, None]}})
    log.audit([first, second])
    log.audit([])
    assert log.audit_log() == [second, first]
    assert log.audit_log("c1") == [second] and log.audit_log("nope") == []
    assert log.audit_log(limit=1) == [second]
    with pytest.raises(InvalidInputError):
        log.audit([AuditRecord("bad", None, (), T0, detail={"x": float("nan")})])
    assert len(log.audit_log()) == 2


def test_store_admin_protocol(record_store):
    admin = through(record_store, StoreAdmin)
    admin.set_meta("model", "m1")
    admin.set_meta("model", "m2")
    admin.setup()
    assert admin.get_meta("model") == "m2" and admin.get_meta("nope") is None
    with admin.write_lock():
        with admin.write_lock():  # re-entrant
            admin.set_meta("inside", "yes")
    assert admin.get_meta("inside") == "yes"
    admin.close()
    admin.close()
    with pytest.raises(StorageError, match="closed"):
        admin.get_meta("model")


def test_embedding_matrix_equals_embeddings_of_the_matching_cubes(record_store):
    cubes = [cube(f"n{i}", key=f"k{i}", metadata={"even": i % 2 == 0}) for i in range(7)]
    vectors = [vec(1, i, 0) for i in range(6)] + [None]  # the last cube has no embedding
    put(record_store, cubes, vectors)
    q = CubeQuery(conditions=(Condition(("even",), "$eq", True),))
    ids, matrix = record_store.embedding_matrix(q)
    stored = record_store.embeddings([c.id for c in cubes])
    assert sorted(ids) == sorted(c.id for c in cubes[:6:2]) and matrix.shape == (3, 3)
    for i, row in zip(ids, matrix):
        assert list(row) == list(stored[i])
    assert len(record_store.embedding_matrix(CubeQuery(), limit=2)[0]) == 2
    assert record_store.embedding_matrix(CubeQuery(ids=frozenset({cubes[6].id})))[0] == []


def test_a_scope_matrix_read_again_sees_every_write_and_expiry(record_store):
    """The whole-scope matrix is kept between calls; own writes, other connections' writes and the
    passing of an expiry time are all seen on the next call."""
    scope = CubeQuery(namespace_prefix=("users", "alice"))
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    first = [cube("a", key="a"), cube("b", key="b", expires_at=soon)]
    put(record_store, first, [vec(1, 0, 0), vec(0, 1, 0)])
    assert sorted(record_store.embedding_matrix(scope)[0]) == sorted(c.id for c in first)
    assert sorted(record_store.embedding_matrix(scope)[0]) == sorted(c.id for c in first)  # kept: same answer
    later = replace(scope, now=soon + timedelta(seconds=1))  # b expired, nothing written
    assert record_store.embedding_matrix(later)[0] == [first[0].id]
    assert sorted(record_store.embedding_matrix(replace(later, include_expired=True))[0]) == sorted(
        c.id for c in first)
    third = cube("c", key="c")
    put(record_store, [third], [vec(0, 0, 1)])  # this connection's write
    ids, matrix = record_store.embedding_matrix(scope)
    assert third.id in ids and list(matrix[ids.index(third.id)]) == [0.0, 0.0, 1.0]
    record_store.delete([first[0].id], reason="test")
    assert first[0].id not in record_store.embedding_matrix(scope)[0]
    if record_store.in_memory:
        return
    other = SQLiteRecordStore(record_store.path, busy_timeout_s=10.0)  # another connection to the same file
    try:
        fourth = cube("d", key="d")
        put(other, [fourth], [vec(1, 1, 0)])
        assert fourth.id in record_store.embedding_matrix(scope)[0]
    finally:
        other.close()
