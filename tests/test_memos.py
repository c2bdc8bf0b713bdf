"""The MemOS facade: add/get/search/update/delete/fuse/promote, typed errors, atomicity, persistence."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_memos import (
    ContentTooLargeError,
    CubeNotFoundError,
    EmbeddingDimensionError,
    InvalidInputError,
    InvalidNamespaceError,
    MemCube,
    MemOS,
    MemOSConfig,
    MemoryType,
    NonJSONValueError,
    PermissionDeniedError,
    Permissions,
    Provenance,
    Status,
    Tier,
    UnknownFilterOperatorError,
)
from langchain_memos.embeddings import HashingEmbeddings

NS = ("users", "alice")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class CountingEmbeddings(HashingEmbeddings):
    """Hashing embeddings that count calls and can fail on a marker word."""

    def __init__(self, dims: int = 64, fail_on: str | None = None) -> None:
        super().__init__(dims)
        self.document_calls: list[int] = []
        self.fail_on = fail_on

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls.append(len(texts))
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError("embedding service failed")
        return super().embed_documents(texts)


@pytest.fixture
def memos() -> MemOS:
    with MemOS.ephemeral(embeddings=CountingEmbeddings()) as m:
        yield m


@pytest.fixture
def memos_dir(tmp_path: Path) -> MemOS:
    with MemOS(str(tmp_path / "data"), embeddings=CountingEmbeddings()) as m:
        yield m


def count_all(m: MemOS) -> int:
    return len(m.list((), tiers=list(Tier), limit=10_000))


# ------------------------------------------------------------------------ add / get
def test_add_text_returns_ids_in_order_and_reads_back(memos: MemOS) -> None:
    ids = memos.add(["first", "second", "third"], NS)
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [memos.get(i).content for i in ids] == ["first", "second", "third"]
    assert memos.get_many(ids + ["missing"])[-1] is None


def test_add_batches_embedding_into_one_call(memos: MemOS) -> None:
    memos.add([f"memory number {i}" for i in range(40)], NS)
    assert memos.embeddings.document_calls == [40]


def test_add_messages_records_speaker_and_provenance(memos: MemOS) -> None:
    ids = memos.add([HumanMessage("I moved to Denver", id="m1"), AIMessage("Noted!", id="m2"),
                     {"role": "user", "content": "I like tea", "name": "alice"}], NS, thread_id="t1")
    cubes = memos.get_many(ids)
    assert cubes[0].content == "user: I moved to Denver"
    assert cubes[0].metadata["speaker"] == "user" and cubes[2].metadata["speaker"] == "alice"
    assert cubes[0].provenance == [Provenance(kind="message", ref="m1", thread_id="t1")]
    assert cubes[0].memory_type is MemoryType.EPISODE
    assert cubes[0].created_at < cubes[1].created_at < cubes[2].created_at  # conversation order kept


def test_add_cubes_keeps_their_fields(memos: MemOS) -> None:
    cube = MemCube("Bob is allergic to peanuts", NS, key="allergy", memory_type=MemoryType.FACT, importance=0.9,
                   provenance=[Provenance("message", "D1:2")], tags=("health",), created_at=T0)
    [cube_id] = memos.add(cube, NS)
    stored = memos.get(cube_id, touch=False)
    assert stored == cube


def test_add_options_apply_to_text(memos: MemOS) -> None:
    [cube_id] = memos.add("likes hiking", NS, memory_type="preference", tier="long_term", metadata={"w": 1},
                          tags=["outdoor"], importance=0.8, owner="alice", ttl_minutes=60, key="hobby")
    cube = memos.get(cube_id)
    assert cube.memory_type is MemoryType.PREFERENCE and cube.tier is Tier.LONG_TERM
    assert cube.metadata == {"w": 1} and cube.tags == ("outdoor",) and cube.owner == "alice"
    assert cube.key == "hobby"
    assert cube.expires_at is not None and abs((cube.expires_at - cube.created_at) - timedelta(minutes=60)) < timedelta(seconds=1)


def test_get_counts_access(memos: MemOS) -> None:
    [cube_id] = memos.add("x", NS)
    memos.get(cube_id)
    memos.get(cube_id)
    cube = memos.get(cube_id, touch=False)
    assert cube.access_count == 2 and cube.last_accessed_at is not None


# ------------------------------------------------------------------------- search
def test_search_ranks_relevant_first_with_reasons(memos: MemOS) -> None:
    memos.add(["Alice prefers green tea in the morning", "The office is in Lyon", "Alice's cat is named Pixel"], NS)
    hits = memos.search("what tea does Alice drink", NS, k=3)
    assert hits[0].cube.content == "Alice prefers green tea in the morning"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert "The office is in Lyon" not in [h.cube.content for h in hits]  # below the relevance floor
    assert len(memos.search("what tea does Alice drink", NS, k=3, min_score=0.0)) == 3
    assert "keyword" in hits[0].reasons and "vector" in hits[0].reasons
    assert hits[0].why


def test_search_k_and_namespace_prefix_isolation(memos: MemOS) -> None:
    memos.add(["tea one", "tea two"], ("a", "b"))
    memos.add(["tea three"], ("a", "bc"))
    assert {h.cube.content for h in memos.search("tea", ("a", "b"))} == {"tea one", "tea two"}
    assert len(memos.search("tea", ("a",), k=3)) == 3
    assert len(memos.search("tea", ("a",), k=1)) == 1


def test_search_filters_types_and_time_range(memos: MemOS) -> None:
    memos.add("tea fact old", NS, memory_type="fact", metadata={"score": 1}, created_at=T0)
    memos.add("tea fact new", NS, memory_type="fact", metadata={"score": 10}, created_at=T0 + timedelta(days=10))
    memos.add("tea preference", NS, memory_type="preference", metadata={"score": 5}, created_at=T0 + timedelta(days=5))
    contents = lambda hits: {h.cube.content for h in hits}  # noqa: E731
    assert contents(memos.search("tea", NS, filters={"score": {"$gt": 2}})) == {"tea fact new", "tea preference"}
    assert contents(memos.search("tea", NS, types=["fact"])) == {"tea fact old", "tea fact new"}
    window = (T0 + timedelta(days=1), T0 + timedelta(days=7))
    assert contents(memos.search("tea", NS, time_range=window)) == {"tea preference"}


def test_search_as_of_prefers_valid_facts(memos: MemOS) -> None:
    memos.add("Alice lives in Boston", NS, memory_type="fact", valid_from=T0, valid_to=T0 + timedelta(days=100))
    memos.add("Alice lives in Denver", NS, memory_type="fact", valid_from=T0 + timedelta(days=100))
    assert [h.cube.content for h in memos.search("where does Alice live", NS, as_of=T0 + timedelta(days=5))] == [
        "Alice lives in Boston"]
    assert [h.cube.content for h in memos.search("where does Alice live", NS, as_of=T0 + timedelta(days=200))] == [
        "Alice lives in Denver"]


def test_search_respects_read_permissions(memos: MemOS) -> None:
    memos.add("alice secret tea", NS, owner="alice")
    memos.add("shared tea note", NS, owner="alice", permissions=Permissions(readers=("bob",)))
    assert {h.cube.content for h in memos.search("tea", NS, user="bob")} == {"shared tea note"}
    assert len(memos.search("tea", NS, user="alice")) == 2
    assert memos.search("tea", NS, user="eve") == []


def test_search_empty_query_lists_recent(memos: MemOS) -> None:
    memos.add(["a", "b"], NS)
    assert len(memos.search("", NS)) == 2


def test_search_token_budget_and_floor(memos: MemOS) -> None:
    memos.add([f"tea memory number {i} " + "padding " * 30 for i in range(10)], NS)
    hits = memos.search("tea memory", NS, k=10, max_tokens=80)
    assert 1 <= len(hits) < 10
    assert memos.search("tea memory", NS, k=10, min_score=1.01) == []


def test_search_drops_near_duplicates(memos: MemOS) -> None:
    memos.add(["Alice likes green tea", "Alice likes green tea", "Alice likes black coffee"], NS)
    hits = memos.search("Alice green tea", NS, k=3)
    assert [h.cube.content for h in hits].count("Alice likes green tea") == 1
    assert len(memos.search("Alice green tea", NS, k=3, mmr=False)) == 3


def test_search_counts_hits_as_accesses(memos: MemOS) -> None:
    [cube_id] = memos.add("green tea", NS)
    memos.search("green tea", NS)
    assert memos.get(cube_id, touch=False).access_count == 1


# ------------------------------------------------------------------ update / delete
def test_update_keeps_old_version_in_history_and_reindexes(memos: MemOS) -> None:
    [cube_id] = memos.add("Alice prefers green tea", NS, metadata={"v": 1})
    updated = memos.update(cube_id, content="Alice prefers espresso", metadata={"v": 2}, user="alice")
    assert updated.version == 2 and updated.content == "Alice prefers espresso"
    [entry] = memos.history(cube_id)
    assert entry.version == 1 and entry.content == "Alice prefers green tea" and entry.metadata == {"v": 1}
    assert entry.reason == "update" and entry.actor == "alice"
    assert memos.search("espresso", NS)[0].cube.id == cube_id
    assert all(h.cube.content != "Alice prefers green tea" for h in memos.search("green tea", NS))


def test_update_without_content_change_keeps_vector(memos: MemOS) -> None:
    [cube_id] = memos.add("Alice prefers green tea", NS)
    calls = len(memos.embeddings.document_calls)
    memos.update(cube_id, tags=("drinks",))
    assert len(memos.embeddings.document_calls) == calls  # nothing re-embedded
    assert memos.search("green tea", NS)[0].cube.tags == ("drinks",)


def test_update_rejects_unknown_fields_and_missing_ids(memos: MemOS) -> None:
    [cube_id] = memos.add("x", NS)
    with pytest.raises(InvalidInputError, match="cannot update"):
        memos.update(cube_id, colour="blue")
    with pytest.raises(CubeNotFoundError):
        memos.update("nope", content="y")


def test_write_permissions(memos: MemOS) -> None:
    [cube_id] = memos.add("mine", NS, owner="alice")
    with pytest.raises(PermissionDeniedError, match="writers"):
        memos.update(cube_id, content="hacked", user="eve")
    with pytest.raises(PermissionDeniedError):
        memos.delete(cube_id, user="eve")
    assert memos.get(cube_id).content == "mine"


def test_delete_is_audited(memos: MemOS) -> None:
    ids = memos.add(["keep", "drop"], NS)
    assert memos.delete(ids[1], reason="user asked", user="alice") == [ids[1]]
    assert memos.get(ids[1]) is None and memos.get(ids[0]) is not None
    [record] = memos.audit_log(ids[1])
    assert record.action == "delete" and record.reason == "user asked" and record.actor == "alice"
    assert record.detail["content"] == "drop"
    assert all(h.cube.id != ids[1] for h in memos.search("drop", NS))
    assert memos.delete(["unknown"]) == []


# --------------------------------------------------------------------- fuse / tiers
def test_fuse_keeps_provenance_of_all_sources(memos: MemOS) -> None:
    a, b = memos.add([
        MemCube("Alice likes tea", NS, provenance=[Provenance("message", "D1:1")], tags=("drink",)),
        MemCube("Alice likes green tea best", NS, provenance=[Provenance("message", "D2:5")], tags=("tea",)),
    ], NS)
    fused = memos.fuse([a, b])
    assert fused.status is Status.FUSED
    assert fused.source_refs == ["D1:1", a, "D2:5", b]
    assert set(fused.tags) == {"drink", "tea"}
    assert "Alice likes green tea best" in fused.content
    for source_id in (a, b):
        source = memos.get(source_id)
        assert source.tier is Tier.ARCHIVE and source.metadata["fused_into"] == fused.id
        assert source.history[-1].reason == "fuse"
    assert [h.cube.id for h in memos.search("Alice tea", NS)] == [fused.id]


def test_fuse_needs_two_cubes_of_one_namespace(memos: MemOS) -> None:
    a = memos.add("x", ("a",))[0]
    b = memos.add("y", ("b",))[0]
    with pytest.raises(InvalidInputError):
        memos.fuse([a])
    with pytest.raises(InvalidInputError, match="one namespace"):
        memos.fuse([a, b])


def test_promote_and_demote_move_between_tiers(memos: MemOS) -> None:
    [cube_id] = memos.add("hot tea fact", NS)
    assert memos.promote(cube_id, Tier.LONG_TERM).tier is Tier.LONG_TERM
    assert memos.promote(cube_id, "working").status is Status.ACTIVATED
    archived = memos.demote(cube_id, Tier.ARCHIVE)
    assert archived.status is Status.ARCHIVED
    assert memos.search("hot tea fact", NS) == []  # out of the hot indexes
    assert [h.cube.id for h in memos.search("hot tea fact", NS, tiers=["archive"])] == [cube_id]
    assert memos.get(cube_id).tier is Tier.ARCHIVE  # still retrievable by id
    assert memos.vectors.count() == 0
    memos.promote(cube_id, Tier.MID_TERM)
    assert [h.cube.id for h in memos.search("hot tea fact", NS)] == [cube_id]
    assert [e.snapshot["tier"] for e in memos.history(cube_id)] == ["mid_term", "long_term", "working", "archive"]


@pytest.mark.parametrize("ann", [False, True], ids=["exact-scan", "ann-then-check"])
@pytest.mark.parametrize("pending", [False, True], ids=["indexed", "waiting-for-the-index"])
def test_nearest_keeps_to_one_namespace_tier_set_and_live_cubes(memos: MemOS, pending: bool, ann: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The vector index holds ids and vectors only: ``nearest`` (lifecycle dedup) scopes by the records,
    whether it scans the scope exactly or asks the index and checks its ids."""
    if ann:  # no scope is small enough to scan: every search asks the index
        monkeypatch.setattr("langchain_memos.engine.vector_steps.scan_limits", lambda pool: (0, 64))
    texts = {"same": ("hot tea fact", NS), "child": ("hot tea fact", (*NS, "x")),
             "sibling": ("hot tea fact", ("users", "alicex")), "parent": ("hot tea fact", ("users",)), "archived": ("hot tea fact", NS), "long": ("hot tea facts", NS),
             "expired": ("hot tea fact", NS), "far": ("cold spreadsheets", NS)}
    ids = {name: memos.add(text, ns, **({"ttl_minutes": 1, "created_at": T0} if name == "expired" else {}))[0]
           for name, (text, ns) in texts.items()}
    memos.demote(ids["archived"], Tier.ARCHIVE)
    memos.promote(ids["long"], Tier.LONG_TERM)
    if pending:
        memos.engine.records.mark_indexed(list(ids.values()), False)
        memos.vectors.reset()
    query = memos.embeddings.embed_query("hot tea fact")
    found = memos.engine.nearest(query, 10, namespace=NS, tiers=[Tier.MID_TERM, Tier.LONG_TERM])
    assert [h.id for h in found] == [ids["same"], ids["long"], ids["far"]]
    assert found[0].score == pytest.approx(1.0, abs=1e-6) and found[0].score > found[1].score > found[2].score
    assert [h.id for h in memos.engine.nearest(query, 10, namespace=NS, tiers=[Tier.LONG_TERM])] == [ids["long"]]
    assert [h.id for h in memos.engine.nearest(query, 1, namespace=("users", "alicex"))] == [ids["sibling"]]


