"""The index worker: the embedded Chroma index built in a child process (see ``storage/index_worker.py``).

The engine conformance suite (``tests/test_engines.py``, kind ``chroma-worker``) covers the
VectorIndex calls through the worker; these tests cover what ``MemOS`` and ``MemOSStore``
see: the hand-over after ``index_worker_after`` vectors, results equal to inline indexing,
a killed or unstartable worker, and a worker outliving its owner.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from langchain_memos import MemOS
from langchain_memos.config import MemOSConfig
from langchain_memos.storage import index_worker
from langchain_memos.storage.index_worker import WorkerVectorIndex, worker_supported

from langchain_memos.cube import MemCube, Tier
from langchain_memos.embeddings import HashingEmbeddings

pytestmark = pytest.mark.skipif(not worker_supported(), reason="the index worker needs POSIX")

REPO = Path(__file__).resolve().parents[1]
NS = ("users", "ann")


def open_memos(path: Path, after: int | None) -> MemOS:
    return MemOS(config=MemOSConfig(path=str(path), index_worker_after=after, graph_backend=None),
                 embeddings=HashingEmbeddings())


def texts(start: int, stop: int) -> list[str]:
    return [f"note {i}: {'green tea' if i % 3 == 0 else 'black coffee'} at {'home' if i % 2 else 'work'} #{i}"
            for i in range(start, stop)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def memos(tmp_path):
    """A store whose index hands over to a worker at its first write; closed after the test."""
    store = open_memos(tmp_path, after=0)
    try:
        yield store
    finally:
        store.close()


def test_hands_over_after_the_threshold_and_stops_on_close(tmp_path):
    memos = open_memos(tmp_path, after=30)
    assert isinstance(memos.vectors, WorkerVectorIndex)
    memos.add(texts(0, 20), NS)
    assert memos.vectors.worker_pid is None  # 20 < 30: still inline
    memos.add(texts(20, 40), NS)
    memos.add(texts(40, 50), NS)
    pid = memos.vectors.worker_pid
    assert pid is not None and alive(pid)
    assert memos.vectors.count() == 50
    hits = memos.search("green tea at home", namespace=NS, limit=5)
    assert hits and all("green tea" in h.cube.content for h in hits[:3])
    assert memos.records.unindexed_ids() == []
    memos.close()
    assert wait_gone(pid)


def test_a_store_opened_again_past_the_threshold_searches_in_its_worker_at_once(tmp_path):
    memos = open_memos(tmp_path, after=30)
    memos.add(texts(0, 40), NS)
    before = [(h.cube.id, h.score) for h in memos.search("green tea at home", namespace=NS, limit=5)]
    memos.close()
    small = open_memos(tmp_path / "small", after=30)
    small.add(texts(0, 20), NS)
    small.close()
    again, small = open_memos(tmp_path, after=30), open_memos(tmp_path / "small", after=30)
    try:
        pid = again.vectors.worker_pid  # no write yet: the index it opened holds 40 >= 30 vectors
        assert pid is not None and alive(pid)
        assert small.vectors.worker_pid is None  # 20 < 30: still inline
        assert [(h.cube.id, h.score) for h in again.search("green tea at home", namespace=NS, limit=5)] == before
        assert again.vectors.count() == 40
    finally:
        again.close()
        small.close()
    assert wait_gone(pid)


def test_worker_results_equal_inline_results(tmp_path):
    inline, worker = open_memos(tmp_path / "inline", after=None), open_memos(tmp_path / "worker", after=0)
    try:
        assert not isinstance(inline.vectors, WorkerVectorIndex)
        for memos in (inline, worker):
            # the same ids in both stores, so equal scores tie-break the same way
            ids = memos.add([MemCube(content=t, namespace=NS, id=f"c{i:03d}") for i, t in enumerate(texts(0, 120))],
                            NS)
            memos.update(ids[3], content="note 3: now a lemon tart at home")
            memos.delete(ids[4])
            memos.demote(ids[5], Tier.ARCHIVE)
        assert worker.vectors.worker_pid is not None
        for query in ["green tea at home", "black coffee at work", "lemon tart", "note 5", "note 4"]:
            a = [(h.cube.content, round(h.score, 6)) for h in inline.search(query, namespace=NS, limit=8)]
            b = [(h.cube.content, round(h.score, 6)) for h in worker.search(query, namespace=NS, limit=8)]
            assert a == b, query
        assert inline.vectors.count() == worker.vectors.count() == 118  # one deleted, one archived
        assert worker.check().unrepaired == 0
    finally:
        inline.close()
        worker.close()


def test_killed_worker_falls_back_inline_without_losing_writes(memos, caplog):
    first = memos.add(texts(0, 40), NS)
    pid = memos.vectors.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    with caplog.at_level(logging.WARNING, logger=index_worker.__name__):
        later = memos.add(texts(40, 60), NS)
        hits = memos.search("note 45", namespace=NS, limit=3)
    assert "index worker stopped" in caplog.text
    assert memos.vectors.worker_pid is None  # inline from now on
    assert hits[0].cube.content.startswith("note 45:")
    report = memos.check()
    assert report.unrepaired == 0 and not report.missing_vectors
    assert memos.vectors.ids() == set(first) | set(later)


def test_worker_that_cannot_start_leaves_the_index_inline(memos, monkeypatch, caplog):
    monkeypatch.setattr(index_worker.sys, "executable", "/bin/false")
    with caplog.at_level(logging.WARNING, logger=index_worker.__name__):
        ids = memos.add(texts(0, 10), NS)
    assert "did not start" in caplog.text
    assert memos.vectors.worker_pid is None
    assert memos.vectors.ids() == set(ids)
    assert memos.search("note 7", namespace=NS, limit=1)[0].cube.content.startswith("note 7:")


def test_worker_exits_when_its_owner_dies_and_every_acknowledged_write_survives(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.test_index_worker import NS, open_memos, texts
        from pathlib import Path
        memos = open_memos(Path({str(tmp_path)!r}), after=0)
        memos.add(texts(0, 200), NS)
        print(memos.vectors.worker_pid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    pid = int(out.stdout.strip().splitlines()[-1])
    assert wait_gone(pid), "the worker outlived its owner"
    memos = open_memos(tmp_path, after=None)
    try:
        report = memos.check()
        assert report.unrepaired == 0 and report.records == 200 and not report.missing_vectors
        assert memos.vectors.count() == 200
    finally:
        memos.close()


def test_store_put_and_filtered_search_through_the_worker(tmp_path):
    from langgraph.store.base import PutOp

    from langchain_memos.integrations import MemOSStore

    embeddings = HashingEmbeddings()
    index = {"dims": embeddings.dims, "embed": embeddings, "fields": ["text"]}
    results = []
    for name, after in (("inline", None), ("worker", 0)):
        config = MemOSConfig(path=str(tmp_path / name), index_worker_after=after, graph_backend=None)
        with MemOSStore.from_config(config, index=index) as store:
            for start in range(0, 300, 100):
                store.batch([PutOp(("docs", f"u{i % 3}"), f"k{i}", {"text": t, "kind": i % 4})
                             for i, t in zip(range(start, start + 100), texts(start, start + 100))])
            if after == 0:
                assert store.memos.vectors.worker_pid is not None
            # Every match in one page. Cube ids differ between the two stores, and many texts tie on
            # similarity, so tied items may swap in and out of the ranked pool: compare the keys
            # found and the multiset of scores.
            found = []
            for query in ("green tea at home", "black coffee"):
                items = store.search(("docs",), query=query, filter={"kind": 1}, limit=100)
                found.append((sorted(it.key for it in items),
                              sorted(round(it.score, 6) for it in items if it.score is not None)))
            results.append(found)
    assert results[0] == results[1]
    assert all(len(keys) == 75 and scores for keys, scores in results[0])


def test_a_forked_copy_indexes_in_process_and_leaves_the_parents_worker_alone(memos, monkeypatch):
    memos.add(texts(0, 10), NS)
    pid = memos.vectors.worker_pid
    assert pid is not None
    # the parent keeps its end of the pipe (in a real fork it is the parent's own object); here the
    # same process plays both, so hold it, or dropping the child's copy would close the pipe
    parents = memos.vectors._worker
    real_pid = os.getpid()
    monkeypatch.setattr(index_worker.os, "getpid", lambda: real_pid + 1)  # as seen from a forked child
    later = memos.add(texts(10, 20), NS)
    assert memos.vectors.worker_pid is None and alive(pid)  # the parent's worker was not touched
    assert set(later) <= memos.vectors.ids()
    parents.close()


def test_an_interrupted_exchange_drops_the_worker_instead_of_reading_stale_replies(memos, monkeypatch):
    ids = memos.add(texts(0, 10), NS)
    worker = memos.vectors._worker
    pid = worker.process.pid

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "reply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        memos.vectors.count()
    assert wait_gone(pid) and memos.vectors.worker_pid is None
    # rows the worker may not have reached are still waiting in SQLite; check() indexes them inline
    assert set(memos.records.unindexed_ids()) <= set(ids)
    assert memos.check().unrepaired == 0
    assert memos.vectors.count() == 10 and memos.vectors.ids() == set(ids) and not memos.records.unindexed_ids()


def test_packed_hits_round_trip_exactly():
    from langchain_memos.storage.base import ScoredId
    from langchain_memos.storage.packing import pack_hits, unpack_hits

    hits = [ScoredId("3f2a-uuid", 0.123456789012345678), ScoredId("naïve id\nwith newline", -1.0),
            ScoredId("", 1e-300), ScoredId("日本", 0.9999999999999999)]
    assert unpack_hits(pack_hits(hits)) == hits
    assert unpack_hits(pack_hits([])) == []
    ids_bytes, lengths, scores = pack_hits(hits)
    assert isinstance(ids_bytes, bytes) and len(lengths) == 4 * len(hits) and len(scores) == 8 * len(hits)


def test_worker_search_replies_equal_inline_search_exactly(tmp_path):
    """The compact search reply (buffers, not pickled objects) gives the same ids and scores as Chroma inline."""
    inline, worker = open_memos(tmp_path / "inline", after=None), open_memos(tmp_path / "worker", after=0)
    try:
        for memos in (inline, worker):
            memos.add([MemCube(content=t, namespace=NS, id=f"c{i:03d}") for i, t in enumerate(texts(0, 60))], NS)
            memos.engine.index(wait=True)
        assert worker.vectors.worker_pid is not None
        query = inline.embed_query("green tea at home")
        for k in (1, 10, 60):
            found = worker.vectors.search(query, k)
            assert found == inline.vectors.search(query, k) and len(found) == k
            assert all(type(h.score) is float for h in found)
    finally:
        inline.close()
        worker.close()


def test_the_worker_runs_a_large_scopes_vector_stage_and_answers_as_the_exact_scan(memos, monkeypatch):
    from langchain_memos.retrieval.pipeline import exact_matrix_search
    from langchain_memos.storage.base import CubeQuery

    ids = memos.add([MemCube(content=t, namespace=NS, id=f"c{i:04d}") for i, t in enumerate(texts(0, 2600))], NS)
    memos.add(texts(0, 50), ("users", "bob"))  # outside the scope
    memos.delete(ids[:3])
    memos.demote(ids[3], Tier.ARCHIVE)
    memos.engine.index(wait=True)
    asked = []
    delegate = WorkerVectorIndex.vector_candidates
    monkeypatch.setattr(WorkerVectorIndex, "vector_candidates",
                        lambda self, *args: asked.append(args) or delegate(self, *args))
    cq = CubeQuery(namespace_prefix=NS, exact_namespace=True)  # 2,596 live cubes: past the exact scan's 2,000
    for query in ("green tea at home #12", "black coffee at work", "note 7"):
        vector = memos.embeddings.embed_query(query)
        got = memos.engine.vector_candidates(cq, vector, 50)
        exact = exact_matrix_search(vector, *memos.records.embedding_matrix(cq), 50)
        assert len(got) == 50 and not {h.id for h in got} & set(ids[:4])
        # HNSW, not exact, and many scores tie (hashed texts repeat words): most scores of the exact top 50
        found = Counter(round(h.score, 5) for h in got) & Counter(round(h.score, 5) for h in exact)
        assert sum(found.values()) >= 45
    assert len(asked) == 3 and memos.vectors.worker_pid is not None


def test_the_worker_teaches_an_index_written_before_rids_were_kept_their_rids(tmp_path):
    """A store whose faiss files hold no rids (an older version wrote them) opens with its worker, which learns the
    rid of every vector from SQLite beside the requests and keeps them in a snapshot; searches answer as before."""
    from langchain_memos.storage.faiss_index import FaissVectorIndex

    memos = open_memos(tmp_path, after=None)
    ids = memos.add(texts(0, 60), NS, metadata={"kind": "tea"})
    memos.add(texts(60, 90), NS, metadata={"kind": "coffee"})
    before = [h.cube.id for h in memos.search("green tea at home", namespace=NS, limit=5, filters={"kind": "tea"})]
    stored = memos.records.embeddings(ids)
    memos.close()
    folder = tmp_path / "faiss"
    old = FaissVectorIndex.persistent(folder)
    old.reset()
    old.upsert(list(stored), list(stored.values()))  # no rids: as an older version wrote the index
    old.close()
    again = open_memos(tmp_path, after=30)
    try:
        assert again.vectors.worker_pid is not None
        def learned() -> bool:
            index = FaissVectorIndex.persistent(folder)
            try:
                return index.knows_rids()
            finally:
                index.close()

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not learned():
            time.sleep(0.1)
        assert learned()  # learned, and kept by a snapshot (another process reads it)
        got = [h.cube.id for h in again.search("green tea at home", namespace=NS, limit=5, filters={"kind": "tea"})]
        assert got == before
    finally:
        again.close()


def test_a_large_scopes_vector_request_reaches_the_worker_before_its_keyword_request(memos, monkeypatch):
    """The worker answers one request at a time: a search of a large scope sends its vector request first (its
    keyword search waits until that is sent), so the vector candidates are loaded while the worker runs the
    keyword search; watching the requests changes no answer."""
    from langchain_memos.storage.base import CubeQuery

    memos.add(texts(0, 2600), NS)  # past the exact scan's 2,000: a large scope
    memos.engine.index(wait=True)
    deadline = time.monotonic() + 30  # the worker's keyword mirror is built beside its requests: FTS5 until then
    while memos.vectors.keyword_candidates(["tea"], CubeQuery(namespace_prefix=NS), 5) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    queries = ("green tea at home #12", "black coffee at work", "note 7 at home")

    def answers() -> list[list[str]]:  # touch=False: no access is counted, so every search ranks the same store
        return [[h.cube.id for h in memos.search(q, namespace=NS, limit=5, touch=False)] for q in queries]

    # the worker keeps a scope's matches once its background reader has read them (a search before that takes
    # another approximate path, whose 5th hit may differ): the answers of the code as it is, once they settle
    before, again = answers(), answers()
    while again != before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        before, again = again, answers()
    order: list[str] = []
    call = WorkerVectorIndex._call
    monkeypatch.setattr(WorkerVectorIndex, "_call", lambda self, op, *args, **kw: order.append(op) or call(self, op, *args, **kw))
    for query, expected in zip(queries, before):
        order.clear()
        assert [h.cube.id for h in memos.search(query, namespace=NS, limit=5, touch=False)] == expected
        assert order.index("candidates") < order.index("keyword")
