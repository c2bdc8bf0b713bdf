"""MemOSStore where LangGraph users use it: graph nodes, injected tools, create_agent, langgraph.json."""

from __future__ import annotations

import importlib

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain.tools import InjectedStore, ToolRuntime
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSStore

INDEX = {"dims": 64, "embed": HashingEmbeddings(64), "fields": ["text"]}


@dataclass
class Context:
    user_id: str


class State(TypedDict, total=False):
    question: str
    remembered: list[str]


def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    runtime.store.put(("users", runtime.context.user_id), "fact-1", {"text": "prefers window seats on trains"})
    return {}


def recall(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    items = runtime.store.search(("users", runtime.context.user_id), query=state["question"], limit=3)
    return {"remembered": [i.value["text"] for i in items]}


async def arecall(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    items = await runtime.store.asearch(("users", runtime.context.user_id), query=state["question"], limit=3)
    return {"remembered": [i.value["text"] for i in items]}


def build(recall_node: Any) -> StateGraph:
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("remember", remember)
    builder.add_node("recall", recall_node)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "recall")
    builder.add_edge("recall", END)
    return builder


def test_state_graph_nodes_read_runtime_store(tmp_path: Path) -> None:
    with MemOSStore.from_path(str(tmp_path / "mem"), index=INDEX) as store:
        graph = build(recall).compile(store=store)
        out = graph.invoke({"question": "which seats on trains?"}, context=Context(user_id="ann"))
        assert out["remembered"] == ["prefers window seats on trains"]
        other = graph.invoke({"question": "which seats?"}, context=Context(user_id="bob"))
        assert other["remembered"] == ["prefers window seats on trains"]  # bob's own write
        assert store.get_cube(("users", "ann"), "fact-1").source == "langgraph-store"


async def test_async_graph_with_store(tmp_path: Path) -> None:
    with MemOSStore.from_path(str(tmp_path / "mem"), index=INDEX) as store:
        graph = build(arecall).compile(store=store)
        out = await graph.ainvoke({"question": "trains"}, context=Context(user_id="ann"))
        assert out["remembered"] == ["prefers window seats on trains"]


class ToolCallingFakeModel(GenericFakeChatModel):
    """LangChain's fake chat model with ``bind_tools`` (which the stock fake lacks)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ToolCallingFakeModel":
        return self


def test_create_agent_with_injected_store_and_tool_runtime(tmp_path: Path) -> None:
    @tool
    def save_note(text: str, store: Annotated[BaseStore, InjectedStore()]) -> str:
        """Save a note to long-term memory."""
        store.put(("notes",), "latest", {"text": text})
        return "saved"

    @tool
    def find_note(query: str, runtime: ToolRuntime) -> str:
        """Find a note in long-term memory."""
        hits = runtime.store.search(("notes",), query=query, limit=1)
        return hits[0].value["text"] if hits else "nothing"

    script = iter([
        AIMessage("", tool_calls=[{"name": "save_note", "args": {"text": "the wifi password is hunter2"},
                                   "id": "c1"}]),
        AIMessage("", tool_calls=[{"name": "find_note", "args": {"query": "wifi password"}, "id": "c2"}]),
        AIMessage("The wifi password is hunter2."),
    ])
    model = ToolCallingFakeModel(messages=script)
    with MemOSStore.from_path(str(tmp_path / "mem"), index=INDEX) as store:
        agent = create_agent(model, tools=[save_note, find_note], store=store)
        result = agent.invoke({"messages": [HumanMessage("remember the wifi password, then look it up")]})
        tool_outputs = [m.content for m in result["messages"] if m.type == "tool"]
        assert tool_outputs == ["saved", "the wifi password is hunter2"]
        assert store.get(("notes",), "latest").value == {"text": "the wifi password is hunter2"}


def test_langgraph_json_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from langchain_memos.integrations.store import make_store

    config = json.loads((Path(__file__).resolve().parent.parent / "langgraph.json").read_text())
    # the LangGraph API server takes a dotted module path (or ./file.py:name, relative to its working directory)
    module, _, name = config["store"]["path"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is make_store
    monkeypatch.setenv("MEMOS_PATH", str(tmp_path / "from-env"))
    store = make_store()
    try:
        assert isinstance(store, MemOSStore) and store.index_config["dims"] == 384
        assert (tmp_path / "from-env" / "memos.sqlite3").exists()
    finally:
        store.close()
