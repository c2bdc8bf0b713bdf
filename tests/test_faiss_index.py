"""What the faiss index adds to the VectorIndex conformance cases (tests/test_engines.py): its files
(snapshot + log, torn frames, generations), sharing between instances, dead labels, and HNSW recall."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_memos import MemOS
from langchain_memos.config import MemOSConfig
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.errors import InvalidInputError
from langchain_memos.storage import faiss_allow, faiss_index
from langchain_memos.storage.faiss_frames import frame, pack_ids, read_frames, unpack_ids
from langchain_memos.storage.faiss_index import FaissVectorIndex


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def exact_top(index: FaissVectorIndex, query, k: int) -> list[str]:
    return [h.id for h in index.search(query, k, ids=sorted(index.ids()))]


def test_ids_and_frames_round_trip_and_a_torn_frame_ends_the_log():
    ids = ["a", "é", "", "x" * 300]
    assert unpack_ids(pack_ids(ids)) == (ids, len(pack_ids(ids)))
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    data = frame(1, ids, vectors) + frame(2, ["a"]) + frame(1, ids, vectors, [4, -1, 9, 2**40])
    frames = list(read_frames(data))
    assert [(op, got) for op, got, _, _, _ in frames] == [(1, ids), (2, ["a"]), (1, ids)]
    assert np.array_equal(frames[0][2], vectors) and frames[1][2] is None and frames[2][4] == len(data)
    assert frames[0][3] is None and frames[1][3] is None  # written without rids
    assert np.array_equal(frames[2][2], vectors) and frames[2][3].tolist() == [4, -1, 9, 2**40]
    assert len(list(read_frames(data[:-1]))) == 2  # the last frame torn: only those before it are read
    damaged = bytearray(data)
    damaged[30] ^= 0xFF  # a flipped byte in the first payload: its checksum fails, nothing after it is trusted
    assert list(read_frames(bytes(damaged))) == []


def test_reopen_reads_the_snapshot_and_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(faiss_index, "SNAPSHOT_MIN", 10)
    rng = np.random.default_rng(0)
    vectors = unit(rng, 40)
    first = FaissVectorIndex.persistent(tmp_path / "f")
    first.upsert([f"v{i}" for i in range(25)], vectors[:25])  # past SNAPSHOT_MIN: a snapshot
    first.upsert([f"v{i}" for i in range(25, 30)], vectors[25:30])  # in the log
    first.upsert(["v0"], vectors[39:40])  # a new version of v0
    first.delete(["v1", "unknown"])
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["CURRENT", "log-1.bin", "snapshot-1.faiss",
                                                                   "snapshot-1.ids"]
    expected = {h.id: h.score for h in first.search(vectors[39], 30)}
    monkeypatch.setattr(faiss_index, "CLOSE_SNAPSHOT_MIN", 10**9)  # keep the log for the reopen to read
    first.close()
    again = FaissVectorIndex.persistent(tmp_path / "f")
    assert again.count() == 29 and "v1" not in again.ids()
    assert {h.id: h.score for h in again.search(vectors[39], 30)} == pytest.approx(expected)
    assert again.search(vectors[39], 1)[0].id == "v0"
    again.close()


def test_a_torn_frame_left_by_a_dead_writer_is_ignored_then_cut_off(tmp_path):
    index = FaissVectorIndex.persistent(tmp_path / "f")
    index.upsert(["a"], [[1.0, 0.0]])
    index.close()
    log = tmp_path / "f" / "log-0.bin"
    whole = log.read_bytes()
    log.write_bytes(whole + frame(1, ["b"], np.asarray([[0.0, 1.0]], dtype=np.float32))[:-3])
    again = FaissVectorIndex.persistent(tmp_path / "f")
    assert again.ids() == {"a"}
    again.upsert(["c"], [[0.6, 0.8]])
    again.close()
    assert FaissVectorIndex.persistent(tmp_path / "f").ids() == {"a", "c"}


def test_two_instances_see_each_others_writes_snapshots_and_resets(tmp_path, monkeypatch):
    monkeypatch.setattr(faiss_index, "SNAPSHOT_MIN", 8)
    one, two = FaissVectorIndex.persistent(tmp_path / "f"), FaissVectorIndex.persistent(tmp_path / "f")
    rng = np.random.default_rng(1)
    one.upsert(["a", "b"], unit(rng, 2))
    assert two.ids() == {"a", "b"}
    two.upsert([f"n{i}" for i in range(10)], unit(rng, 10))  # a new generation
    two.delete(["a"])
    assert one.ids() == {"b", *(f"n{i}" for i in range(10))}
    one.reset()
    assert two.count() == 0 and two.search([1.0] * 16, 3) == []
    two.upsert(["c"], [[1.0, 0.0, 0.0]])  # a reset index takes another dimension
    assert [h.id for h in one.search([1.0, 0.0, 0.0], 3)] == ["c"]
    one.close()
    two.close()


def test_dead_labels_are_skipped_then_dropped_by_a_rebuild(tmp_path, monkeypatch):
    monkeypatch.setattr(faiss_index, "SNAPSHOT_MIN", 10**9)
    monkeypatch.setattr(faiss_index, "EXACT_MAX", 0)  # every search goes through the HNSW graph
    rng = np.random.default_rng(2)
    index = FaissVectorIndex.persistent(tmp_path / "f")
    ids = [f"v{i}" for i in range(400)]
    index.upsert(ids, unit(rng, 400))
    moved = unit(rng, 200)
    index.upsert(ids[:200], moved)  # half the graph's labels are now dead
    hits = index.search(moved[0], 5)
    assert hits[0].id == "v0" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({h.id for h in index.search(moved[0], 50)}) == 50  # one label per id, never a dead one
    index._write_snapshot()  # what the log's growth triggers; more than 30% dead: rebuilt
    assert len(index._ids) == 400 and index.count() == 400
    assert index.search(moved[0], 1)[0].id == "v0"
    index.close()
    again = FaissVectorIndex.persistent(tmp_path / "f")
    assert again.search(moved[0], 1)[0].id == "v0" and again.count() == 400
    again.close()


def test_hnsw_search_finds_what_the_exact_scan_finds(monkeypatch):
    rng = np.random.default_rng(3)
    index = FaissVectorIndex.in_memory()
    ids = [f"v{i}" for i in range(6000)]
    index.upsert(ids, unit(rng, 6000, 32))
    index.delete(ids[::7])
    queries = unit(rng, 20, 32)
    overlap = []
    for q in queries:
        approx = [h.id for h in index.search(q, 20)]  # 6000 > EXACT_MAX and 20 < a quarter: the graph answers
        assert not set(approx) & set(ids[::7])
        overlap.append(len(set(approx) & set(exact_top(index, q, 20))) / 20)
    assert np.mean(overlap) >= 0.95
    big = index.search(queries[0], 2000)  # a quarter of the live vectors or more: scored exactly
    assert [h.id for h in big] == exact_top(index, queries[0], 2000)


def test_unsupported_hnsw_settings_name_the_supported_ones():
    with pytest.raises(InvalidInputError, match="ef_construction"):
        FaissVectorIndex.in_memory(hnsw={"M": 32})
    with pytest.raises(InvalidInputError, match="cosine"):
        FaissVectorIndex.in_memory(hnsw={"space": "l2"})
    assert FaissVectorIndex.in_memory(hnsw={"ef_search": 300, "space": "cosine"}).hnsw["ef_search"] == 300


def test_a_new_index_folder_is_filled_from_the_record_store(tmp_path):
    config = MemOSConfig(path=str(tmp_path / "m"), vector_backend="chroma", index_worker_after=None)
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:
        ids = memos.add(["green tea", "black coffee", "red wine"], ("u",))
    config = MemOSConfig(path=str(tmp_path / "m"), vector_backend="faiss", index_worker_after=None)
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:
        assert set(memos.records.unindexed_ids()) == set(ids)  # queued for the new index
        assert memos.search("green tea", ("u",), k=1)[0].cube.id == ids[0]  # scored exactly meanwhile
        memos.check()
        assert memos.vectors.ids() == set(ids) and memos.records.unindexed_ids() == []
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:  # the folder exists now: nothing queued
        assert memos.records.unindexed_ids() == [] and memos.vectors.ids() == set(ids)


def test_a_damaged_snapshot_starts_an_empty_index_that_the_store_fills_again(tmp_path, caplog):
    config = MemOSConfig(path=str(tmp_path / "m"), index_worker_after=None, graph_backend=None)
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:
        ids = memos.add([f"note {i} about tea" for i in range(faiss_index.CLOSE_SNAPSHOT_MIN + 10)], ("u",))
    (snapshot,) = (tmp_path / "m" / "faiss").glob("snapshot-*.faiss")  # close wrote it
    snapshot.write_bytes(b"not a faiss index")
    with MemOS(config=config, embeddings=HashingEmbeddings()) as memos:
        assert "starting an empty faiss index" in caplog.text
        assert set(memos.records.unindexed_ids()) == set(ids)  # queued again
        assert memos.search("note 7 about tea", ("u",), k=1)[0].cube.id == ids[7]
        assert memos.check().ok and memos.vectors.count() == len(ids)


def test_search_allowed_finds_the_nearest_among_a_set_and_follows_the_index(monkeypatch):
    """The allow-list search answers among the set only (dead and unknown ids ignored), close to the exact
    answer over the set, and a change to the index is seen at once (the kept allow-list is dropped)."""
    rng = np.random.default_rng(3)
    vectors = unit(rng, 6000)
    index = FaissVectorIndex.in_memory()
    ids = [f"v{i}" for i in range(len(vectors))]
    index.upsert(ids, vectors)
    allowed = frozenset(ids[::2]) | {"unknown"}  # 3,000 ids: at most ALLOWED_EXACT_MAX, so scored exactly
    for query in vectors[1:200:20]:
        exact = [h.id for h in index.search(query, 20, ids=sorted(allowed))]
        assert [h.id for h in index.search_allowed(query, 20, allowed)] == exact
    monkeypatch.setattr(faiss_allow, "ALLOWED_EXACT_MAX", 2048)  # past it: the graph is searched
    for query in vectors[1:200:20]:
        got = [h.id for h in index.search_allowed(query, 20, allowed)]
        exact = [h.id for h in index.search(query, 20, ids=sorted(allowed))]
        assert set(got) <= allowed and len(got) == 20
        assert len(set(got) & set(exact)) >= 18
    query = vectors[1]
    best = index.search_allowed(query, 1, allowed)[0].id
    index.delete([best])  # a dead label is never an answer
    assert best not in {h.id for h in index.search_allowed(query, 50, allowed)}
    index.upsert(["v0"], query[None, :])  # v0 (allowed) now lies on the query
    assert index.search_allowed(query, 1, allowed)[0].id == "v0"
    small = frozenset(ids[:100])  # a few labels: scored exactly
    assert [h.id for h in index.search_allowed(query, 5, small)] == [h.id for h in index.search(query, 5, ids=sorted(small))]
    assert index.search_allowed(query, 5, frozenset()) == [] and index.search_allowed(query, 0, allowed) == []
    monkeypatch.setattr(faiss_allow, "ALLOWED_KEPT", 2)
    for n in range(4):  # more sets than are kept: the oldest allow-lists go, answers stay right
        some = frozenset(ids[n::4])
        assert {h.id for h in index.search_allowed(query, 10, some)} <= some
    index.close()


@pytest.mark.parametrize("exact_max", [faiss_allow.ALLOWED_EXACT_MAX, 2048], ids=["exact", "graph"])
def test_search_rids_finds_the_nearest_among_the_cubes_of_a_rid_list(monkeypatch, exact_max):
    """Each vector's rid comes with its upsert: a rid list names the vectors to search among; rids without a
    vector, past every rid or negative are skipped, and a change to the index is seen at once. Its 3,000 rids are
    scored exactly, or (below them) searched in the graph."""
    monkeypatch.setattr(faiss_allow, "ALLOWED_EXACT_MAX", exact_max)
    rng = np.random.default_rng(5)
    vectors = unit(rng, 6000)
    index = FaissVectorIndex.in_memory()
    ids = [f"v{i}" for i in range(len(vectors))]
    index.upsert(ids, vectors, rids=range(1, 6001))  # rid r holds ids[r - 1]
    rids = np.asarray([-1, *range(2, 6003, 2), 10**9], dtype=np.int64)  # ids[1::2], and rids with no vector
    allowed = set(ids[1::2])
    for query in vectors[0:200:25]:
        got = [h.id for h in index.search_rids(query, 20, rids)]
        exact = [h.id for h in index.search(query, 20, ids=sorted(allowed))]
        assert set(got) <= allowed and len(got) == 20 and len(set(got) & set(exact)) >= 18
    query = vectors[0]
    best = index.search_rids(query, 1, rids)[0].id
    index.delete([best])
    assert best not in {h.id for h in index.search_rids(query, 50, rids)}
    index.upsert(["v1"], query[None, :], rids=[2])  # v1 (rid 2, in the list) now lies on the query
    assert index.search_rids(query, 1, rids)[0].id == "v1"
    index.upsert(["v3"], query[None, :], rids=[6001])  # v3 moved to a rid past the list: its old rid is dead
    assert "v3" not in {h.id for h in index.search_rids(query, 50, rids)}
    assert index.search_rids(query, 5, np.zeros(0, dtype=np.int64)) == []
    index.upsert(["x"], query[None, :])  # a live vector without its rid: the index cannot tell
    assert index.search_rids(query, 5, rids) is None
    index.upsert(["x"], query[None, :], rids=[None])
    assert index.search_rids(query, 5, rids) is None
    index.delete(["x"])
    assert index.search_rids(query, 1, rids)[0].id == "v1"
    with pytest.raises(InvalidInputError, match="one rid per id"):
        index.upsert(["y"], query[None, :], rids=[1, 2])
    index.close()


def test_rids_are_kept_in_the_log_the_snapshot_and_a_rebuild(tmp_path, monkeypatch):
    """Rids survive a reopen from the log, from a snapshot, and a rebuild that drops dead labels; files written
    without rids (an older index) still open, and ``search_rids`` then says it cannot tell."""
    monkeypatch.setattr(faiss_index, "SNAPSHOT_MIN", 10**9)
    monkeypatch.setattr(faiss_index, "EXACT_MAX", 0)  # every search goes through the HNSW graph
    rng = np.random.default_rng(6)
    vectors = unit(rng, 400)
    ids = [f"v{i}" for i in range(400)]
    rids = np.arange(0, 800, 2, dtype=np.int64)  # rid 0 included
    evens = rids[::2]  # the vectors of ids[::2]

    def check(index):
        assert index.search_rids(vectors[0], 1, evens)[0].id == "v0"
        got = {h.id for h in index.search_rids(vectors[1], 50, evens)}
        assert got <= set(ids[::2]) and len(got) == 50

    index = FaissVectorIndex.persistent(tmp_path / "f")
    index.upsert(ids, vectors, rids=rids.tolist())
    check(index)
    monkeypatch.setattr(faiss_index, "CLOSE_SNAPSHOT_MIN", 10**9)  # keep the log for the reopen to read
    index.close()
    index = FaissVectorIndex.persistent(tmp_path / "f")  # from the log
    check(index)
    index.upsert(ids[200:], vectors[200:], rids=rids[200:].tolist())  # a third of the labels dead
    index._write_snapshot()  # more than 30% dead: rebuilt from the live labels, with their rids
    assert len(index._ids) == 400
    check(index)
    index.close()
    index = FaissVectorIndex.persistent(tmp_path / "f")  # from the snapshot
    check(index)
    index.close()
    old = FaissVectorIndex.persistent(tmp_path / "old")  # an index written before rids were kept
    old._write(frame(1, ids, vectors))
    old._apply_upsert(ids, vectors)
    old._log_count += len(ids)
    old.close()
    old = FaissVectorIndex.persistent(tmp_path / "old")
    assert old.count() == 400 and old.search_rids(vectors[0], 1, evens) is None
    old._write_snapshot()
    old.close()
    old = FaissVectorIndex.persistent(tmp_path / "old")
    ids_file = next((tmp_path / "old").glob("snapshot-*.ids"))
    ids_file.write_bytes(ids_file.read_bytes()[:-8 * 400])  # a snapshot written before rids were kept
    old.close()
    old = FaissVectorIndex.persistent(tmp_path / "old")
    assert old.count() == 400 and old.search_rids(vectors[0], 1, evens) is None
    old.upsert(ids, vectors, rids=rids.tolist())  # every live vector again, with its rid
    check(old)
    old.close()


def test_indexing_from_the_record_store_gives_each_vector_its_rid():
    """``index_pending`` hands the faiss index each cube's rid: it counts what it indexed, the index then knows
    every rid, and a filter's rids from the record store name exactly its cubes."""
    from langchain_memos.cube import MemCube
    from langchain_memos.filters import Condition
    from langchain_memos.storage.base import CubeQuery
    from langchain_memos.storage.sqlite import SQLiteRecordStore
    from langchain_memos.storage.sync import index_pending

    rng = np.random.default_rng(7)
    records = SQLiteRecordStore(None)
    records.setup()
    index = FaissVectorIndex.in_memory()
    cubes = [MemCube(content=f"c{i}", namespace=("u",), metadata={"odd": i % 2}) for i in range(3000)]
    records.write(cubes, unit(rng, 3000).tolist(), [None] * 3000)
    assert index_pending(records, index, wait=True) == 3000 and index.knows_rids()
    odd = {c.id for c in cubes if c.metadata["odd"]}
    rids = records.condition_rids(CubeQuery(conditions=(Condition(("odd",), "$eq", 1),)))
    query = unit(rng, 1)[0]
    got = [h.id for h in index.search_rids(query, 20, rids)]
    exact = [h.id for h in index.search(query, 20, ids=sorted(odd))]
    assert set(got) <= odd and len(set(got) & set(exact)) >= 18
    records.close()