# -------------------------------------------------------------------- bad input
@pytest.mark.parametrize("namespace", [(), ("a.b",), ("",), "users", ("ok", 3)])
def test_bad_namespaces_raise_typed_errors(memos: MemOS, namespace: object) -> None:
    with pytest.raises(InvalidNamespaceError):
        memos.add("x", namespace)  # type: ignore[arg-type]


def test_dot_in_label_error_names_the_fix(memos: MemOS) -> None:
    with pytest.raises(InvalidNamespaceError, match=r"split it into separate labels"):
        memos.add("x", ("users.alice",))


@pytest.mark.parametrize("metadata", [{"when": datetime.now()}, {"x": math.nan}, {"x": {1: "int key"}},
                                      {"x": object()}, {"deep": [{"inf": math.inf}]}])
def test_non_json_metadata_raises_typed_error(memos: MemOS, metadata: dict) -> None:
    with pytest.raises(NonJSONValueError, match="JSON"):
        memos.add("x", NS, metadata=metadata)


def test_content_over_limit(memos: MemOS) -> None:
    memos.config.max_content_chars = 100
    with pytest.raises(ContentTooLargeError, match="max_content_chars"):
        memos.add("x" * 101, NS)
    memos.add("x" * 100, NS)


def test_unknown_filter_operator(memos: MemOS) -> None:
    memos.add("x", NS)
    with pytest.raises(UnknownFilterOperatorError, match=r"\$gt"):
        memos.search("x", NS, filters={"score": {"$greater": 1}})


