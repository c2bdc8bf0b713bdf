"""MemOS._vector_candidates: exact for few matches, verified over-fetching ANN for many, never starved."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from langchain_memos import MemOS
from langchain_memos.filters import parse_filter
from langchain_memos.retrieval.pipeline import exact_vector_search
from langchain_memos.storage.base import CubeQuery
from langchain_memos.storage.sqlite import records as records_module

NS = ("users", "ann")
DIMS = 8


class AxisEmbeddings(Embeddings):
    """``"near i"`` lies close to axis 0 (where the query ``"q"`` points), ``"far i"`` close to axis 1."""

    def _embed(self, text: str) -> list[float]:
        rng = np.random.default_rng(abs(hash(text)) % 2**32)
        vec = rng.normal(scale=0.05, size=DIMS)
        vec[0 if text.startswith(("near", "q")) else 1] += 1.0
        return (vec / np.linalg.norm(vec)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def same_ranking(got: list, expected: list) -> bool:
    """Same ids in the same order, scores equal up to float32 rounding (BLAS sums a matrix of another
    shape in another order)."""
    return ([h.id for h in got] == [h.id for h in expected]
            and all(abs(a.score - b.score) < 1e-6 for a, b in zip(got, expected)))


def test_many_far_matches_behind_many_near_non_matches_fill_the_pool() -> None:
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"near {i}" for i in range(900)], NS, metadata={"kind": "near"})
        far_ids = memos.add([f"far {i}" for i in range(2100)], NS, metadata={"kind": "far"})  # > exact limit
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        query = memos.embeddings.embed_query("q")
        got = memos.engine.vector_candidates(cq, query, 100)
        assert len(got) == 100 and {h.id for h in got} <= set(far_ids)
        exact = exact_vector_search(query, memos.records.embeddings(far_ids), 100)
        assert len({h.id for h in got} & {h.id for h in exact}) >= 95  # ANN recall on the matching cubes
        hits = memos.search("q", NS, k=5, filters={"kind": "far"})  # (MMR drops the near-duplicates)
        assert hits and all(h.cube.metadata["kind"] == "far" for h in hits)
        assert all(h.reasons.get("vector", 0) > 0 for h in hits)


def near_and_far(memos: MemOS, far: int = 2100) -> tuple[set[str], CubeQuery, list[float], list[int]]:
    """900 "near" cubes and ``far`` "far" ones (past the exact limit); the far ids, the query for them, the query
    vector, and a list that gets the size of every id check (an ids query) from then on."""
    memos.add([f"near {i}" for i in range(900)], NS, metadata={"kind": "near"})
    far_ids = set(memos.add([f"far {i}" for i in range(far)], NS, metadata={"kind": "far"}))
    cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
    checks: list[int] = []
    query_ids = memos.records.query_ids

    def counted(query: CubeQuery, **kw):
        checks.extend([len(query.ids)] if query.ids is not None else [])
        return query_ids(query, **kw)

    memos.records.query_ids = counted  # type: ignore[method-assign]
    return far_ids, cq, memos.embeddings.embed_query("q"), checks


def counted_rounds(memos: MemOS) -> list[int]:
    """A list that gets the ``k`` of every unfiltered ANN query (a round) from then on."""
    rounds: list[int] = []
    search = memos.engine.vectors.search
    memos.engine.vectors.search = lambda v, k, **kw: rounds.append(k) or search(v, k, **kw)  # type: ignore
    return rounds


@pytest.mark.parametrize("rids", [True, False], ids=["by-rids", "by-ids"])
def test_a_repeated_scope_searches_its_kept_matches_as_an_allow_list(rids: bool) -> None:
    """From the second search of a scope while nothing is written, the record store's kept matches are the
    faiss graph's allow-list (their rids; their ids where the index does not know every vector's rid): no id
    is checked in the record store, every hit matches, and the answer holds the same nearest cubes as the first
    search's (both approximate: at least 95 of 100 shared)."""
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        far_ids, cq, query, checks = near_and_far(memos)
        if not rids:  # a vector upserted without its rid (as an index written before rids were kept holds)
            memos.engine.vectors.upsert(["stray"], [query])
        assert memos.engine.vectors.knows_rids() is rids
        first = memos.engine.vector_candidates(cq, query, 100)
        asked = len(checks)
        again = [memos.engine.vector_candidates(cq, query, 100) for _ in range(2)]
        assert len(checks) == asked  # no id checks: the kept matches were the allow-list
        assert same_ranking(again[0], again[1]) and len(again[0]) == 100 and {h.id for h in again[0]} <= far_ids
        assert len({h.id for h in again[0]} & {h.id for h in first}) >= 95
        gone = [h.id for h in again[0][:10]]
        memos.delete(gone)  # a write: the kept matches are read anew, never stale
        after = memos.engine.vector_candidates(cq, query, 100)
        assert len(after) == 100 and not {h.id for h in after} & set(gone)


