"""The per-stage search breakdown: every stage present, the stages add up to the total, and
sync and async searches (MemOS and MemOSStore) report the same stages over the same hits."""

from __future__ import annotations

import asyncio
import time

import pytest

from langchain_memos import MemCube, MemOS, Provenance, SearchResults, SearchTimings
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.engine.timings import SEARCH_STAGES
from langchain_memos.integrations.store import MemOSStore

TEXTS = ["Alice prefers green tea in the morning", "Bob drinks espresso after lunch",
         "Alice visited Lisbon in May", "The team meets on Fridays"]


def assert_breakdown(timings: SearchTimings, *, embedded: bool) -> None:
    """Every stage is present and non-negative; they add up to the total; embedding ran iff expected."""
    stages = timings.stages_ms
    assert list(stages) == list(SEARCH_STAGES)
    assert all(v >= 0.0 for v in stages.values())
    assert timings.total_ms > 0.0
    # the laps cover the search from start to the last stage; only finish() itself is outside them
    assert sum(stages.values()) == pytest.approx(timings.total_ms, rel=0.02, abs=0.2)
    assert (stages["query_embedding"] > 0.0) is embedded
    assert set(timings.as_dict()) == {*SEARCH_STAGES, "total"}


def test_lap_charges_time_since_previous_lap_and_add_counts_in_total() -> None:
    timings = SearchTimings()
    timings.lap("query_analysis")
    timings.lap("keyword_search")
    timings.add("query_embedding", 5.0)
    timings.finish()
    assert timings.stages_ms["query_embedding"] == 5.0
    assert timings.total_ms >= 5.0
    assert sum(timings.stages_ms.values()) == pytest.approx(timings.total_ms, abs=0.2)
    with pytest.raises(KeyError):
        timings.lap("no_such_stage")


def test_memos_search_sync_and_async_report_the_same_stages_over_the_same_hits() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos:
        memos.add(TEXTS, ("u",))
        hits = memos.search("Alice green tea", ("u",), k=3)
        ahits = asyncio.run(memos.asearch("Alice green tea", ("u",), k=3))
        assert isinstance(hits, SearchResults) and isinstance(hits, list)
        assert [h.cube.id for h in hits] == [h.cube.id for h in ahits]
        assert hits[0].cube.content == "Alice prefers green tea in the morning"
        assert_breakdown(hits.timings, embedded=True)
        assert_breakdown(ahits.timings, embedded=True)
        for timings in (hits.timings, ahits.timings):
            ran = {s for s, v in timings.stages_ms.items() if v > 0.0}
            assert {"keyword_search", "vector_search", "candidate_load", "fusion", "render"} <= ran


def test_empty_query_embeds_nothing() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos:
        memos.add(TEXTS, ("u",))
        recent = memos.search("", ("u",), k=2)
        assert len(recent) == 2
        assert_breakdown(recent.timings, embedded=False)
        assert recent.timings.stages_ms["keyword_search"] == 0.0


def test_search_by_vector_results_carry_timings_without_embedding() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos:
        memos.add(TEXTS, ("u",))
        hits = memos.search_by_vector("Lisbon", memos.embed_query("Lisbon"), ("u",), k=1)
        assert hits[0].cube.content == "Alice visited Lisbon in May"
        assert_breakdown(hits.timings, embedded=False)


def test_store_search_sync_and_async_carry_the_breakdown() -> None:
    with MemOSStore(index={"dims": 64, "embed": HashingEmbeddings(64)}) as store:
        for i, text in enumerate(TEXTS):
            store.put(("bench", "u"), f"k{i}", {"text": text, "n": i})
        found = store.search(("bench",), query="green tea", filter={"n": {"$lte": 2}}, limit=2)
        afound = asyncio.run(store.asearch(("bench",), query="green tea", filter={"n": {"$lte": 2}}, limit=2))
        assert [it.key for it in found] == [it.key for it in afound]
        assert found[0].key == "k0"
        assert_breakdown(found.timings, embedded=True)
        assert_breakdown(afound.timings, embedded=True)
        listed = store.search(("bench",), limit=2)
        assert len(listed) == 2
        assert_breakdown(listed.timings, embedded=False)


class _RunAtOnce:
    """An executor that runs what it is given at once, in the caller's thread (the keyword stage in line)."""

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future

        done: Future = Future()
        done.set_result(fn(*args, **kwargs))
        return done


def large_scopes(monkeypatch) -> None:
    """Make every scope too large to score exactly (the vector index answers, the keyword search runs beside)."""
    monkeypatch.setattr("langchain_memos.engine.vector_steps.scan_limits", lambda pool: (0, 64))