def test_wrong_embedding_dimension(tmp_path: Path) -> None:
    path = str(tmp_path / "d")
    with MemOS(path, embeddings=HashingEmbeddings(32)) as m:
        m.add("x", NS)
    with MemOS(path, embeddings=HashingEmbeddings(48)) as m:
        with pytest.raises(EmbeddingDimensionError, match="32"):
            m.add("y", NS)
        assert count_all(m) == 1


def test_unknown_add_option_and_item_type(memos: MemOS) -> None:
    with pytest.raises(InvalidInputError, match="unknown add"):
        memos.add("x", NS, colour="blue")
    with pytest.raises(InvalidInputError, match="cannot add"):
        memos.add([3.14], NS)


def test_failed_batch_writes_nothing(memos: MemOS) -> None:
    memos.add("already here", NS)
    with pytest.raises(NonJSONValueError):
        memos.add([MemCube("good", NS), MemCube("bad", NS, metadata={"x": math.nan})], NS)
    with pytest.raises(ContentTooLargeError):
        memos.add(["good", "y" * (memos.config.max_content_chars + 1)], NS)
    assert count_all(memos) == 1


def test_embedder_failure_writes_nothing() -> None:
    with MemOS.ephemeral(embeddings=CountingEmbeddings(fail_on="BOOM")) as m:
        m.add("already here", NS)
        with pytest.raises(RuntimeError):
            m.add(["fine", "BOOM"], NS)
        assert count_all(m) == 1