def test_matches_not_kept_are_searched_through_the_filter_rids(monkeypatch) -> None:
    """Where a filter's matches are not kept (too many here; before their background read elsewhere), the
    search is a graph search among the cubes the filter's rids name, from the first search on: only its hits
    (a pool and a few more) are checked against the whole query, in one ids query, every hit matches, and the
    answer holds the exact nearest cubes (approximate: at least 95 of 100); a write makes it read anew."""
    monkeypatch.setattr(records_module, "MATCHES_KEPT", 1000)
    monkeypatch.setattr(records_module, "MATCH_RIDS_KEPT", 1000)
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        far_ids, cq, query, checks = near_and_far(memos)
        rounds = counted_rounds(memos)
        got = [memos.engine.vector_candidates(cq, query, 100) for _ in range(3)]
        assert memos.records.kept_match_rids(cq) is None  # too many to keep
        assert rounds == [] and len(checks) == 3 and all(n <= 100 + 12 for n in checks)
        assert same_ranking(got[0], got[2]) and len(got[0]) == 100 and {h.id for h in got[0]} <= far_ids
        exact = exact_vector_search(query, memos.records.embeddings(sorted(far_ids)), 100)
        assert len({h.id for h in got[0]} & {h.id for h in exact}) >= 95
        gone = [h.id for h in got[0][:10]]
        memos.delete(gone)  # a write: the filter's rids are read anew, never stale
        after = [memos.engine.vector_candidates(cq, query, 100) for _ in range(2)]
        assert all(len(a) == 100 and not {h.id for h in a} & set(gone) for a in after)


def test_a_few_thousand_matches_are_scored_exactly_by_the_index_without_a_probe() -> None:
    """Past the exact limit but within a few times it, an index that searches among the filter's matches answers
    first (it scores a few thousand exactly itself): no ids-only probe reads the record store, no ANN round runs,
    and every search gives the exact nearest matching cubes, the first (through the filter's rids, its hits
    checked) as the later ones (the kept matches)."""
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        far_ids, cq, query, _ = near_and_far(memos, far=3000)
        probes: list[int] = []
        few_match = memos.engine._few_match
        memos.engine._few_match = lambda q, limit: probes.append(limit) or few_match(q, limit)  # type: ignore
        rounds = counted_rounds(memos)
        exact = exact_vector_search(query, memos.records.embeddings(sorted(far_ids)), 100)
        for _ in range(3):
            assert same_ranking(memos.engine.vector_candidates(cq, query, 100), exact)
        assert probes == [] and rounds == []


def test_hits_of_the_filter_rids_outside_the_scope_leave_the_answer_to_the_rounds(monkeypatch) -> None:
    """The filter's rids say nothing of namespaces: where most of their nearest cubes lie outside the scope,
    the rounds answer, and every answer is in the scope."""
    monkeypatch.setattr(records_module, "MATCHES_KEPT", 1000)
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"far {i}" for i in range(2500)], ("other",), metadata={"kind": "far"})
        mine = set(memos.add([f"far x{i}" for i in range(2500)], NS, metadata={"kind": "far"}))
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        query = memos.embeddings.embed_query("q")
        for _ in range(3):
            got = memos.engine.vector_candidates(cq, query, 50)
            assert len(got) == 50 and {h.id for h in got} <= mine


def test_few_matches_are_scored_exactly() -> None:
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"near {i}" for i in range(300)], NS, metadata={"kind": "near"})
        far_ids = memos.add([f"far {i}" for i in range(30)], NS, metadata={"kind": "far"})
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        query = memos.embeddings.embed_query("q")
        got = memos.engine.vector_candidates(cq, query, 10)
        assert same_ranking(got, exact_vector_search(query, memos.records.embeddings(far_ids), 10))
        assert memos.engine.vector_candidates(CubeQuery(namespace_prefix=("nobody",)), query, 10) == []


def test_the_exact_path_hands_its_embeddings_to_the_candidate_load() -> None:
    """The embeddings the exact path read are the stored ones, and the candidate load takes them from
    there (reading only the rest) with the same result as reading them all."""
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"near {i}" for i in range(40)], NS, metadata={"kind": "near"})
        far_ids = memos.add([f"far {i}" for i in range(30)], NS, metadata={"kind": "far"})
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        read: dict = {}
        got = memos.engine.vector_candidates(cq, memos.embeddings.embed_query("q"), 10, read)
        stored = memos.records.embeddings(far_ids)
        assert len(got) == 10 and set(read) == set(far_ids)
        assert all(np.array_equal(read[i], stored[i]) for i in far_ids)
        ids = [h.id for h in got]
        partial = {i: read[i] for i in ids[:5]}  # some known, the rest read
        cubes, next_ids, vectors = memos.engine.load_candidates(cq, ids, partial)
        again = memos.engine.load_candidates(cq, ids)
        assert [c.id for c in cubes] == [c.id for c in again[0]] and next_ids == again[1]
        assert set(vectors) == set(again[2]) and all(np.array_equal(vectors[i], again[2][i]) for i in vectors)


