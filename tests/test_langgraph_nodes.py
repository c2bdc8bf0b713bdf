"""The memory nodes, sync and async, in a StateGraph compiled with a MemOSStore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph

from langchain_memos import MemoryType
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSStore
from langchain_memos.integrations.errors import MemoryNotConfiguredError
from langchain_memos.integrations.nodes import (
    MemoryNodes,
    MemoryState,
    capture_tool_traces,
    consolidate,
    inject_kv_prefix,
    memory_messages,
    retrieve_memories,
    stamp_latency,
    write_memories,
)
from langchain_memos.integrations.settings import MemorySettings


@dataclass
class Ctx:
    user_id: str
    scheduler: Any = None
    model: Any = None


@pytest.fixture()
def store() -> Any:
    with MemOSStore(index={"dims": 64, "embed": HashingEmbeddings(64)}) as s:
        yield s


def one_node_graph(node: Any, store: Any) -> Any:
    builder = StateGraph(MemoryState, context_schema=Ctx)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    return builder.compile(store=store)


TURN = [HumanMessage("Book a table in Lisbon", id="h1"),
        AIMessage("", tool_calls=[{"name": "book", "args": {"city": "Lisbon"}, "id": "c1"}], id="a1"),
        stamp_latency(ToolMessage("booked for 8pm", tool_call_id="c1", name="book", id="t1"), 42.0),
        AIMessage("Your table in Lisbon is booked for 8pm.", id="a2")]


async def _run(graph: Any, state: dict[str, Any], mode: str, **kwargs: Any) -> dict[str, Any]:
    if mode == "sync":
        return graph.invoke(state, **kwargs)
    return await graph.ainvoke(state, **kwargs)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_write_then_retrieve(store: MemOSStore, mode: str) -> None:
    config = {"configurable": {"thread_id": "t1"}}
    out = await _run(one_node_graph(write_memories, store), {"messages": TURN}, mode, config=config,
                     context=Ctx("ann"))
    assert len(out["memos_remembered"]) == 2  # the human turn and the final answer (not the tool-call-only one)
    again = await _run(one_node_graph(write_memories, store), {"messages": TURN}, mode, config=config,
                       context=Ctx("ann"))
    assert again["memos_remembered"] == []  # idempotent per message id
    out = await _run(one_node_graph(retrieve_memories, store), {"messages": [HumanMessage("table in Lisbon?")]},
                     mode, config={"configurable": {"thread_id": "t2", "user_id": "ann"}})
    assert any("booked for 8pm" in c["content"] for c in out["memos_cubes"])
    assert out["memos_context"].startswith(MemorySettings().instructions + "\n\n<memories")
    assert memory_messages(out)[0].type == "system"
    bob = await _run(one_node_graph(retrieve_memories, store), {"messages": [HumanMessage("table in Lisbon?")]},
                     mode, context=Ctx("bob"))
    assert bob["memos_cubes"] == [] and bob["memos_context"] == ""


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_capture_tool_traces(store: MemOSStore, mode: str) -> None:
    out = await _run(one_node_graph(capture_tool_traces, store), {"messages": TURN}, mode,
                     config={"configurable": {"thread_id": "t1"}}, context=Ctx("ann"))
    [trace] = store.memos.get_many(out["memos_traces"])
    assert trace.memory_type is MemoryType.TOOL_TRACE and trace.owner == "ann"
    expected = {"tool": "book", "args": {"city": "Lisbon"}, "outcome": "success",
                "result": "booked for 8pm", "latency_ms": 42.0, "task": "Book a table in Lisbon",
                "thread_id": "t1"}
    assert {key: trace.metadata[key] for key in expected} == expected
    again = await _run(one_node_graph(capture_tool_traces, store), {"messages": TURN}, mode,
                       config={"configurable": {"thread_id": "t1"}}, context=Ctx("ann"))
    assert again["memos_traces"] == []  # the same call of the same thread is recorded once
    # the next turn sees it as a suggestion
    out = await _run(one_node_graph(retrieve_memories, store), {"messages": [HumanMessage("Book a table in Porto")]},
                     mode, context=Ctx("ann"))
    assert '<tool_trace tool="book" outcome="success" calls="1" success_rate="1.00" p50_ms="42"' \
        in out["memos_context"]
    assert out["memos_tool_usage"]["stats"]["book"]["calls"] == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_consolidate(store: MemOSStore, mode: str) -> None:
    store.memos.add(["Ann likes tea", "Ann likes tea"], ("users", "ann"), owner="ann")
    out = await _run(one_node_graph(consolidate, store), {"messages": []}, mode, context=Ctx("ann"))
    report = out["memos_consolidation"]
    assert tuple(report["namespace"]) == ("users", "ann") and report["deduplicated"] >= 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_consolidate_is_scheduled_with_a_scheduler(store: MemOSStore, mode: str) -> None:
    from langchain_memos.scheduler import MemScheduler

    with MemScheduler(store.memos) as scheduler:
        out = await _run(one_node_graph(consolidate, store), {"messages": []}, mode,
                         context={"user_id": "ann", "scheduler": scheduler})
        assert out["memos_consolidation"]["scheduled"] is True
        assert scheduler.wait(timeout=30)


class FakeLocalModel:
    """Stands in for ChatMemOSLocal: records what it was asked to warm."""

    def __init__(self) -> None:
        self.warmed: list[str] = []

    def warm(self, system_text: str) -> Any:
        self.warmed.append(system_text)

        class Prefix:
            model_id, token_ids, source = "fake", (1, 2, 3), "prefill"

        return Prefix()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_inject_kv_prefix(store: MemOSStore, mode: str) -> None:
    model = FakeLocalModel()
    node = MemoryNodes(model=model).inject_kv_prefix
    out = await _run(one_node_graph(node, store), {"messages": [], "memos_context": "SYS"}, mode, context=Ctx("ann"))
    assert out["memos_kv_prefix"] == {"cached": True, "model_id": "fake", "tokens": 3, "source": "prefill"}
    assert model.warmed == ["SYS"]
    # the default node finds the model in the context; no local model -> nothing cached
    out = await _run(one_node_graph(inject_kv_prefix, store), {"messages": [], "memos_context": "SYS"}, mode,
                     context={"user_id": "ann", "model": model})
    assert out["memos_kv_prefix"]["cached"] is True
    out = await _run(one_node_graph(inject_kv_prefix, store), {"messages": [], "memos_context": "SYS"}, mode,
                     context=Ctx("ann"))
    assert out["memos_kv_prefix"] == {"cached": False, "reason": "no local model"}


def test_nodes_without_memory_raise_a_typed_error() -> None:
    graph = one_node_graph(retrieve_memories, None)
    with pytest.raises(MemoryNotConfiguredError, match="store=MemOSStore"):
        graph.invoke({"messages": [HumanMessage("hi")]}, context=Ctx("ann"))