# ------------------------------------------------------------------- integrity
def test_check_repairs_missing_and_orphan_vectors(memos: MemOS) -> None:
    ids = memos.add(["one", "two", "three"], NS)
    memos.vectors.delete([ids[0]])
    memos.vectors.upsert(["ghost"], [[1.0] + [0.0] * 63])
    report = memos.check(repair=False)
    assert report.missing_vectors == [ids[0]] and report.orphan_vectors == ["ghost"] and not report.ok
    report = memos.check()
    assert report.repaired == 2 and report.ok
    assert memos.vectors.ids() == set(ids)
    assert memos.check().repaired == 0


def test_check_rebuilds_a_vector_index_that_cannot_be_read(memos_dir: MemOS, monkeypatch) -> None:
    """After a SIGKILL, Chroma's segment can fail every read ("Failed to apply logs to the hnsw segment
    writer"); the record store still holds every embedding, so check() rebuilds the index from it."""
    from langchain_memos.errors import EngineUnavailableError, StorageError

    m = memos_dir
    ids = m.add(["one", "two", "three"], NS)
    broken = {"on": True}
    real_ids, real_reset = m.vectors.ids, m.vectors.reset

    def ids_or_fail() -> set[str]:
        if broken["on"]:
            raise StorageError("Chroma failed to list ids: InternalError: Failed to apply logs to the hnsw segment")
        return real_ids()

    def reset() -> None:
        real_reset()
        broken["on"] = False

    monkeypatch.setattr(m.vectors, "ids", ids_or_fail)
    monkeypatch.setattr(m.vectors, "reset", reset)
    found = m.check(repair=False)
    assert found.index_error and "hnsw" in found.index_error
    assert sorted(found.missing_vectors) == sorted(ids) and found.unrepaired == 3 and not found.ok
    fixed = m.check()
    assert fixed.ok and fixed.index_error and fixed.repaired == 1 and not fixed.missing_vectors
    assert real_ids() == set(ids) and m.check(repair=False).ok
    assert [h.cube.id for h in m.search("two", NS, k=1)] == [ids[1]]
    assert any(r.reason.startswith("vector index unreadable") for r in m.audit_log())
    monkeypatch.setattr(m.vectors, "ids", lambda: (_ for _ in ()).throw(EngineUnavailableError("server down")))
    with pytest.raises(EngineUnavailableError):  # a server that is down is not "unreadable": nothing is reset
        m.check()


