"""create_memos_agent end to end: two threads of one user, tool traces, isolation, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_memos import MemOS, MemoryType
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations.agents import create_memos_agent
from langchain_memos.integrations.errors import MissingUserIdError
from langchain_memos.integrations.settings import MemorySettings

from langgraph_fakes import ScriptedToolModel, last_human, system_text


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny and 24C in {city}"


def script(messages: list[BaseMessage]) -> AIMessage:
    """Weather questions use the tool once; anything else gets a plain answer."""
    question = last_human(messages).lower()
    if "weather" in question and messages[-1].type != "tool":
        return AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Lisbon"},
                                          "id": f"w{len(messages)}"}])
    return AIMessage("Noted." if "weather" not in question else "It is sunny in Lisbon.")


@pytest.fixture()
def memos() -> Any:
    with MemOS.ephemeral(embeddings=HashingEmbeddings(64)) as m:
        yield m


def run(agent: Any, text: str, user: str, thread: str) -> dict[str, Any]:
    return agent.invoke({"messages": [HumanMessage(text)]},
                        {"configurable": {"thread_id": thread, "user_id": user}})


async def arun(agent: Any, text: str, user: str, thread: str) -> dict[str, Any]:
    return await agent.ainvoke({"messages": [HumanMessage(text)]},
                               {"configurable": {"thread_id": thread, "user_id": user}})


def check_two_threads(model: ScriptedToolModel, memos: MemOS, thread2_state: dict[str, Any], bob_input: str) -> None:
    thread2_inputs = [m for m in model.inputs if "weather" in last_human(m).lower() and "Porto" in last_human(m)]
    seen = system_text(thread2_inputs[0])
    assert "My favourite city is Lisbon" in seen  # a fact from thread 1
    assert '<tool_trace tool="get_weather" outcome="success"' in seen  # a tool used in thread 1 ...
    assert 'success_rate="1.00"' in seen  # ... with its stats
    assert seen.index("<memories") < seen.index("<tool_memory")
    # memory is ephemeral: not in the persisted history
    assert all(m.type != "system" for m in thread2_state["messages"])
    assert "<memories" not in "".join(m.text for m in thread2_state["messages"])
    # the other user saw nothing of alice's
    assert "Lisbon" not in bob_input and "get_weather" not in bob_input
    traces = memos.list(("users", "alice"), types=[MemoryType.TOOL_TRACE])
    assert {c.metadata["tool"] for c in traces} == {"get_weather"}
    assert all(c.metadata["outcome"] == "success" and c.metadata["latency_ms"] >= 0 for c in traces)
    assert traces[0].metadata["args"] == {"city": "Lisbon"}
    assert {c.metadata["thread_id"] for c in memos.list(("users", "bob"), types=[MemoryType.TOOL_TRACE])} == {"b2"}


def forbid(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
    """Make these MemOSMiddleware hooks fail, so a test proves the other (sync or async) path ran."""
    from langchain_memos.integrations.middleware import MemOSMiddleware

    def wrap_boom(self: Any, request: Any, handler: Any) -> Any:
        raise AssertionError("wrong sync/async hook path")

    def node_boom(self: Any, state: Any, runtime: Any) -> Any:  # same signature: runtime stays injected
        raise AssertionError("wrong sync/async hook path")

    for name in names:
        monkeypatch.setattr(MemOSMiddleware, name, node_boom if "after_agent" in name else wrap_boom)


ASYNC_HOOKS = ["awrap_model_call", "awrap_tool_call", "aafter_agent"]
SYNC_HOOKS = ["wrap_model_call", "wrap_tool_call", "after_agent"]


def test_two_threads_one_user_sync(memos: MemOS, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid(monkeypatch, ASYNC_HOOKS)
    model = ScriptedToolModel(script)
    agent = create_memos_agent(model, [get_weather], memory=memos, checkpointer=InMemorySaver())
    run(agent, "My favourite city is Lisbon.", "alice", "t1")
    run(agent, "What is the weather in Lisbon?", "alice", "t1")
    run(agent, "Remember that I like tea.", "bob", "b1")
    out = run(agent, "Plan a trip: what is the weather in Porto, and which city is my favourite?", "alice", "t2")
    bob_out = run(agent, "Which city is my favourite? weather in Porto?", "bob", "b2")
    bob_input = system_text(model.inputs[-2])  # bob's first call in b2
    check_two_threads(model, memos, out, bob_input)
    assert bob_out["messages"][-1].text


async def test_two_threads_one_user_async(memos: MemOS, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid(monkeypatch, SYNC_HOOKS)
    model = ScriptedToolModel(script)
    agent = create_memos_agent(model, [get_weather], memory=memos, checkpointer=InMemorySaver())
    await arun(agent, "My favourite city is Lisbon.", "alice", "t1")
    await arun(agent, "What is the weather in Lisbon?", "alice", "t1")
    await arun(agent, "Remember that I like tea.", "bob", "b1")
    out = await arun(agent, "Plan a trip: what is the weather in Porto, and which city is my favourite?",
                     "alice", "t2")
    await arun(agent, "Which city is my favourite? weather in Porto?", "bob", "b2")
    check_two_threads(model, memos, out, system_text(model.inputs[-2]))


def test_memory_block_is_byte_stable_and_after_the_static_prompt(memos: MemOS) -> None:
    model = ScriptedToolModel(lambda m: AIMessage("ok"))
    agent = create_memos_agent(model, [], memory=memos, system_prompt="You are Ada.",
                               settings=MemorySettings(tool_suggestions=False))
    memos.add("Alice keeps bees in Sintra", ("users", "alice"), owner="alice")
    for thread in ("a", "a"):  # this thread's own turns are in the conversation, not the block
        run(agent, "Tell me about my bees", "alice", thread)
    first, second = (system_text(m) for m in model.inputs)
    assert first == second and first.startswith("You are Ada.\n\n<memories")
    assert "Alice keeps bees in Sintra" in first


def test_missing_user_is_a_typed_error(memos: MemOS) -> None:
    agent = create_memos_agent(ScriptedToolModel(lambda m: AIMessage("ok")), [], memory=memos)
    with pytest.raises(MissingUserIdError, match="user_id"):
        agent.invoke({"messages": [HumanMessage("hi")]})


def test_context_user_id_and_failed_tool_trace(memos: MemOS) -> None:
    @tool
    def flaky(x: int) -> str:
        """Always fails."""
        raise RuntimeError("backend down")

    def calls_flaky(messages: list[BaseMessage]) -> AIMessage:
        if messages[-1].type == "tool":
            return AIMessage("failed")
        return AIMessage("", tool_calls=[{"name": "flaky", "args": {"x": 1}, "id": "f1"}])

    agent = create_memos_agent(ScriptedToolModel(calls_flaky), [flaky], memory=memos)
    with pytest.raises(RuntimeError, match="backend down"):
        agent.invoke({"messages": [HumanMessage("try flaky")]}, context={"user_id": "carol"})
    [trace] = memos.list(("users", "carol"), types=[MemoryType.TOOL_TRACE])
    assert trace.metadata["outcome"] == "error" and "backend down" in trace.metadata["error"]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_after_agent_schedules_consolidation(memos: MemOS, mode: str) -> None:
    from langchain_memos.scheduler import MemScheduler

    agent = create_memos_agent(ScriptedToolModel(lambda m: AIMessage("ok")), [], memory=memos,
                               settings=MemorySettings(consolidate_every=2), checkpointer=InMemorySaver())
    with MemScheduler(memos) as scheduler:
        for text in ("I like tea", "I like tea a lot"):
            state = {"messages": [HumanMessage(text)]}
            config = {"configurable": {"thread_id": "t"}}
            context = {"user_id": "ann", "scheduler": scheduler}
            if mode == "sync":
                agent.invoke(state, config, context=context)
            else:
                await agent.ainvoke(state, config, context=context)
            assert scheduler.wait(timeout=30)
            jobs = scheduler.status().jobs
            assert jobs.get("consolidate", 0) == (0 if text == "I like tea" else 1)  # on the 2nd human turn


def test_after_agent_consolidates_inline_without_a_scheduler(memos: MemOS) -> None:
    memos.add(["Ann likes tea", "Ann likes tea"], ("users", "ann"), owner="ann")
    agent = create_memos_agent(ScriptedToolModel(lambda m: AIMessage("ok")), [], memory=memos,
                               settings=MemorySettings(consolidate_every=1))
    agent.invoke({"messages": [HumanMessage("hello")]}, {"configurable": {"user_id": "ann"}})
    hot = [c for c in memos.list(("users", "ann")) if c.content == "Ann likes tea" and c.tier.value != "archive"]
    assert len(hot) == 1  # the duplicate was merged and archived
