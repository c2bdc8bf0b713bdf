"""One conformance suite over every GraphStore engine: SQLite (file and in-memory) and Neo4j.

The Neo4j run needs a server: set ``NEO4J_URI`` (and ``NEO4J_USER``, ``NEO4J_PASSWORD``);
otherwise it is skipped with that reason. Each test works under its own namespace root and
deletes it afterwards, so a shared server stays clean.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from langchain_memos.errors import EngineUnavailableError, InvalidInputError
from langchain_memos.graph.base import GraphStore, RelationQuery
from langchain_memos.graph.model import Entity, Relation
from langchain_memos.graph.neo4j import relation_cypher
from langchain_memos.graph.sqlite import SQLiteGraphStore

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
NEO4J_SKIP = "NEO4J_URI not set: set NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD to run the Neo4j engine suite"

INJECTIONS = [
    'Robert"); DROP TABLE graph_entities; --',
    "O'Brien's `backtick` café",
    "x'}) DETACH DELETE n //",
    "MATCH (n) DETACH DELETE n",
    "1 OR 1=1; DELETE FROM graph_relations",
    "}]->(m) SET m.pwned = true WITH m MATCH (k",
    '$param {id: "x"} \\u0000-free \\n newline',
    "Zoë 東京 🚀",
]


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "neo4j"])
def graph(request, tmp_path: Path):
    kind = request.param
    if kind == "sqlite-file":
        store: GraphStore = SQLiteGraphStore(tmp_path / "graph.sqlite3")
    elif kind == "sqlite-memory":
        store = SQLiteGraphStore(None)
    else:
        if not os.environ.get("NEO4J_URI"):
            pytest.skip(NEO4J_SKIP)
        from langchain_memos.graph.neo4j import Neo4jGraphStore

        store = Neo4jGraphStore(os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"),
                                os.environ.get("NEO4J_PASSWORD", ""), database=os.environ.get("NEO4J_DATABASE"))
    root = f"t{uuid.uuid4().hex[:10]}"
    store.root = root  # type: ignore[attr-defined]
    yield store
    store.delete_namespace((root,))
    store.close()


def ns(store, *labels: str) -> tuple[str, ...]:
    return (store.root, *labels)


def ent(store, name: str, *labels: str, kind: str = "person", **kw) -> Entity:
    return Entity(name=name, namespace=ns(store, *(labels or ("u",))), kind=kind, created_at=T0, **kw)


def rel(store, s: Entity, p: str, o: Entity, *, days: int = 0, sources=("c1",), **kw) -> Relation:
    return Relation(s.id, p, o.id, s.namespace, valid_from=T0 + timedelta(days=days),
                    recorded_at=T0 + timedelta(days=days), provenance=tuple(sources), text=f"{s.name} {p} {o.name}",
                    **kw)


def test_satisfies_protocol_and_setup_is_idempotent(graph) -> None:
    assert isinstance(graph, GraphStore)
    graph.setup()
    graph.setup()
    assert graph.counts(ns(graph)) == (0, 0)


def test_entities_with_aliases_are_found_by_any_name_in_their_namespace_only(graph) -> None:
    mel = ent(graph, "Melanie", aliases=("Mel",))
    other = ent(graph, "Melanie", "v")
    graph.put_entities([mel, other])
    found = graph.find_entities(ns(graph, "u"), ["mel", "MELANIE", "nobody"])
    assert sorted(found) == ["mel", "melanie"]
    assert [e.id for e in found["mel"]] == [mel.id] and found["melanie"][0] == mel
    assert graph.entities(ns(graph, "u")) == [mel]
    assert {e.id for e in graph.entities(ns(graph))} == {mel.id, other.id}
    graph.put_entities([mel.with_aliases("Mels")])  # replace by id
    assert graph.entities(ns(graph, "u"), ids=[mel.id])[0].aliases == ("Mel", "Mels")
    assert graph.entities(ns(graph), kind="place") == []


def test_relations_query_by_entity_subject_predicate_and_source(graph) -> None:
    ann, bos, tea = ent(graph, "Ann"), ent(graph, "Boston", kind="place"), ent(graph, "tea", kind="thing")
    graph.put_entities([ann, bos, tea])
    r1, r2 = rel(graph, ann, "lives_in", bos, sources=("c1",)), rel(graph, ann, "likes", tea, days=1, sources=("c2",))
    assert graph.put_relations([r1, r2]) == [r1.id, r2.id]
    assert graph.relations(RelationQuery(namespace_prefix=ns(graph))) == [r2, r1]  # newest recorded first
    assert graph.relations(RelationQuery(entity_ids=frozenset({bos.id}))) == [r1]
    assert graph.relations(RelationQuery(namespace_prefix=ns(graph), predicate="likes")) == [r2]
    assert graph.relations(RelationQuery(namespace_prefix=ns(graph), subject=ann.id, limit=1)) == [r2]
    assert graph.relations(RelationQuery(namespace_prefix=ns(graph), sources=frozenset({"c1"}))) == [r1]
    assert graph.relations(RelationQuery(ids=frozenset({r2.id}))) == [r2]
    merged = Relation.from_row({**r1.to_row(), "provenance": ["c1", "c3"]})
    graph.put_relations([merged])
    assert graph.relations(RelationQuery(sources=frozenset({"c3"}))) == [merged]


def test_relations_read_back_are_immutable_values_that_copy_to_plain_dicts(graph) -> None:
    import copy
    import pickle

    ann, tea = ent(graph, "Ann"), ent(graph, "tea", kind="thing")
    graph.put_entities([ann, tea])
    r = rel(graph, ann, "likes", tea, attributes={"date": "2023-05-07"})
    graph.put_relations([r])
    first, again = (graph.relations(RelationQuery(ids=frozenset({r.id})))[0] for _ in range(2))
    assert first == again == r and first.attributes == {"date": "2023-05-07"}
    with pytest.raises(TypeError, match="read-only"):
        first.attributes["date"] = "changed"  # type: ignore[index]
    assert graph.relations(RelationQuery(ids=frozenset({r.id})))[0].attributes == {"date": "2023-05-07"}
    for copied in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first)):
        assert copied == first
        copied.attributes["date"] = "x"  # copies are changeable, plain dicts
    assert first.attributes["date"] == "2023-05-07"


def test_neighbours_one_and_two_hops(graph) -> None:
    a, b, c, d = (ent(graph, n) for n in ("A", "B", "C", "D"))
    graph.put_entities([a, b, c, d])
    graph.put_relations([rel(graph, a, "knows", b), rel(graph, c, "knows", b), rel(graph, c, "knows", d)])
    one = graph.neighbours([a.id])
    assert [(n.entity.name, n.hops) for n in one] == [("B", 1)]
    two = graph.neighbours([a.id], hops=2)
    assert sorted((n.entity.name, n.hops) for n in two) == [("B", 1), ("C", 2)]
    assert graph.neighbours([]) == []
    with pytest.raises(InvalidInputError):
        graph.neighbours([a.id], hops=3)


def test_supersede_keeps_history_and_as_of_answers_by_validity(graph) -> None:
    me, bos, den = ent(graph, "Me"), ent(graph, "Boston", kind="place"), ent(graph, "Denver", kind="place")
    graph.put_entities([me, bos, den])
    old, new = rel(graph, me, "lives_in", bos), rel(graph, me, "lives_in", den, days=100)
    graph.put_relations([old, new])
    assert graph.supersede(old.id, new.valid_from, superseded_by=new.id) is True
    assert graph.supersede(old.id, new.valid_from) is False  # already ended
    assert graph.supersede("r_missing", new.valid_from) is False
    q = RelationQuery(namespace_prefix=ns(graph), predicate="lives_in")
    current = graph.relations(RelationQuery(namespace_prefix=ns(graph), predicate="lives_in", current=True))
    assert [r.object for r in current] == [den.id]
    before = graph.relations(RelationQuery(namespace_prefix=ns(graph), as_of=T0 + timedelta(days=50)))
    assert [r.object for r in before] == [bos.id]
    after = graph.relations(RelationQuery(namespace_prefix=ns(graph), as_of=T0 + timedelta(days=150)))
    assert [r.object for r in after] == [den.id]
    history = graph.relations(q)
    assert {r.object for r in history} == {bos.id, den.id}
    ended = next(r for r in history if r.object == bos.id)
    assert ended.valid_to == new.valid_from and ended.superseded_by == new.id
    assert graph.neighbours([me.id], current=True)[0].entity == den


def test_remove_sources_deletes_relations_left_without_one_and_orphan_entities(graph) -> None:
    a, b, c = ent(graph, "A"), ent(graph, "B"), ent(graph, "C")
    graph.put_entities([a, b, c])
    shared, single = rel(graph, a, "knows", b, sources=("c1", "c2")), rel(graph, a, "knows", c, sources=("c1",))
    graph.put_relations([shared, single])
    removed = graph.remove_sources(["c1"])
    assert [r.id for r in removed] == [single.id]
    left = graph.relations(RelationQuery(namespace_prefix=ns(graph)))
    assert [(r.id, r.provenance) for r in left] == [(shared.id, ("c2",))]
    assert {e.name for e in graph.entities(ns(graph))} == {"A", "B"}
    assert graph.remove_sources([]) == []
    graph.remove_sources(["c2"])
    assert graph.counts(ns(graph)) == (0, 0)


def test_delete_namespace_removes_every_trace_under_the_prefix_only(graph) -> None:
    a, b = ent(graph, "A", "a"), ent(graph, "B", "a", "deep")
    x, y = ent(graph, "X", "ab"), ent(graph, "Y", "ab")  # "ab" starts with "a" as a string, not as a namespace
    graph.put_entities([a, b, x, y])
    graph.put_relations([rel(graph, a, "knows", b), rel(graph, x, "knows", y)])
    assert graph.delete_namespace(ns(graph, "a")) == (2, 1)
    assert graph.counts(ns(graph, "a")) == (0, 0)
    assert graph.counts(ns(graph, "ab")) == (2, 1)
    assert graph.find_entities(ns(graph, "a"), ["A"]) == {}


def test_export_import_round_trip_is_lossless(graph) -> None:
    a = ent(graph, "Ann", aliases=("Annie",), attributes={"k": [1, "two"]})
    b = ent(graph, "Boston", kind="place")
    graph.put_entities([a, b])
    r = rel(graph, a, "lives_in", b, sources=("c1", "c2"), attributes={"date": "2023-05-06"})
    graph.put_relations([r])
    graph.supersede(r.id, T0 + timedelta(days=3), superseded_by="r_next")
    rows = graph.export_rows(ns(graph))
    assert graph.delete_namespace(ns(graph)) == (2, 1)
    assert graph.import_rows(rows) == (2, 1)
    assert graph.export_rows(ns(graph)) == rows
    assert graph.import_rows(rows) == (2, 1)  # idempotent
    assert graph.counts(ns(graph)) == (2, 1)
    got = graph.relations(RelationQuery(namespace_prefix=ns(graph)))[0]
    assert got.valid_to == T0 + timedelta(days=3) and got.provenance == ("c1", "c2")


@pytest.mark.parametrize("name", INJECTIONS)
def test_injection_strings_are_stored_verbatim_and_never_executed(graph, name: str) -> None:
    name = name.replace("\\u0000-free ", "")
    hostile = ent(graph, name, kind=name)
    safe = ent(graph, "Safe")
    graph.put_entities([hostile, safe])
    r = Relation(safe.id, name, hostile.id, safe.namespace, valid_from=T0, recorded_at=T0, provenance=(name,),
                 text=name, attributes={name: name})
    graph.put_relations([r])
    assert graph.entities(ns(graph), ids=[hostile.id])[0].name == name
    assert graph.find_entities(ns(graph, "u"), [name])
    got = graph.relations(RelationQuery(namespace_prefix=ns(graph), predicate=name, sources=frozenset({name})))
    assert got == [r]
    assert graph.counts(ns(graph)) == (2, 1)  # nothing dropped, nothing extra
    assert [n.entity.name for n in graph.neighbours([safe.id])] == [name]
    assert len(graph.remove_sources([name])) == 1


def test_sqlite_graph_shares_the_record_store_file(tmp_path: Path) -> None:
    from langchain_memos.storage.sqlite import SQLiteRecordStore

    records = SQLiteRecordStore(tmp_path / "memos.sqlite3")
    store = SQLiteGraphStore(records=records)
    store.put_entities([Entity("Ann", ("u",), "person")])
    store.close()  # does not close the shared database
    assert SQLiteGraphStore(records=records).counts() == (1, 0)
    records.close()
    tables = {r[0] for r in sqlite3.connect(tmp_path / "memos.sqlite3").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"cubes", "graph_entities", "graph_relations", "graph_names", "graph_sources"} <= tables


def test_cypher_is_constant_text_with_parameters() -> None:
    for name in INJECTIONS:
        text, params = relation_cypher(RelationQuery(namespace_prefix=(name,), subject=name, predicate=name,
                                                     sources=frozenset({name}), entity_ids=frozenset({name}),
                                                     as_of=T0, current=True, limit=3))
        assert name not in text and "$predicate" in text and params["predicate"] == name


def test_neo4j_needs_a_uri() -> None:
    from langchain_memos.graph.neo4j import Neo4jGraphStore

    with pytest.raises(EngineUnavailableError, match="neo4j_uri"):
        Neo4jGraphStore(None)


class _RecordingResult:
    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return iter(self.rows)

    def consume(self):
        return None

    def single(self):
        return {"n": 0}


class _RecordingDriver:
    """A stand-in ``neo4j.Driver`` that records every statement and its parameters (no server)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, dict]] = []
        self.closed = False

    def session(self, database=None):
        driver = self

        class Session:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def execute_write(self, fn):
                return fn(driver)

            execute_read = execute_write

        return Session()

    def run(self, query, parameters=None):
        assert isinstance(query, str)
        self.statements.append((query, dict(parameters or {})))
        return _RecordingResult([])

    def close(self):
        self.closed = True


