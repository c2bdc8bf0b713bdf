"""The legacy create_react_agent path, the plan-and-execute graph, and the graphs/ modules of langgraph.json."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_memos import MemOS, MemoryType
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSStore
from langchain_memos.integrations.agents import create_memos_react_agent, create_plan_execute_agent, parse_plan
from langchain_memos.integrations.errors import InvalidPlanError
from langgraph_fakes import ScriptedToolModel, last_human, system_text

ROOT = Path(__file__).resolve().parent.parent


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny in {city}"


def react_script(messages: list[BaseMessage]) -> AIMessage:
    question = last_human(messages).lower()
    if "weather" in question and messages[-1].type != "tool":
        call = {"name": "get_weather", "args": {"city": "Lisbon"}, "id": f"w{len(messages)}"}
        return AIMessage("", tool_calls=[call])
    return AIMessage("Done.")


@pytest.fixture()
def memos() -> Any:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as m:
        yield m


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_legacy_react_agent_two_threads(memos: MemOS, mode: str) -> None:
    model = ScriptedToolModel(react_script)
    agent = create_memos_react_agent(model, [get_weather], memory=memos, checkpointer=InMemorySaver())

    async def run(text: str, user: str, thread: str) -> dict[str, Any]:
        state = {"messages": [HumanMessage(text)]}
        config = {"configurable": {"thread_id": thread, "user_id": user}}
        return agent.invoke(state, config) if mode == "sync" else await agent.ainvoke(state, config)

    await run("I always fly from Lisbon airport.", "alice", "t1")
    await run("What is the weather in Lisbon?", "alice", "t1")
    out = await run("Weather for my airport city?", "alice", "t2")
    seen = system_text(model.inputs[-2])  # first model call of the last turn
    assert "I always fly from Lisbon airport." in seen
    assert '<tool_trace tool="get_weather" outcome="success"' in seen
    assert all(m.type != "system" for m in out["messages"])  # llm_input_messages only
    [trace, *_] = memos.list(("users", "alice"), types=[MemoryType.TOOL_TRACE])
    assert trace.metadata["latency_ms"] is not None  # stamped by the ToolNode wrapper
    assert out["memos_remembered"]  # post_model_hook remembered the final turn


def plan_script(messages: list[BaseMessage]) -> AIMessage:
    prompt = messages[-1].text
    if prompt.startswith("Make a short plan"):
        return AIMessage("1. Check the weather in Lisbon\n2. Suggest what to wear")
    if "step 1" in prompt and messages[-2].type != "tool":
        call = {"name": "get_weather", "args": {"city": "Lisbon"}, "id": f"p{len(messages)}"}
        return AIMessage("", tool_calls=[call])
    if "step 1" in prompt:
        return AIMessage("It is sunny in Lisbon.")
    return AIMessage("Wear a t-shirt.")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_plan_execute_with_memory(memos: MemOS, mode: str) -> None:
    memos.add("Alice is travelling to Lisbon next week", ("users", "alice"), owner="alice")
    model = ScriptedToolModel(plan_script)
    graph = create_plan_execute_agent(model, [get_weather], memory=memos)
    state = {"messages": [HumanMessage("Help me pack for my Lisbon trip")]}
    config = {"configurable": {"thread_id": "p1", "user_id": "alice"}}
    out = graph.invoke(state, config) if mode == "sync" else await graph.ainvoke(state, config)
    assert out["plan"] == ["Check the weather in Lisbon", "Suggest what to wear"]
    assert out["response"] == "Wear a t-shirt." and out["results"][0] == "It is sunny in Lisbon."
    assert "Alice is travelling to Lisbon next week" in system_text(model.inputs[0])  # the planner read memory
    [trace] = memos.list(("users", "alice"), types=[MemoryType.TOOL_TRACE])
    assert trace.metadata["tool"] == "get_weather" and trace.metadata["task"] == "Help me pack for my Lisbon trip"
    assert "namespace" in out["memos_consolidation"]  # the final consolidation ran
    # a second run's planner sees the executor's trace
    model2 = ScriptedToolModel(plan_script)
    graph2 = create_plan_execute_agent(model2, [get_weather], memory=memos)
    config2 = {"configurable": {"thread_id": "p2", "user_id": "alice"}}
    graph2.invoke({"messages": [HumanMessage("Pack for Lisbon again")]}, config2)
    assert '<tool_trace tool="get_weather"' in system_text(model2.inputs[0])


def test_parse_plan() -> None:
    assert parse_plan("Plan:\n1. a\n2) b\n- c\n", 5) == ["a", "b", "c"]
    assert parse_plan("just do it", 5) == ["just do it"]
    assert parse_plan("1. a\n2. b\n3. c", 2) == ["a", "b"]
    with pytest.raises(InvalidPlanError):
        parse_plan("  \n", 3)


def _load(spec: str) -> Any:
    """Load ``./path.py:attr`` as langgraph-api does (by file path, no package import)."""
    path, _, attr = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location(f"lg_{Path(path).stem}", ROOT / path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, attr)


def test_graphs_load_from_langgraph_json() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["store"]["path"] == "langchain_memos.integrations.store.make_store"
    assert set(config["graphs"]) == {"react_memory", "plan_execute_memory", "consolidation"}
    model = ScriptedToolModel(lambda m: AIMessage("ok"))
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as memos, MemOSStore(memos) as store:
        memos.add(["Ann likes tea", "Ann likes tea"], ("users", "ann"), owner="ann")
        for name, spec in config["graphs"].items():
            target = _load(spec)
            if hasattr(target, "invoke"):
                graph = target
            else:  # the factories are async (the API server calls them on its event loop)
                assert inspect.iscoroutinefunction(target), name
                graph = asyncio.run(target({"configurable": {"model": model}}))
            assert hasattr(graph, "get_graph") and graph.get_graph().nodes
            graph = graph.copy(update={"store": store})
            if name == "consolidation":
                out = graph.invoke({"messages": []}, context={"user_id": "ann"})
                assert out["memos_consolidation"]["deduplicated"] >= 1
            elif name == "react_memory":
                out = graph.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"user_id": "ann"}})
                assert out["messages"][-1].text == "ok"
