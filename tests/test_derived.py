"""Derived memories, the second round's terms and thread diversity, on texts written for these tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from langchain_memos.retrieval.derived import Unit, entity_profiles, session_summaries
from langchain_memos.retrieval.diversity import spread_threads
from langchain_memos.retrieval.expansion import expansion_terms
from langchain_memos.retrieval.fusion import Hit

DAY = datetime(2020, 2, 10, 9, 0)


def _units() -> list[Unit]:
    s1 = ["Morning! Nice weather today.",
          "I finally repaired the old sailboat that my uncle Bertrand left me.",
          "Oh nice, I wonder how long the sailboat repairs took you in total?",
          "About three months of weekends sanding the hull and replacing the mast.",
          "Cool, cool."]
    s2 = ["Hey, long time no see!",
          "We sailed the repaired boat across the bay with Bertrand's old compass.",
          "I wonder whether the new mast held up in the strong wind on the bay?",
          "Yes, and afterwards I grilled fresh fish on the beach."]
    out = [Unit(f"A{i}", ("Rhea", "Tomas")[i % 2], t, DAY, "s1") for i, t in enumerate(s1)]
    out += [Unit(f"B{i}", ("Rhea", "Tomas")[i % 2], t, DAY + timedelta(days=20), "s2") for i, t in enumerate(s2)]
    return out


def test_session_summary_keeps_salient_sentences_and_points_back_to_them() -> None:
    summaries = {d.thread: d for d in session_summaries(_units(), sentences=2)}
    assert set(summaries) == {"s1", "s2"}
    first = summaries["s1"]
    assert first.kind == "session_summary" and len(first.refs) == 2
    assert "A0" not in first.refs and "A4" not in first.refs  # small talk is not salient
    assert first.content.startswith("Conversation on 10 February 2020: ")
    for ref in first.refs:  # every source's sentence is in the summary, in thread order
        unit = next(u for u in _units() if u.ref == ref)
        assert unit.text.split(".")[0] in first.content
    assert list(first.refs) == sorted(first.refs)


def test_entity_profile_links_threads_through_a_name() -> None:
    profiles = {d.subject: d for d in entity_profiles(_units())}
    assert profiles["Bertrand"].refs == ("A1", "B1")  # the name met in both sessions, in time order
    assert profiles["Bertrand"].content.startswith("About Bertrand: Tomas: I finally repaired")
    # speaker profiles: what each says about themself ("I ..."), one sentence per session
    assert profiles["Rhea"].refs == ("A2", "B2") and profiles["Tomas"].refs == ("A1", "B3")
    assert all(len(d.refs) >= 2 for d in profiles.values())
    assert "Hey" not in profiles and "Morning" not in profiles


def test_expansion_terms_come_from_the_top_hits_not_the_query() -> None:
    texts = ["Tomas: I sailed with Bertrand's compass on the bay.", "Rhea: The bay was calm and the compass worked."]
    terms = expansion_terms(texts, query_keywords=("sailed",), names=("Tomas", "Rhea"), limit=3)
    # a name inside a sentence counts double; words of both hits beat words of the second only
    assert terms == ("bertrand", "compass", "bay")
    assert expansion_terms([], query_keywords=("x",)) == ()


def test_thread_spread_interleaves_sessions_and_keeps_reasons_summing() -> None:
    hits = [Hit("a1", 0.9, {"vector": 0.9}), Hit("a2", 0.85, {"vector": 0.85}), Hit("a3", 0.8, {"vector": 0.8}),
            Hit("b1", 0.75, {"vector": 0.75}), Hit("x", 0.7, {"vector": 0.7})]
    threads = {"a1": "s1", "a2": "s1", "a3": "s1", "b1": "s2"}
    spread = spread_threads(hits, threads, decay=0.8)
    assert [h.id for h in spread] == ["a1", "b1", "x", "a2", "a3"]
    for h in spread:
        assert abs(sum(h.reasons.values()) - h.score) < 1e-9
    assert spread_threads(hits, threads, decay=1.0) == hits


def test_derived_cubes_are_searchable_and_point_back_to_their_sources() -> None:
    from langchain_memos import MemOS
    from langchain_memos.embeddings import HashingEmbeddings
    from langchain_memos.retrieval.derived import as_cubes

    ns = ("derived", "test")
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        memos.add(as_cubes(entity_profiles(_units()), ns), ns, extract=False)
        [hit, *_] = memos.search("Bertrand compass sailboat", ns, k=3)
        assert hit.cube.key.startswith("derived:entity_profile:")
        assert hit.cube.source_refs == ["A1", "B1"] and hit.cube.metadata["subject"] == "Bertrand"
        assert hit.cube.thread_id is None  # a derived memory takes no place in a thread's order


def test_derived_weight_scales_derived_memories_and_previous_neighbour_lifts_answers() -> None:
    import numpy as np

    from langchain_memos.retrieval.fusion import Candidate, RetrievalConfig, rank

    q = np.array([1.0, 0.0])
    cands = [Candidate("turn", embedding=np.array([0.8, 0.6])),
             Candidate("summary", embedding=np.array([0.9, 0.436]), derived=True),
             Candidate("far", embedding=np.array([0.0, 1.0]))]
    lists = dict(vector=[("summary", 0.9), ("turn", 0.8), ("far", 0.0)], query_embedding=q)
    assert rank(cands, config=RetrievalConfig(derived_weight=1.0), **lists)[0].id == "summary"
    demoted = rank(cands, config=RetrievalConfig(derived_weight=0.5), **lists)
    assert demoted[0].id == "turn" and demoted[1].reasons["derived"] < 0
    # An answer that says little itself, right after the question that matches.
    thread = [Candidate("ask", thread="s", position=0, embedding=np.array([1.0, 0.0])),
              Candidate("answer", thread="s", position=1, embedding=np.array([0.6, 0.8])),
              Candidate("other", thread="s", position=5, embedding=np.array([0.65, 0.76]))]
    lists = dict(vector=[("ask", 1.0), ("other", 0.65), ("answer", 0.6)], query_embedding=q)
    off = [h.id for h in rank(thread, config=RetrievalConfig(next_neighbour_weight=0.0), **lists)]
    on = [h.id for h in rank(thread, config=RetrievalConfig(next_neighbour_weight=0.0,
                                                            previous_neighbour_weight=0.5), **lists)]
    assert off.index("other") < off.index("answer") and on.index("answer") < on.index("other")


def test_second_round_widens_the_query_keywords_and_needs_some() -> None:
    from langchain_memos.cube import MemCube
    from langchain_memos.retrieval.fusion import RetrievalConfig
    from langchain_memos.retrieval.pipeline import second_round_terms
    from langchain_memos.retrieval.query import analyze_query

    cube = MemCube(content="Tomas: The compass from Bertrand points true.", namespace=("t",))
    hits = [Hit(cube.id, 1.0, {"keyword": 1.0})]
    on = RetrievalConfig(expansion_weight=0.3)
    terms = second_round_terms(hits, [cube], analyze_query("Where is the compass?"), ["Tomas"], on)
    assert terms[0] == "compass" and "bertrand" in terms and "tomas" not in terms
    assert second_round_terms(hits, [cube], analyze_query("Where is it?"), [], on) == ()  # no keywords
    off = RetrievalConfig(expansion_weight=0.0)
    assert second_round_terms(hits, [cube], analyze_query("Where is the compass?"), [], off) == ()
