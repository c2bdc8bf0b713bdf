"""MemOSCheckpointer: conformance over InMemorySaver and (Async)SqliteSaver, sync methods, the working-tier feed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langchain_memos import MemOS, Tier
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.errors import InvalidInputError
from langchain_memos.integrations.checkpointer import MemOSCheckpointer


@pytest.fixture()
def memos() -> Any:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as m:
        yield m


# ------------------------------------------------------------------ conformance (async API)
async def _validate(factory: Any, name: str) -> Any:
    from langgraph.checkpoint.conformance import checkpointer_test, validate

    return await validate(checkpointer_test(name=name)(factory))


async def test_conformance_wrapping_in_memory_saver(memos: MemOS) -> None:
    async def factory() -> AsyncIterator[MemOSCheckpointer]:
        yield MemOSCheckpointer(InMemorySaver(), memos)

    report = await _validate(factory, "MemOSCheckpointer(InMemorySaver)")
    assert report.passed_all_base(), report.results
    assert report.passed_all()


async def test_conformance_wrapping_sqlite_saver(memos: MemOS, tmp_path: Path) -> None:
    pytest.importorskip("aiosqlite")
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    counter = iter(range(100))

    async def factory() -> AsyncIterator[MemOSCheckpointer]:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / f"cp{next(counter)}.sqlite")) as saver:
            yield MemOSCheckpointer(saver, memos)

    report = await _validate(factory, "MemOSCheckpointer(AsyncSqliteSaver)")
    assert report.passed_all_base(), report.results
    assert report.passed_all()


# ------------------------------------------------------------------ sync methods
def _sync_savers(tmp_path: Path) -> list[Any]:
    conn = sqlite3.connect(str(tmp_path / "sync.sqlite"), check_same_thread=False)
    return [InMemorySaver(), SqliteSaver(conn)]


@pytest.mark.parametrize("kind", [0, 1], ids=["InMemorySaver", "SqliteSaver"])
def test_sync_methods_delegate(memos: MemOS, tmp_path: Path, kind: int) -> None:
    inner = _sync_savers(tmp_path)[kind]
    saver = MemOSCheckpointer(inner, memos)
    assert saver.serde is inner.serde and saver.config_specs == inner.config_specs
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    first = empty_checkpoint()
    stored = saver.put(config, first, {"source": "input", "step": -1, "parents": {}}, {})
    assert stored["configurable"]["checkpoint_id"] == first["id"]
    saver.put_writes(stored, [("messages", ["x"])], task_id="task-1")
    got = saver.get_tuple(stored)
    assert got.checkpoint["id"] == first["id"] and got.pending_writes == [("task-1", "messages", ["x"])]
    assert saver.get(stored)["id"] == first["id"]
    second = empty_checkpoint()
    saver.put(stored, second, {"source": "loop", "step": 0, "parents": {}}, {})
    listed = [t.checkpoint["id"] for t in saver.list(config)]
    assert listed == [second["id"], first["id"]]
    assert [t.checkpoint["id"] for t in saver.list(config, limit=1)] == [second["id"]]
    assert [t.checkpoint["id"] for t in saver.list(config, filter={"step": -1})] == [first["id"]]
    assert saver.get_next_version(None, None).split(".")[0] == inner.get_next_version(None, None).split(".")[0]
    assert saver.get_delta_channel_history(config=stored, channels=[]) == {}
    saver.delete_thread("t")
    assert saver.get_tuple(config) is None and list(saver.list(config)) == []


def test_optional_capabilities_follow_the_wrapped_saver(memos: MemOS) -> None:
    class Pruning(InMemorySaver):
        def prune(self, thread_ids: Any, *, strategy: str = "keep_latest") -> None:
            self.pruned = (list(thread_ids), strategy)

    from langgraph.checkpoint.base import BaseCheckpointSaver

    plain = MemOSCheckpointer(InMemorySaver(), memos)
    assert type(plain).aprune is BaseCheckpointSaver.aprune  # InMemorySaver does not prune: neither do we
    assert type(plain).acopy_thread is BaseCheckpointSaver.acopy_thread
    pruning = MemOSCheckpointer(Pruning(), memos)
    assert isinstance(pruning, MemOSCheckpointer) and type(pruning).__name__ == "MemOSCheckpointer"
    pruning.prune(["t"], strategy="delete")
    assert pruning.inner.pruned == (["t"], "delete")


def test_needs_a_memos_unless_pass_through() -> None:
    with pytest.raises(InvalidInputError, match="memos="):
        MemOSCheckpointer(InMemorySaver())
    with pytest.raises(InvalidInputError, match="BaseCheckpointSaver"):
        MemOSCheckpointer(object(), feed=False)  # type: ignore[arg-type]
    assert MemOSCheckpointer(InMemorySaver(), feed=False).memos is None


# ------------------------------------------------------------------ the working-tier feed
def _graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo: {state['messages'][-1].text}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.mark.parametrize("kind", [0, 1], ids=["InMemorySaver", "SqliteSaver"])
def test_new_messages_enter_the_working_tier_once(memos: MemOS, tmp_path: Path, kind: int) -> None:
    saver = MemOSCheckpointer(_sync_savers(tmp_path)[kind], memos)
    graph = _graph(saver)
    config = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
    graph.invoke({"messages": [HumanMessage("I moved to Porto")]}, config)
    graph.invoke({"messages": [HumanMessage("I work as a nurse")]}, config)
    cubes = memos.list(("users", "ann"), types=["episode"])
    facts = memos.list(("users", "ann"), types=["fact"])
    assert any("Porto" in f.content for f in facts)  # extracted from the user's turn
    assert sorted(c.content for c in cubes) == sorted([
        "ann: I moved to Porto", "assistant: echo: I moved to Porto", "ann: I work as a nurse",
        "assistant: echo: I work as a nurse"])
    assert {c.tier for c in cubes} == {Tier.WORKING} and {c.owner for c in cubes} == {"ann"}
    assert {c.thread_id for c in cubes} == {"t1"}
    assert saver.stats.turns == 4 and saver.stats.errors == 0
    # the state round-trips through the wrapped saver
    assert [m.text for m in graph.get_state(config).values["messages"]][-1] == "echo: I work as a nurse"


async def test_async_feed_and_context_user(memos: MemOS) -> None:
    saver = MemOSCheckpointer(InMemorySaver(), memos)
    graph = _graph(saver)
    await graph.ainvoke({"messages": [HumanMessage("My dog is called Rex")]},
                        {"configurable": {"thread_id": "t2"}}, context={"user_id": "bo"})
    assert [c.content for c in memos.list(("users", "bo"), tiers=[Tier.WORKING])][::-1][0] == \
        "bo: My dog is called Rex"


def test_runs_without_user_are_stored_but_not_fed(memos: MemOS) -> None:
    saver = MemOSCheckpointer(InMemorySaver(), memos)
    graph = _graph(saver)
    graph.invoke({"messages": [HumanMessage("hello")]}, {"configurable": {"thread_id": "anon"}})
    assert saver.stats.skipped_no_user >= 1 and memos.list(()) == []
    assert graph.get_state({"configurable": {"thread_id": "anon"}}).values["messages"]


def test_memory_errors_never_fail_a_checkpoint(memos: MemOS) -> None:
    saver = MemOSCheckpointer(InMemorySaver(), memos)
    memos.close()  # every memory write now fails
    graph = _graph(saver)
    config = {"configurable": {"thread_id": "t", "user_id": "ann"}}
    graph.invoke({"messages": [HumanMessage("hello")]}, config)
    assert saver.stats.errors >= 1 and saver.stats.last_error
    assert len(graph.get_state(config).values["messages"]) == 2


def test_with_allowlist_keeps_the_wrapper(memos: MemOS) -> None:
    inner, derived = InMemorySaver(), InMemorySaver()
    saver = MemOSCheckpointer(inner, memos)
    assert saver.with_allowlist([]) is saver  # the wrapped saver kept its serde: nothing to clone
    inner.with_allowlist = lambda extra: derived  # a saver that derives a new serde
    clone = saver.with_allowlist([("my_module", "MyType")])
    assert isinstance(clone, MemOSCheckpointer) and clone is not saver and clone.memos is memos
    assert clone.inner is derived and clone.serde is derived.serde and saver.inner is inner


def test_user_turns_are_extracted_and_answers_are_not() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_memos import MemOS
    from langchain_memos.embeddings import HashingEmbeddings
    from langchain_memos.integrations._memory_ops import remember_turns

    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        ids = remember_turns(memos, [HumanMessage("I live in Boston", id="m1"),
                                     AIMessage("You live in Lyon, as I remember", id="m2")], ("users", "ann"),
                             user_id="ann", thread_id="t1")
        assert len(ids) == 2
        facts = [c.content for c in memos.list(("users", "ann"), types=["fact"])]
        assert any("Boston" in f for f in facts) and not any("Lyon" in f for f in facts)
