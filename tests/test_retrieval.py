"""Unit tests of the pure retrieval functions (behaviour, not timings)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from langchain_memos.retrieval.budget import apply_floor, fit_token_budget
from langchain_memos.retrieval.fusion import (
    Candidate,
    Hit,
    RetrievalConfig,
    neighbour_ids,
    rank,
    reciprocal_rank_fusion,
)
from langchain_memos.retrieval.indexing import KEYWORD_COLUMNS, date_text, keyword_columns, unit_text
from langchain_memos.retrieval.mmr import mmr
from langchain_memos.retrieval.query import analyze_query, keywords


def _vec(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=float)
    return v / np.linalg.norm(v)


Q = _vec(1, 0, 0)


def _cands(**kw):
    return {
        "a": Candidate("a", "A text", speaker="Ann", embedding=_vec(1, 0.1, 0), **kw),
        "b": Candidate("b", "B text", speaker="Bob", embedding=_vec(0.5, 1, 0), **kw),
        "c": Candidate("c", "C text", speaker="Bob", embedding=_vec(0, 0, 1), **kw),
    }


# ---------------------------------------------------------------- fusion


def test_fusion_order_combines_both_engines():
    c = _cands()
    vector = [("a", 0.99), ("b", 0.45), ("c", 0.0)]
    keyword = [("b", 10.0), ("a", 9.0)]
    hits = rank(c.values(), vector=vector, keyword=keyword, query_embedding=Q)
    # "a" is best on vector and nearly best on keyword: it wins; "c" matches nothing.
    assert [h.id for h in hits] == ["a", "b", "c"]
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].score > hits[1].score > hits[2].score


def test_keyword_only_candidate_is_ranked():
    c = _cands()
    hits = rank(c.values(), vector=[("a", 0.9)], keyword=[("c", 5.0)], query_embedding=Q)
    assert {h.id for h in hits} == {"a", "c"}


def test_reasons_present_and_sum_to_score():
    c = _cands()
    hits = rank(c.values(), vector=[("a", 0.99), ("b", 0.4)], keyword=[("b", 3.0), ("a", 1.0)], query_embedding=Q)
    for h in hits:
        assert h.reasons
        assert sum(h.reasons.values()) == pytest.approx(h.score)
    a = next(h for h in hits if h.id == "a")
    assert a.reasons["keyword"] > 0 and a.reasons["vector"] > 0


def test_ranking_without_embeddings_uses_list_scores():
    c = {i: Candidate(i) for i in "xyz"}
    hits = rank(c.values(), vector=[("x", 0.9), ("y", 0.5), ("z", 0.1)])
    assert [h.id for h in hits] == ["x", "y", "z"]
    assert rank([], vector=[], keyword=[]) == []


def test_speaker_boost_direction():
    vector = [("a", 0.8), ("b", 0.8)]
    keyword = [("a", 2.0), ("b", 2.0)]
    cands = [Candidate("a", speaker="Ann", embedding=_vec(1, 0)), Candidate("b", speaker="Bob", embedding=_vec(1, 0))]
    q = _vec(1, 0)
    neutral = rank(cands, vector=vector, keyword=keyword, query_embedding=q,
                   analysis=analyze_query("what did they say?", speakers=("Ann", "Bob")))
    assert neutral[0].score == pytest.approx(neutral[1].score)
    for name, winner in (("Bob", "b"), ("Ann", "a")):
        an = analyze_query(f"What does {name} like?", speakers=("Ann", "Bob"))
        hits = rank(cands, vector=vector, keyword=keyword, query_embedding=q, analysis=an)
        assert hits[0].id == winner
        assert hits[1].reasons["speaker"] < 0
    # Soft: a much better match by the other speaker still wins.
    an = analyze_query("What does Bob like?", speakers=("Ann", "Bob"))
    hits = rank(cands, vector=vector, keyword=[("a", 10.0), ("b", 1.0)], query_embedding=q, analysis=an)
    assert hits[0].id == "a"


def test_two_speakers_named_no_penalty():
    cands = [Candidate("a", speaker="Ann", embedding=_vec(1, 0)), Candidate("b", speaker="Bob", embedding=_vec(1, 0))]
    an = analyze_query("Did Ann and Bob meet?", speakers=("Ann", "Bob"))
    hits = rank(cands, vector=[("a", 1.0), ("b", 1.0)], query_embedding=_vec(1, 0), analysis=an)
    assert all("speaker" not in h.reasons for h in hits)


def test_neighbour_propagation_lifts_the_turn_before_a_match():
    q = _vec(1, 0, 0)
    question = _vec(0.2, 1, 0)  # a turn that itself matches poorly...
    answer = _vec(1, 0.05, 0)  # ...but is followed by a strong match
    other = _vec(0.25, 1, 0)  # slightly better on its own, no good neighbour
    cands = [
        Candidate("question", embedding=question, next_embedding=answer),
        Candidate("other", embedding=other, next_embedding=_vec(0, 0, 1)),
        Candidate("answer", embedding=answer),
        Candidate("far", embedding=_vec(0, 0, 1)),
    ]
    vector = [("answer", 1.0), ("other", 0.2), ("question", 0.2), ("far", 0.0)]
    off = rank(cands, vector=vector, query_embedding=q, config=RetrievalConfig(next_neighbour_weight=0.0))
    on = rank(cands, vector=vector, query_embedding=q)
    pos = lambda hits, i: [h.id for h in hits].index(i)  # noqa: E731
    assert pos(off, "other") < pos(off, "question")
    assert pos(on, "question") < pos(on, "other")
    assert on[pos(on, "question")].reasons["neighbour"] > 0


def test_time_boost_prefers_units_in_range():
    cfg = RetrievalConfig(time_boost=0.5)
    cands = [Candidate("may", created_at=datetime(2023, 5, 8), embedding=_vec(1, 0)),
             Candidate("june", created_at=datetime(2023, 6, 8), embedding=_vec(1, 0))]
    an = analyze_query("What happened in May 2023?")
    hits = rank(cands, vector=[("june", 0.5), ("may", 0.5)], keyword=[("june", 1.0), ("may", 0.9)],
                query_embedding=_vec(1, 0), analysis=an, config=cfg)
    assert hits[0].id == "may" and hits[0].reasons["time"] > 0


def test_rrf_baseline():
    fused = reciprocal_rank_fusion([[("a", 1), ("b", 1)], [("b", 1), ("c", 1)]], k=60)
    assert fused[0][0] == "b"


def test_neighbour_ids():
    pos = {"x": ("s1", 0), "y": ("s1", 1), "z": ("s2", 0), "w": (None, None)}
    assert neighbour_ids(pos) == {"x": "y"}


# ---------------------------------------------------------------- MMR, floor, budget


def test_mmr_removes_near_duplicates():
    hits = [Hit("a", 0.9), Hit("a2", 0.85), Hit("b", 0.5), Hit("c", 0.4)]
    emb = {"a": _vec(1, 0, 0), "a2": _vec(1, 0.01, 0), "b": _vec(0, 1, 0), "c": _vec(0, 0, 1)}
    out = mmr(hits, emb, k=3)
    assert [h.id for h in out] == ["a", "b", "c"]


def test_mmr_lambda_trades_relevance_for_diversity():
    hits = [Hit("a", 0.9), Hit("a2", 0.85), Hit("b", 0.6)]
    emb = {"a": _vec(1, 0), "a2": _vec(1, 0.3), "b": _vec(0, 1)}
    assert [h.id for h in mmr(hits, emb, k=2, lambda_=1.0)] == ["a", "a2"]
    assert [h.id for h in mmr(hits, emb, k=2, lambda_=0.5)] == ["a", "b"]
    assert [h.id for h in mmr(hits, {}, k=2)] == ["a", "a2"]  # no embeddings: relevance order


def test_floor():
    hits = [Hit("a", 0.8), Hit("b", 0.3), Hit("c", 0.02)]
    assert [h.id for h in apply_floor(hits, min_score=0.05)] == ["a", "b"]
    assert [h.id for h in apply_floor(hits, min_relative_score=0.5)] == ["a"]
    assert apply_floor([], min_score=0.5) == []


def test_budget():
    hits = [Hit("a", 0.9), Hit("b", 0.8), Hit("c", 0.7)]
    texts = {"a": "w " * 20, "b": "w " * 200, "c": "w " * 10}
    words = lambda s: len(s.split())  # noqa: E731
    assert [h.id for h in fit_token_budget(hits, texts, 35, words)] == ["a", "c"]
    assert [h.id for h in fit_token_budget(hits, texts, 1000, words)] == ["a", "b", "c"]
    assert fit_token_budget(hits, texts, 5, words) == []


# ---------------------------------------------------------------- indexing


def test_index_texts():
    assert unit_text("Hi", "Ann") == "Ann: Hi"
    assert unit_text("Look", "Ann", "a dog") == "Ann: Look [shares an image: a dog]"
    assert date_text(datetime(2023, 5, 8, 13, 56)) == "08 May 2023"
    texts = ["t0", "t1", "t2", "t3"]
    row = keyword_columns(texts, 2, datetime(2023, 5, 8))
    assert set(row) == set(KEYWORD_COLUMNS)
    assert row == {"body": "t2", "context": "t0\nt1", "next": "t3", "date": "08 May 2023"}
    assert keyword_columns(texts, 0)["context"] == "" and keyword_columns(texts, 3)["next"] == ""


# ---------------------------------------------------------------- query analysis


def test_keywords_drop_stopwords():
    assert keywords("What did Caroline do at the LGBTQ support group?") == ("caroline", "lgbtq", "support", "group")
    assert analyze_query("the support group").keywords == ("support", "group")
    assert analyze_query("what is it?").keywords == ()


def test_entities_and_speakers():
    qa = analyze_query("Did Melanie visit Paris and Caroline's New York office?", speakers=("Caroline Smith", "Melanie"))
    assert {"Melanie", "Paris", "Caroline", "New York"} <= set(qa.entities)
    assert "What" not in qa.entities and "Did" not in qa.entities
    assert set(qa.speakers) == {"Caroline Smith", "Melanie"}
    assert analyze_query("What does bob like?", speakers=("Bob",)).speakers == ("Bob",)
    assert analyze_query("What does Bobby like?", speakers=("Bob",)).speakers == ()
    assert "Max" in analyze_query("is the dog called max?", entities=("Max",)).entities


def test_temporal_intent():
    assert analyze_query("When did Caroline go to the support group?").temporal
    assert analyze_query("How long ago was Ann's birthday?").temporal
    assert not analyze_query("What is Ann's favourite colour?").temporal


def test_time_expressions():
    now = datetime(2023, 6, 14, 10, 0)  # a Wednesday
    r = analyze_query("What did Ann do in May 2023?").time_range
    assert r == (datetime(2023, 5, 1), datetime(2023, 6, 1))
    assert analyze_query("Where was Ann in 2022?").time_range == (datetime(2022, 1, 1), datetime(2023, 1, 1))
    assert analyze_query("What happened on 7 May 2023?").time_range == (datetime(2023, 5, 7), datetime(2023, 5, 8))
    assert analyze_query("What happened on May 7, 2023?").time_range == (datetime(2023, 5, 7), datetime(2023, 5, 8))
    assert analyze_query("What did Ann paint last week?", now=now).time_range == (
        datetime(2023, 6, 5), datetime(2023, 6, 12))
    assert analyze_query("What did Ann eat yesterday?", now=now).time_range == (
        datetime(2023, 6, 13), datetime(2023, 6, 14))
    start, end = analyze_query("What did Ann do 3 days ago?", now=now).time_range
    assert start <= datetime(2023, 6, 11) < end
    assert analyze_query("What did Ann paint last week?").time_range is None  # no `now`
    assert analyze_query("What does Ann like?", now=now).time_range is None