def test_keyword_stage_runs_beside_the_other_stages_with_the_same_answer(tmp_path, monkeypatch) -> None:
    from langchain_memos.config import MemOSConfig

    with MemOS(config=MemOSConfig(path=str(tmp_path / "m")), embeddings=HashingEmbeddings(64)) as memos:
        memos.add(TEXTS, ("u",))
        small = memos.search("Alice green tea", ("u",), k=2)  # a small scope, scanned exactly: keywords in line
        assert "keyword_search" not in small.timings.parallel_ms and small.timings.stages_ms["keyword_search"] > 0.0
        assert_breakdown(small.timings, embedded=True)
        large_scopes(monkeypatch)
        beside = memos.search("Alice green tea", ("u",), k=2)  # the index answers: keywords beside
        assert beside.timings.parallel_ms["keyword_search"] > 0.0
        assert_breakdown(beside.timings, embedded=True)
        monkeypatch.setattr(memos.engine, "_helpers", lambda: _RunAtOnce())
        in_line = memos.search("Alice green tea", ("u",), k=2)
        assert_breakdown(in_line.timings, embedded=True)
        for hits in (small, beside, in_line):
            assert hits[0].cube.content == "Alice prefers green tea in the morning"
            assert hits[0].reasons["keyword"] > 0
        expected = [(h.cube.id, h.score, h.reasons) for h in small]
        assert [(h.cube.id, h.score, h.reasons) for h in beside] == expected
        assert [(h.cube.id, h.score, h.reasons) for h in in_line] == expected
        monkeypatch.undo()
        large_scopes(monkeypatch)
        monkeypatch.setattr(memos.engine, "graph", None)  # no query vector and no graph: nothing to run beside
        alone = memos.search_by_vector("Alice green tea", None, ("u",), k=2)
        assert "keyword_search" not in alone.timings.parallel_ms and alone.timings.stages_ms["keyword_search"] > 0.0
        assert alone[0].cube.content == "Alice prefers green tea in the morning"
        monkeypatch.undo()


def test_vector_candidates_load_while_the_keyword_search_still_runs(tmp_path, monkeypatch) -> None:
    import threading

    from langchain_memos.config import MemOSConfig

    with MemOS(config=MemOSConfig(path=str(tmp_path / "m")), embeddings=HashingEmbeddings(64)) as memos:
        memos.add(TEXTS, ("u",))
        for ns in (("u", "x"), ("u", "y")):  # one thread name and the same positions in two namespaces
            memos.add([MemCube(content=f"{t} ({ns[1]} {i})", namespace=ns, provenance=[Provenance(
                kind="message", thread_id="s1")]) for i, t in enumerate(TEXTS * 2)], ns)
        engine = memos.engine
        large_scopes(monkeypatch)
        expected = [(h.cube.id, h.score, h.reasons) for h in memos.search("Alice green tea", ("u",), k=4)]
        loaded: list[set[str]] = []
        vector_done = threading.Event()
        real_keyword, real_load = engine._timed_keyword_search, engine.load_candidates

        def late_keyword(*args, **kwargs):  # still running when the vector stage ends
            assert vector_done.wait(10)
            return real_keyword(*args, **kwargs)

        def load(cq, ids, read=None):
            loaded.append(set(ids))
            vector_done.set()
            return real_load(cq, ids, read)

        monkeypatch.setattr(engine, "_timed_keyword_search", late_keyword)
        monkeypatch.setattr(engine, "load_candidates", load)
        got = memos.search("Alice green tea", ("u",), k=4)
        assert len(loaded) == 2 and not loaded[0] & loaded[1]  # the vector candidates, then the others
        assert [(h.cube.id, h.score, h.reasons) for h in got] == expected
        assert_breakdown(got.timings, embedded=True)


def test_side_read_sees_committed_writes_and_fails_typed_once_closed(tmp_path) -> None:
    from langchain_memos.errors import StorageError
    from langchain_memos.storage.sqlite.connection import SQLiteConnection

    db = SQLiteConnection(tmp_path / "db.sqlite3")
    db.set_meta("model", "m1")
    read = lambda conn: conn.execute("SELECT value FROM meta WHERE name = 'model'").fetchone()  # noqa: E731
    assert db.side_read(read) == db.read_transaction(read) == ("m1",)
    db.set_meta("model", "m2")
    assert db.side_read(read) == ("m2",)  # the second connection sees the main one's commit
    db.close()
    with pytest.raises(StorageError):
        db.side_read(read)
    memory = SQLiteConnection(None)  # one connection only: side_read is a read transaction on it
    memory.set_meta("model", "m3")
    assert memory.side_read(read) == ("m3",)
    memory.close()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_searches_with_its_own_helper_threads(monkeypatch) -> None:
    import os

    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos:
        # the keyword search in a helper thread over a scope still scanned exactly (the child does not
        # reach Chroma's client, which does not survive a fork)
        monkeypatch.setattr(memos.engine, "small_scope", lambda cq, pool: False)
        memos.add(TEXTS, ("u",))
        expected = [h.cube.id for h in memos.search("Alice green tea", ("u",), k=2)]  # the parent's pool runs
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: the inherited pool has no threads; a search must not hang
            try:
                ids = [h.cube.id for h in memos.search("Alice green tea", ("u",), k=2)]
                os.write(write, b"ok" if ids == expected else b"bad")
            finally:
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 60
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:  # a hung child is the failure this test guards against
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child's search hung")
            time.sleep(0.05)
        assert os.read(read, 16) == b"ok"