def test_matching_hits_stops_early_without_changing_what_merge_keeps() -> None:
    """Chunked checking (verdicts reused across rounds) keeps exactly what checking every hit would feed
    merge_scored, ties at the cut included, and never checks an id twice."""
    from langchain_memos.engine import merge_scored
    from langchain_memos.storage.base import ScoredId

    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        ids = memos.add([f"near {i}" for i in range(400)], NS, metadata={"kind": "near"})
        ids += memos.add([f"far {i}" for i in range(100)], NS, metadata={"kind": "far"})
        far = set(ids[400:])
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        rng = np.random.default_rng(7)
        order = [ids[i] for i in rng.permutation(len(ids))]
        scores = np.round(np.sort(rng.random(len(ids)))[::-1], 2)  # rounded: many equal scores
        hits = [ScoredId(i, float(s)) for i, s in zip(order, scores)]
        every = [h for h in hits if h.id in far]
        waiting = [ScoredId(ids[401], 0.5), ScoredId("pending", 0.75)]
        checked: list[int] = []
        real = memos.records.query_ids
        memos.records.query_ids = lambda q, **kw: checked.append(len(q.ids)) or real(q, **kw)  # type: ignore[method-assign]
        for pool in (1, 10, 37, 100, 150):
            for share in (None, 0.05, 0.2, 1.0):
                verdicts: dict[str, bool] = {}
                checked.clear()
                kept = memos.engine.matching_hits(cq, hits, pool, verdicts, share)
                assert kept == every[:len(kept)] and len(kept) >= min(pool, len(every))
                assert merge_scored(kept, waiting, pool) == merge_scored(every, waiting, pool)
                assert merge_scored(kept, [], pool) == every[:pool]
                assert sum(checked) == len(verdicts) <= len(hits)  # each id checked once
                again = memos.engine.matching_hits(cq, hits, pool, verdicts, share)
                assert again == kept and sum(checked) == len(verdicts)  # known verdicts: nothing new to check


def test_a_loose_match_bound_still_finds_few_matches_exactly() -> None:
    """Where the record store's bound says many may match (it skips the ids-only probe), a first ANN
    round that finds few matching sends the search to the exact path: same answer, no starving."""
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"near {i}" for i in range(600)], NS, metadata={"kind": "near"})
        far_ids = memos.add([f"far {i}" for i in range(40)], NS, metadata={"kind": "far"})
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        query = memos.embeddings.embed_query("q")
        rounds = counted_rounds(memos)
        memos.engine.records.condition_rids = lambda q: None  # type: ignore[method-assign]  # the rounds, no rids
        memos.engine.records.match_bound = lambda q, cap: (10**6, 10**6)  # type: ignore[method-assign]
        got = memos.engine.vector_candidates(cq, query, 10)
        assert same_ranking(got, exact_vector_search(query, memos.records.embeddings(far_ids), 10))
        assert rounds == [20]  # one ANN round (2 x pool), then the probe found 40 matches: exact
        rounds.clear()
        memos.engine.records.match_bound = lambda q, cap: (40, 640)  # type: ignore[method-assign]
        assert memos.engine.vector_candidates(cq, query, 10) == got and rounds == []  # a tight bound: no ANN


def test_the_first_round_is_sized_by_the_bound_share() -> None:
    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        memos.add([f"near {i}" for i in range(300)], NS, metadata={"kind": "near"})
        memos.add([f"far {i}" for i in range(300)], NS, metadata={"kind": "far"})
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        rounds = counted_rounds(memos)
        # pretend the store is large: 10% may match, too many for the exact path; the rounds, not the rid path
        memos.engine.records.condition_rids = lambda q: None  # type: ignore[method-assign]
        memos.engine.records.match_bound = lambda q, cap: (100_000, 1_000_000)  # type: ignore[method-assign]
        memos.engine.vector_candidates(cq, memos.embeddings.embed_query("q"), 10)
        assert rounds[0] == 151  # 1.5 x pool / share: one round is expected to fill the pool


def test_matching_hits_keeps_every_tie_past_the_pool_once() -> None:
    """Ties with the pool-th hit are all kept, each once (the chunk size once used ``pool - kept``, which
    went negative past the pool, so the loop walked backwards and kept hits twice)."""
    from langchain_memos.storage.base import ScoredId

    with MemOS.ephemeral(embeddings=AxisEmbeddings()) as memos:
        ids = memos.add([f"far {i}" for i in range(200)], NS, metadata={"kind": "far"})
        cq = CubeQuery(namespace_prefix=NS, conditions=tuple(parse_filter({"kind": "far"})))
        hits = [ScoredId(i, 0.5) for i in ids]  # every score equal: all tie with the pool-th
        for share in (None, 0.9, 0.1):
            kept = memos.engine.matching_hits(cq, hits, 10, {}, share)
            assert kept == hits
