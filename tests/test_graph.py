"""The memory graph end to end: extraction, dates, resolution, supersede, graph-aware search, deletion."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from langchain_memos import MemCube, MemOS, MemOSConfig, MemoryType
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.errors import EngineUnavailableError
from langchain_memos.graph.dates import find_dates
from langchain_memos.graph.extract import ExtractionInput, RuleExtractor
from langchain_memos.graph.llm import LLMExtraction, LLMExtractor, LLMFact
from langchain_memos.graph.model import Entity, Relation
from langchain_memos.graph.resolve import resolve_mention
from langchain_memos.graph.signal import cube_scores
from langchain_memos.graph.writer import plan_relations
from langchain_memos.lifecycle.config import LLMBudget

MONDAY = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
NS = ("users", "ann")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def memos():
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as m:
        yield m


# ----------------------------------------------------------------------------- extraction (pure)
@pytest.mark.parametrize("text, iso", [
    ("I ran a charity race last Saturday", "2023-05-06"),
    ("yesterday", "2023-05-07"),
    ("the day before yesterday", "2023-05-06"),
    ("two weeks ago", "2023-04-24"),
    ("three months ago", "2023-02"),
    ("last month", "2023-04"),
    ("last year", "2022"),
    ("next Friday", "2023-05-12"),
    ("last weekend", "2023-05-06"),
    ("last week", "2023-W18"),
    ("on 7 May 2023", "2023-05-07"),
    ("on May 7, 2023", "2023-05-07"),
    ("in June 2020", "2020-06"),
    ("back in 2016", "2016"),
])
def test_dates_resolve_against_the_session_date(text: str, iso: str) -> None:
    assert [d.iso for d in find_dates(text, MONDAY)] == [iso]


def test_relative_dates_need_a_reference_and_impossible_dates_are_dropped() -> None:
    assert find_dates("last Saturday", None) == []
    assert find_dates("on 31 February 2023", MONDAY) == []


def test_rule_extractor_finds_speaker_names_dates_and_facts() -> None:
    x = RuleExtractor().extract(ExtractionInput(
        "Hey Caroline! I adopted a puppy named Luna last Saturday. We visited Lake Tahoe in June 2022.",
        speaker="Melanie", said_at=MONDAY, known_names=("Caroline", "Melanie")))
    names = dict(x.entities)
    assert names["Melanie"] == "person" and names["Caroline"] == "person"
    assert "Luna" in names and "Lake Tahoe" in names and "Hey" not in names
    assert x.dates == ("2023-05-06", "2022-06")
    facts = {(f.subject, f.predicate, f.object, f.date) for f in x.facts}
    assert ("Melanie", "adopt", "puppy named Luna", "2023-05-06") in facts
    assert ("Melanie", "visit", "Lake Tahoe", "2022-06") in facts


def test_rule_extractor_keeps_the_input_language_and_needs_no_speaker() -> None:
    x = RuleExtractor().extract(ExtractionInput("Ich wohne in München. I live in Zürich."))
    assert ("München" in dict(x.entities)) and ("Zürich" in dict(x.entities))
    assert [(f.subject, f.predicate, f.object) for f in x.facts] == [("user", "lives_in", "Zürich")]


def test_resolution_prefix_nickname_alias_and_ambiguity() -> None:
    ns = ("c",)
    known = [Entity("Melanie", ns, "person"), Entity("Robert", ns, "person"),
             Entity("Caroline", ns, "person", aliases=("Caro",)), Entity("Boston", ns, "place")]
    assert resolve_mention("Mel", "thing", known).name == "Melanie"
    assert resolve_mention("Bob", "person", known).name == "Robert"
    assert resolve_mention("caro", "person", known).name == "Caroline"
    assert resolve_mention("Bostn", "place", known).name == "Boston"  # spelling similarity, same kind
    assert resolve_mention("Austin", "place", known) is None
    assert resolve_mention("Bostn", "thing", known) is None  # a different kind is not merged by spelling
    assert resolve_mention("Melanie", "person", known).id == known[0].id
    two = [*known, Entity("Melissa", ns, "person")]
    assert resolve_mention("Mel", "person", two) is None  # ambiguous: a new entity


def test_plan_relations_merges_duplicates_and_supersedes_exclusive_predicates() -> None:
    ns = ("u",)
    old = Relation("me", "lives_in", "boston", ns, valid_from=utc(2022, 1, 1), provenance=("c1",))
    again = Relation("me", "lives_in", "boston", ns, valid_from=utc(2022, 3, 1), provenance=("c2",))
    likes = Relation("me", "like", "tea", ns, valid_from=utc(2022, 3, 1), provenance=("c2",))
    plan = plan_relations([old], [again, likes])
    assert plan.merged == 1 and [r.id for r in plan.new] == [likes.id]
    assert next(r for r in plan.put if r.id == old.id).provenance == ("c1", "c2")
    late = Relation("me", "lives_in", "paris", ns, valid_from=utc(2021, 1, 1), provenance=("c0",))
    plan = plan_relations([old], [late])  # older than the stored fact: straight to history
    assert plan.put[0].valid_to == old.valid_from and plan.put[0].superseded_by == old.id
    assert not plan.put[0].is_valid_at(None) and plan.put[0].is_valid_at(utc(2021, 6, 1))


def test_graph_signal_scores_relations_joining_query_entities_and_halves_superseded() -> None:
    ns = ("u",)
    mention = Relation("caro", "mentions", "sweden", ns, provenance=("c1",), text="Caroline mentions Sweden")
    moved = Relation("caro", "lives_in", "oslo", ns, provenance=("c2",), text="Caroline moved to Oslo",
                     valid_to=utc(2024, 1, 1))
    scores = cube_scores(["caroline", "sweden"], {"caro": "Caroline", "sweden": "Sweden"}, [mention, moved], [])
    assert scores == {"c1": 1.0, "c2": 0.25}  # names only: touching a query entity counts half, superseded half again
    scores = cube_scores(["caroline", "live"], {"caro": "Caroline"}, [mention, moved], [])
    assert scores == {"c2": 0.5}


# ----------------------------------------------------------------------------- LLM extraction
class Scripted:
    """A chat model stand-in with structured output that records its prompts."""

    def __init__(self, answer=None, fail: bool = False) -> None:
        self.answer, self.fail, self.prompts = answer, fail, []

    def with_structured_output(self, schema):
        assert schema is LLMExtraction
        return self

    def invoke(self, messages):
        self.prompts.append(messages[-1].content)
        if self.fail:
            raise RuntimeError("provider down")
        return self.answer


def test_llm_extractor_uses_structured_output_and_resolves_first_person() -> None:
    model = Scripted(LLMExtraction(facts=[LLMFact(subject="I", predicate="moved to", object="Denver",
                                                  object_kind="place", date="2023-05-06")]))
    x = LLMExtractor(model).extract_many([ExtractionInput("I moved to Denver", speaker="Ann", said_at=MONDAY)])[0]
    assert [(f.subject, f.predicate, f.object, f.date) for f in x.facts] == [("Ann", "lives_in", "Denver",
                                                                            "2023-05-06")]
    assert "Said on: 2023-05-08" in model.prompts[0]


def test_llm_extractor_budget_and_failures_fall_back_to_rules() -> None:
    model = Scripted(LLMExtraction())
    extractor = LLMExtractor(model, LLMBudget(max_input_tokens=300, max_output_tokens=50, max_calls=1))
    out = extractor.extract_many([ExtractionInput("I live in Oslo", speaker="Ann"),
                                  ExtractionInput("I live in Rome", speaker="Ann")])
    assert len(model.prompts) == 1 and extractor.llm.stats.skipped == 1
    assert out[0].facts == () and [f.object for f in out[1].facts] == ["Rome"]  # 2nd: over budget -> rules
    long_text = "word " * 5000
    LLMExtractor(model, LLMBudget(max_input_tokens=300, max_output_tokens=50, max_calls=5)).extract(
        ExtractionInput(long_text))
    assert len(model.prompts[-1].split()) < 300  # the input was cut to the budget
    failing = LLMExtractor(Scripted(fail=True))
    assert [f.object for f in failing.extract(ExtractionInput("I live in Oslo")).facts] == ["Oslo"]
    assert failing.llm.stats.errors == 1


# ----------------------------------------------------------------------------- through MemOS
def test_superseded_fact_current_as_of_and_history(memos: MemOS) -> None:
    memos.add({"role": "user", "content": "I live in Boston."}, NS, created_at=utc(2022, 1, 10))
    memos.add({"role": "user", "content": "I moved to Denver last Saturday!"}, NS, created_at=MONDAY)
    current = memos.facts(NS)
    assert [f.text for f in current] == ["user moved to Denver"]
    before = memos.facts(NS, as_of=utc(2022, 6, 1))
    assert [f.text for f in before] == ["user live in Boston"]
    history = memos.facts(NS, history=True)
    assert [(f.text, f.valid_to) for f in history] == [("user live in Boston", MONDAY), ("user moved to Denver", None)]
    assert history[0].superseded_by == history[1].id
    # the fact cubes follow: the current search prefers Denver, the as-of search finds Boston
    hits = memos.search("where does the user live?", NS, types=[MemoryType.FACT])
    assert "Denver" in hits[0].cube.content and hits[0].cube.valid_to is None
    old = next(h.cube for h in hits if "Boston" in h.cube.content)
    assert old.valid_to == MONDAY and old.history and old.history[-1].reason == "supersede"
    then = memos.search("where does the user live?", NS, types=[MemoryType.FACT], as_of=utc(2022, 6, 1))
    assert [h.cube.content for h in then] == ["user live in Boston"]


def test_mel_and_melanie_resolve_to_one_entity_and_relations_merge(memos: MemOS) -> None:
    memos.add([{"role": "user", "name": "Caroline", "content": "Hey Melanie, I adopted a puppy."},
               {"role": "user", "name": "Caroline", "content": "Mel, I adopted a puppy!"}], NS, created_at=MONDAY)
    people = {e.name: e for e in memos.entities(NS, kind="person")}
    assert set(people) == {"Caroline", "Melanie"} and people["Melanie"].aliases == ("Mel",)
    adopt = memos.relations(NS, predicate="adopt")
    assert len(adopt) == 1 and len(adopt[0].provenance) == 2  # one relation, both sources kept
    assert {n.entity.name for n in memos.neighbours("Mel", NS)} == {"Caroline"}
    assert [r.predicate for r in memos.relations(NS, entity="Mel")] == ["mentions"]


def test_graph_search_links_query_entities_and_adds_candidates(memos: MemOS) -> None:
    memos.add([{"role": "user", "name": "Nora", "content": "I adopted a greyhound called Comet."},
               {"role": "user", "name": "Ivan", "content": "Nice. The weather is grey today."}], NS, created_at=MONDAY)
    hits = memos.search("What did Nora adopt?", NS)
    assert "greyhound" in hits[0].cube.content and hits[0].reasons.get("graph", 0) > 0
    assert all("graph" not in h.reasons for h in memos.search("weather today", NS))


def test_extraction_is_optional_per_call_and_off_for_cubes_by_default(memos: MemOS) -> None:
    memos.add(MemCube(content="I live in Oslo", namespace=NS), NS)
    memos.add("I live in Rome", NS, extract=False)
    assert memos.facts(NS) == []
    memos.add(MemCube(content="I live in Lima", namespace=NS), NS, extract=True)
    assert [f.text for f in memos.facts(NS)] == ["user live in Lima"]
    assert memos.graph_stats.extracted == 1 and memos.graph_stats.extraction_s >= 0


def test_deleting_cubes_and_namespaces_removes_graph_traces(memos: MemOS) -> None:
    a = memos.add("I live in Oslo", NS)[0]
    memos.add("I adopted a cat named Tom", ("users", "bob"))
    assert memos.facts(NS) and len(memos.list(NS, types=[MemoryType.FACT])) == 1
    memos.delete(a)
    assert memos.facts(NS, history=True) == [] and memos.list(NS) == []  # fact cube gone with its source
    assert memos.entities(NS) == []
    memos.add("I live in Oslo", NS)
    deleted = memos.delete_namespace(NS)
    assert len(deleted) == 2 and memos.graph.counts(NS) == (0, 0)
    assert memos.facts(("users", "bob"))  # other users untouched


def test_async_add_extracts_too(memos: MemOS) -> None:
    async def go():
        await memos.aadd({"role": "user", "content": "I work at Acme."}, NS)
        return await memos.afacts(NS)

    assert [f.predicate for f in asyncio.run(go())] == ["works_at"]


def test_graph_can_be_off_and_neo4j_needs_a_uri(tmp_path) -> None:
    with MemOS(config=MemOSConfig(path=None, vector_backend="chroma-ephemeral", graph_backend=None),
               embeddings=HashingEmbeddings()) as m:
        m.add("I live in Oslo", NS)
        assert m.graph is None and m.search("Oslo", NS)
        with pytest.raises(EngineUnavailableError, match="graph_backend"):
            m.facts(NS)
    with pytest.raises(EngineUnavailableError, match="neo4j_uri"):
        MemOS(config=MemOSConfig(path=str(tmp_path), graph_backend="neo4j"), embeddings=HashingEmbeddings())


def test_injection_names_survive_the_public_api(memos: MemOS) -> None:
    hostile = "Robert'); DROP TABLE graph_entities; -- `MATCH (n) DETACH DELETE n`"
    memos.add({"role": "user", "name": hostile, "content": "I live in Oslo"}, NS)
    assert hostile in {e.name for e in memos.entities(NS)}
    assert memos.facts(NS)[0].text.startswith(hostile)
    assert memos.search(hostile, NS)


def test_expiry_removes_graph_traces(memos: MemOS) -> None:
    memos.add("I live in Oslo", NS, ttl_minutes=1, created_at=utc(2024, 1, 1))
    memos.add("I adopted a cat", NS)
    assert len(memos.facts(NS)) == 2
    assert len(memos.expire(now=utc(2024, 1, 2))) == 1
    assert [f.predicate for f in memos.facts(NS)] == ["adopt"]
    assert {e.name for e in memos.entities(NS)} == {"user", "cat"}


def test_updating_content_replaces_its_facts(memos: MemOS) -> None:
    cube_id = memos.add("I live in Oslo", NS)[0]
    memos.update(cube_id, content="I live in Bergen")
    assert [f.text for f in memos.facts(NS, history=True)] == ["user live in Bergen"]
    assert [c.content for c in memos.list(NS, types=[MemoryType.FACT])] == ["user live in Bergen"]


def test_resolved_dates_are_date_nodes_linked_to_the_speaker(memos: MemOS) -> None:
    memos.add([{"role": "user", "name": "Ann", "content": "I ran a race last Saturday."},
               {"role": "user", "name": "Ann", "content": "And yesterday I rested."}], NS, created_at=MONDAY)
    days = {e.name for e in memos.entities(NS, kind="date")}
    assert days == {"2023-05-06", "2023-05-07"}  # one node per day: similar strings never merge
    linked = memos.relations(NS, predicate="mentions_date")
    assert sorted(r.attributes["date"] for r in linked) == ["2023-05-06", "2023-05-07"]
    assert all(r.predicate != "mentions_date" for r in memos.facts(NS))


def test_facts_respect_the_readers_of_their_sources(memos: MemOS) -> None:
    memos.add("I live in Oslo", NS, owner="ann")
    memos.add("I work at Acme", NS, owner="ann", permissions={"readers": ["bob"]})
    assert len(memos.facts(NS)) == 2  # the trusted caller sees everything
    assert [f.predicate for f in memos.facts(NS, user="bob")] == ["works_at"]
    assert memos.facts(NS, user="eve") == [] and len(memos.facts(NS, user="ann")) == 2
    assert len(memos.relations(NS, user="bob", limit=5)) == 1


def test_a_failing_graph_engine_never_loses_the_write_and_extract_backfills() -> None:
    from langchain_memos.errors import GraphIngestError, StorageError
    from langchain_memos.graph.sqlite import SQLiteGraphStore

    class Flaky(SQLiteGraphStore):
        down = True

        def put_relations(self, relations):
            if self.down:
                raise StorageError("graph engine down (start it)")
            return super().put_relations(relations)

    store = Flaky(None)
    with MemOS.ephemeral(embeddings=HashingEmbeddings(), graph=store) as m:
        with pytest.raises(GraphIngestError, match="MemOS.extract") as caught:
            m.add("I live in Oslo", NS)
        assert [c.content for c in m.get_many(caught.value.ids)] == ["I live in Oslo"]  # written
        store.down = False
        assert m.extract(caught.value.ids) == 1
        assert m.extract(caught.value.ids) == 1  # again: merges, no duplicates
        assert [f.text for f in m.facts(NS)] == ["user live in Oslo"]
        assert len(m.list(NS, types=[MemoryType.FACT])) == 1


def test_check_finds_and_repairs_graph_sources_whose_cubes_are_gone() -> None:
    from langchain_memos import MemOS
    from langchain_memos.embeddings import HashingEmbeddings

    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        [cube_id] = memos.add("I live in Boston", ("users", "ann"))
        assert memos.check(repair=False).ok
        memos.records.delete([cube_id], reason="simulated crash before the graph cleanup", actor="test")
        report = memos.check(repair=False)
        assert not report.ok and report.unrepaired >= 1
        repaired = memos.check(repair=True)
        assert repaired.repaired >= 1 and memos.check(repair=False).ok
        assert not [r for r in memos.relations(("users", "ann")) if cube_id in r.provenance]