def test_an_index_written_before_rids_were_kept_learns_them_from_the_record_store(tmp_path):
    """``learn_rids`` teaches an index whose vectors came without rids (an older version's files) the rid of each
    vector it holds, from the record store: it then searches among a filter's rids, and a snapshot keeps them.
    Vectors whose rid is known, ids it does not hold and an index that knows every rid are left alone."""
    from langchain_memos.cube import MemCube
    from langchain_memos.filters import Condition
    from langchain_memos.storage.base import CubeQuery
    from langchain_memos.storage.sqlite import SQLiteRecordStore
    from langchain_memos.storage.sync import learn_rids

    rng = np.random.default_rng(8)
    records = SQLiteRecordStore(None)
    records.setup()
    cubes = [MemCube(content=f"c{i}", namespace=("u",), metadata={"odd": i % 2}) for i in range(3000)]
    vectors = unit(rng, 3000)
    records.write(cubes, vectors.tolist(), [None] * 3000)
    index = FaissVectorIndex.persistent(tmp_path / "f")
    index.upsert([c.id for c in cubes[:2999]], vectors[:2999])  # as an older version wrote them: no rids
    index.upsert([cubes[2999].id], vectors[2999:], rids=[10**6])  # one whose rid is known (left as it is)
    rids = records.condition_rids(CubeQuery(conditions=(Condition(("odd",), "$eq", 1),)))
    assert not index.knows_rids() and index.search_rids(vectors[1], 5, rids) is None
    assert learn_rids(records, index, batch=700) == 2999 and index.knows_rids()
    assert learn_rids(records, index) == 0  # nothing left to learn
    odd = {c.id for c in cubes if c.metadata["odd"]} - {cubes[2999].id}
    got = [h.id for h in index.search_rids(vectors[1], 20, rids)]
    assert got[0] == cubes[1].id and set(got) <= odd
    index.close()
    again = FaissVectorIndex.persistent(tmp_path / "f")  # the rids were kept by a snapshot
    assert again.knows_rids() and [h.id for h in again.search_rids(vectors[1], 20, rids)] == got
    with pytest.raises(InvalidInputError, match="one rid per id"):
        again.learn_rids(["a"], [])
    again.close()
    records.close()
