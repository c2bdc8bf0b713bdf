"""The cross-process index lock and the write-behind vector index (the multi-process fix)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from benchmarks.reliability._shared import open_memos, vector_health
from langchain_memos.cube import MemCube
from langchain_memos.engine import plan_query
from langchain_memos.errors import MemOSError, StoreLockedError
from langchain_memos.storage.chroma import ChromaVectorIndex
from langchain_memos.storage.locks import IndexLock

_HOLD = """
import sys, time
from langchain_memos.storage.locks import IndexLock
lock = IndexLock(sys.argv[1])
with lock.hold(exclusive=True):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_another_process_holding_the_lock_gives_a_typed_error_after_the_bound(tmp_path):
    path = tmp_path / "index.lock"
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        lock = IndexLock(path, timeout_s=0.2)
        with lock.hold(exclusive=False, wait=False) as held:
            assert held is False
        with pytest.raises(StoreLockedError, match="busy_timeout_s"):
            with lock.hold(exclusive=True):
                pass
        assert issubclass(StoreLockedError, MemOSError)
    finally:
        child.communicate("go\n", timeout=30)
    with lock.hold(exclusive=True) as held:
        assert held
    lock.close()


def test_reentrant_hold_and_change_token(tmp_path):
    lock = IndexLock(tmp_path / "x.lock")
    with lock.hold(exclusive=False):
        before = lock.token()
        with lock.hold(exclusive=True):  # upgrade inside a shared hold
            token = lock.bump()
        assert lock.token() == token != before
    lock.close()


def _vec(i: int, dims: int = 8) -> list[float]:
    v = np.zeros(dims, dtype=np.float32)
    v[i % dims] = 1.0
    v[(i * 3 + 1) % dims] += 0.5
    return list(v)


def test_two_persistent_indexes_on_one_folder_see_and_keep_each_others_writes(tmp_path):
    folder = tmp_path / "chroma"
    a = ChromaVectorIndex.persistent(folder, collection_name="shared")
    b = ChromaVectorIndex.persistent(folder, collection_name="shared")
    try:
        ids = [f"id{i}" for i in range(6)]
        a.upsert(ids[:3], [_vec(i) for i in range(3)])
        assert {h.id for h in b.search(_vec(1), 3)} >= {"id1"}  # b reopened: it sees a's vectors
        b.upsert(ids[3:], [_vec(i) for i in range(3, 6)])
        a.upsert(ids[:1], [_vec(0)])  # a was stale: it must reopen before writing
    finally:
        a.close()
        b.close()
    fresh = ChromaVectorIndex.persistent(folder, collection_name="shared")
    try:
        for i in range(6):  # nothing was overwritten by a stale in-memory index
            assert f"id{i}" in {h.id for h in fresh.search(_vec(i), 6)}
    finally:
        fresh.close()


def test_a_busy_index_leaves_writes_waiting_and_they_are_still_found_then_indexed(tmp_path):
    memos = open_memos(tmp_path / "store")
    try:
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with memos.vectors.writer():
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(30)
        ids = memos.add(["green tea at noon", "black coffee at dawn"], ("u",))  # returns: the index is busy
        assert sorted(memos.records.unindexed_ids()) == sorted(ids)
        assert memos.search("green tea", ("u",), k=1)[0].cube.id == ids[0]  # read-your-writes while waiting
        release.set()
        holder.join()
        report = memos.check()
        assert report.ok and memos.records.unindexed_ids() == []
        assert set(ids) <= memos.vectors.ids() and vector_health(memos) == (0, 0, 0)
    finally:
        memos.close()


def test_close_indexes_what_is_waiting(tmp_path):
    memos = open_memos(tmp_path / "store")
    ids = memos.add("tea", ("u",))
    memos.records.mark_indexed(ids, False)
    memos.close()
    again = open_memos(tmp_path / "store")
    try:
        assert again.records.unindexed_ids() == [] and set(ids) <= again.vectors.ids()
    finally:
        again.close()


def test_waiting_writes_are_found_when_search_uses_the_ann_index(tmp_path):
    """Past the exact-search limit the vector index answers; waiting embeddings are merged in exactly."""
    memos = open_memos(tmp_path / "store")
    try:
        rng = np.random.default_rng(0)
        fillers = [MemCube(content=f"filler {i}", namespace=("u",)) for i in range(2100)]
        memos.records.write(fillers, list(rng.standard_normal((2100, 64)).astype(np.float32)), [None] * 2100)
        memos.check()  # indexes them
        new = memos.add("zebra quokka axolotl", ("u",))[0]
        memos.vectors.delete([new])  # as if another writer had not indexed it yet
        memos.records.mark_indexed([new], False)
        vector = memos.embed_query("zebra quokka axolotl")
        cq = plan_query("zebra", ("u",), 5, {}, retrieval=memos.retrieval,
                        reader=memos.engine.reader(None)).cube_query
        assert memos.engine.vector_candidates(cq, vector, 10)[0].id == new
    finally:
        memos.close()


_WRITER = r"""
import sys, numpy as np
from langchain_memos.storage.chroma import ChromaVectorIndex
from langchain_memos.engine import plan_query
idx = ChromaVectorIndex.persistent(sys.argv[1], collection_name="shared")
print("open", flush=True)
for line in sys.stdin:
    tag, n, seed = line.split()
    ids = [f"{tag}{i}" for i in range(int(n))]
    vecs = np.random.default_rng(int(seed)).standard_normal((int(n), 16)).astype("float32")
    idx.upsert(ids, list(vecs))
    print("done", flush=True)
"""


def test_a_stale_writer_process_does_not_overwrite_another_process_vectors(tmp_path):
    """Past ~1,000 vectors Chroma keeps them in an HNSW file each process loads into memory: a
    process writing with an old copy used to drop the vectors another process wrote meanwhile."""
    folder = str(tmp_path / "chroma")

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, folder], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "open"
        return proc

    def write(proc: subprocess.Popen, tag: str, n: int, seed: int) -> None:
        proc.stdin.write(f"{tag} {n} {seed}\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"

    a = start()
    write(a, "a", 1500, 1)
    b = start()
    write(b, "b", 1500, 2)
    write(a, "c", 1500, 3)  # a last read the folder before b wrote
    for proc in (a, b):
        proc.stdin.close()
        proc.wait(timeout=60)
    index = ChromaVectorIndex.persistent(folder, collection_name="shared")
    try:
        for tag, seed in (("a", 1), ("b", 2), ("c", 3)):
            vecs = np.random.default_rng(seed).standard_normal((1500, 16)).astype("float32")
            missing = [i for i in range(0, 1500, 15) if f"{tag}{i}" not in {h.id for h in index.search(list(vecs[i]), 10)}]
            assert missing == [], (tag, len(missing))
    finally:
        index.close()