def test_neo4j_engine_sends_only_constant_statements_with_parameters() -> None:
    from langchain_memos.graph.neo4j import SCHEMA_STATEMENTS, Neo4jGraphStore

    driver = _RecordingDriver()
    store = Neo4jGraphStore(driver=driver)
    assert [q for q, _ in driver.statements] == list(SCHEMA_STATEMENTS)
    assert all("IF NOT EXISTS" in q for q in SCHEMA_STATEMENTS)
    root = ("neo",)
    for name in INJECTIONS:
        a = Entity(name, root, name, aliases=(name,))
        b = Entity("B", root)
        store.put_entities([a, b])
        store.put_relations([Relation(a.id, name, b.id, root, provenance=(name,), text=name)])
        store.find_entities(root, [name])
        store.relations(RelationQuery(namespace_prefix=(name,), predicate=name, sources=frozenset({name})))
        store.neighbours([a.id], hops=2)
        store.supersede(name, T0)
        store.remove_sources([name])
        store.delete_namespace((name,))
        store.counts((name,))
        store.import_rows(store.export_rows((name,)))
    for query, params in driver.statements:
        for name in INJECTIONS:
            assert name not in query
    sent = [json for _, p in driver.statements for json in map(str, p.values())]
    assert any(INJECTIONS[0] in s for s in sent)  # the names travel as parameters
    store.close()
    assert driver.closed is False  # a driver passed in is the caller's to close