# --------------------------------------------------------------- persistence
def test_reopen_in_new_process_sees_every_write(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with MemOS(str(path), embeddings=HashingEmbeddings()) as m:
        ids = m.add([f"memory {i}" for i in range(25)], NS)
        m.update(ids[0], content="memory zero, updated")
        m.delete(ids[1])
    script = textwrap.dedent(f"""
        import json
        from langchain_memos import MemOS
        from langchain_memos.embeddings import HashingEmbeddings
        with MemOS({str(path)!r}, embeddings=HashingEmbeddings()) as m:
            cubes = m.get_many({ids!r}, touch=False)
            new = m.add("written by the child", {NS!r})
            print(json.dumps({{"contents": [c.content if c else None for c in cubes],
                               "versions": [c.version if c else None for c in cubes],
                               "hits": [h.cube.content for h in m.search("memory zero updated", {NS!r}, k=1)],
                               "new": new}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["contents"][0] == "memory zero, updated" and result["versions"][0] == 2
    assert result["contents"][1] is None
    assert result["contents"][2:] == [f"memory {i}" for i in range(2, 25)]
    assert result["hits"] == ["memory zero, updated"]
    with MemOS(str(path), embeddings=HashingEmbeddings()) as m:
        assert m.get(result["new"][0]).content == "written by the child"
        assert m.check().ok


def test_config_object_and_from_path(tmp_path: Path) -> None:
    config = MemOSConfig(path=str(tmp_path / "x"), max_content_chars=10)
    with MemOS(config=config, embeddings=HashingEmbeddings()) as m:
        with pytest.raises(ContentTooLargeError):
            m.add("y" * 11, NS)
    with MemOS.from_path(str(tmp_path / "y"), embeddings=HashingEmbeddings()) as m:
        m.add("z", NS)
        assert m.namespaces() == [NS]
    assert (tmp_path / "y" / "memos.sqlite3").exists() and (tmp_path / "y" / "faiss").is_dir()


# ------------------------------------------------------------------ async twins
async def test_async_twins_share_behaviour() -> None:
    async with MemOS.ephemeral(embeddings=CountingEmbeddings()) as m:
        ids = await m.aadd(["Alice prefers green tea", "Alice owns a cat", "Alice hates rain"], NS)
        hits = await m.asearch("green tea", NS, k=1)
        assert hits[0].cube.id == ids[0]
        updated = await m.aupdate(ids[0], content="Alice prefers black tea")
        assert updated.version == 2 and (await m.aget(ids[0])).content == "Alice prefers black tea"
        fused = await m.afuse(ids[1:])
        assert fused.status is Status.FUSED
        assert (await m.apromote(ids[0], "long_term")).tier is Tier.LONG_TERM
        assert await m.adelete(ids[0]) == [ids[0]]
        assert (await m.acheck()).ok


# -------------------------------------------------------------- conversation threads
def test_an_answer_is_found_through_the_question_it_answers(memos: MemOS) -> None:
    ids = memos.add([{"role": "user", "name": "ann", "content": "What is your favourite weekend hobby?"},
                     {"role": "assistant", "name": "bob", "content": "I love pottery, it calms me down."}],
                    NS, thread_id="t1")
    cubes = memos.get_many(ids, touch=False)
    assert [c.position for c in cubes] == [0, 1] and cubes[1].thread_id == "t1"
    hits = {h.cube.id: h for h in memos.search("weekend hobby", NS, k=5)}
    assert ids[1] in hits and hits[ids[1]].reasons.get("keyword", 0) > 0  # matched through its context column


def test_appending_to_a_thread_refreshes_the_previous_turn(memos: MemOS) -> None:
    [question] = memos.add({"role": "user", "name": "ann", "content": "Which city did you move to?"}, NS,
                           thread_id="t1")
    [answer] = memos.add({"role": "assistant", "name": "bob", "content": "Zanzibar, last spring."}, NS,
                         thread_id="t1")
    assert memos.get(answer, touch=False).position == 1
    hits = {h.cube.id: h for h in memos.search("Zanzibar", NS, k=5, min_score=0.0)}
    assert hits[question].reasons.get("keyword", 0) > 0  # its "next" column now holds the answer


def test_query_naming_a_speaker_prefers_their_turns(memos: MemOS) -> None:
    ann, bob = memos.add([MemCube("Ann: I went hiking in the Alps", NS, metadata={"speaker": "Ann"}),
                          MemCube("Bob: I went hiking in the Alps", NS, metadata={"speaker": "Bob"})], NS)
    hits = memos.search("Where did Ann go hiking?", NS, k=2, min_score=0.0)
    assert [h.cube.id for h in hits] == [ann, bob]
    assert hits[1].reasons["speaker"] < 0


def test_recency_reason_when_configured() -> None:
    from langchain_memos import RetrievalConfig

    with MemOS.ephemeral(embeddings=HashingEmbeddings(), retrieval=RetrievalConfig(recency_weight=0.5)) as m:
        m.add("tea notes old", NS, created_at=T0)
        m.add("tea notes new", NS)
        hits = m.search("tea notes", NS, k=2, min_score=0.0)
        assert all("recency" in h.reasons for h in hits)
        assert hits[0].cube.content == "tea notes new"
        assert abs(sum(hits[0].reasons.values()) - hits[0].score) < 1e-9


# ------------------------------------------------------------------ chroma server
@pytest.mark.server
def test_memos_on_a_real_chroma_server(chroma_server: tuple[str, int], tmp_path: Path) -> None:
    import uuid

    host, port = chroma_server
    config = MemOSConfig(path=str(tmp_path / "records"), vector_backend="chroma-http", chroma_host=host,
                         chroma_port=port, collection=f"memos-{uuid.uuid4().hex[:8]}")
    with MemOS(config=config, embeddings=HashingEmbeddings()) as m:
        ids = m.add(["Alice prefers green tea", "Alice owns a cat named Pixel", "The office is in Lyon"], NS)
        assert m.search("green tea", NS, k=1)[0].cube.id == ids[0]
        m.update(ids[1], content="Alice owns a dog named Pixel")
        m.promote(ids[2], Tier.ARCHIVE)
        assert m.vectors.count() == 2
        assert m.search("dog named Pixel", NS, k=1)[0].cube.id == ids[1]
        assert m.check().ok
    with MemOS(config=config, embeddings=HashingEmbeddings()) as m:
        assert m.search("green tea", NS, k=1)[0].cube.id == ids[0]
        assert m.get(ids[2]).tier is Tier.ARCHIVE


def test_restrictive_filter_does_not_starve_the_candidate_pool(memos: MemOS) -> None:
    memos.add([f"green tea note number {i}" for i in range(150)], NS, metadata={"kind": "noise"})
    [wanted] = memos.add("green tea note that matters", NS, metadata={"kind": "keep"})
    hits = memos.search("green tea note", NS, k=5, filters={"kind": "keep"})
    assert [h.cube.id for h in hits] == [wanted]
    assert hits[0].reasons.get("vector", 0) > 0  # found by the vector engine too, not only by keywords


def test_two_writers_of_one_thread_never_share_a_position(tmp_path, monkeypatch):
    """Placing turns after their thread's last stored position and writing them is one step: a
    checkpointer and an agent's after-agent hook may write the same thread at once."""
    import threading

    from langchain_memos import MemCube, MemOSConfig, Provenance
    from langchain_memos.embeddings import HashingEmbeddings

    with MemOS(config=MemOSConfig(path=str(tmp_path / "m"), graph_backend=None),
               embeddings=HashingEmbeddings(64)) as memos:
        records = memos.engine.records
        real_max = records.thread_max_position
        both_read = threading.Barrier(2, timeout=1)

        def slow_max(namespace, thread):
            found = real_max(namespace, thread)
            try:  # both writers have read the last position before either writes (without the lock)
                both_read.wait()
            except threading.BrokenBarrierError:  # the other one waits for the store: it cannot read yet
                pass
            return found

        monkeypatch.setattr(records, "thread_max_position", slow_max)

        errors: list[BaseException] = []

        def write(who: str) -> None:
            try:
                memos.add([MemCube(content=f"{who} said {i}", namespace=("u",), key=f"{who}{i}",
                                   provenance=[Provenance(kind="message", thread_id="t1")]) for i in range(3)],
                          ("u",))
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        writers = [threading.Thread(target=write, args=(who,)) for who in ("a", "b")]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        assert errors == []
        positions = [c.position for c in memos.list(("u",), limit=100)]
        assert sorted(positions) == list(range(6))
        memos.add([MemCube(content="later", namespace=("u",), key="c",
                           provenance=[Provenance(kind="message", thread_id="t1")])], ("u",))  # raised KeyError
