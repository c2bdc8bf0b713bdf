"""Kept query embeddings: a query searched again is not embedded again (MemOS, MemOSStore, an agent run),
with the same answers; the cache is bounded, copies in and out, follows a replaced embedder, and turns off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_memos import MemOS, MemOSConfig
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.engine.query_cache import QueryVectors
from langchain_memos.errors import InvalidInputError
from langchain_memos.integrations.agents import create_memos_agent
from langchain_memos.integrations.store import MemOSStore

TEXTS = ["Alice prefers green tea in the morning", "Bob drinks espresso after lunch", "Alice visited Lisbon in May"]


class CountingEmbeddings(HashingEmbeddings):
    """Counts the queries it embeds (sync and async)."""

    def __init__(self) -> None:
        super().__init__(64)
        self.queries: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return super().embed_query(text)

    async def aembed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return super().embed_query(text)


def answers(hits: Any) -> list[tuple[str, float, dict[str, float]]]:
    return [(h.cube.id, h.score, h.reasons) for h in hits]


def test_query_vectors_keep_the_last_ones_as_copies() -> None:
    kept = QueryVectors(2)
    kept.put("a", [1.0, 2.0])
    kept.put("b", [3.0, 4.0])
    got = kept.get("a")  # "a" is now the most recent: "b" goes first
    assert got == [1.0, 2.0]
    got.append(9.0)
    assert kept.get("a") == [1.0, 2.0]  # the caller's list is its own
    kept.put("c", [5.0, 6.0])
    assert kept.get("b") is None and kept.get("a") == [1.0, 2.0] and kept.get("c") == [5.0, 6.0]
    assert (len(kept), kept.hits, kept.misses) == (2, 4, 1)
    kept.clear()
    assert kept.get("a") is None and len(kept) == 0
    off = QueryVectors(0)
    off.put("a", [1.0])
    assert off.get("a") is None and len(off) == 0
    with pytest.raises(InvalidInputError, match="query_cache_size"):
        QueryVectors(-1)


def test_a_query_searched_again_is_embedded_once_with_the_same_answers() -> None:
    embedder = CountingEmbeddings()
    with MemOS.ephemeral(embeddings=embedder) as memos:
        memos.add(TEXTS, ("u",))
        embedder.queries.clear()
        first = memos.search("Where did Alice travel?", ("u",), k=2)
        again = memos.search("Where did Alice travel?", ("u",), k=2)
        after = asyncio.run(memos.asearch("Where did Alice travel?", ("u",), k=2))
        assert len(embedder.queries) == 1
        assert answers(first) == answers(again) == answers(after)
        assert first[0].cube.content == "Alice visited Lisbon in May"
        assert again.timings.stages_ms["query_embedding"] >= 0.0
        memos.search("What does Bob drink?", ("u",), k=2)  # another text: embedded
        assert len(embedder.queries) == 2
        replacement = CountingEmbeddings()
        memos.engine.embeddings = replacement  # a new embedder: the kept vectors were another model's
        memos.search("Where did Alice travel?", ("u",), k=2)
        assert replacement.queries == ["Where did Alice travel?"] and len(embedder.queries) == 2


def test_query_cache_size_zero_embeds_every_query() -> None:
    embedder = CountingEmbeddings()
    with MemOS(config=MemOSConfig(path=None, vector_backend="chroma-ephemeral", query_cache_size=0),
               embeddings=embedder) as memos:
        memos.add(TEXTS, ("u",))
        embedder.queries.clear()
        first = memos.search("Alice tea", ("u",), k=2)
        assert answers(memos.search("Alice tea", ("u",), k=2)) == answers(first)
        assert embedder.queries == ["Alice tea", "Alice tea"]


def test_store_searches_of_one_text_embed_it_once() -> None:
    embedder = CountingEmbeddings()
    with MemOSStore(index={"dims": 64, "embed": embedder}) as store:
        for i, text in enumerate(TEXTS):
            store.put(("docs", "u"), f"k{i}", {"text": text})
        embedder.queries.clear()
        found = store.search(("docs",), query="green tea", limit=2)
        again = asyncio.run(store.asearch(("docs",), query="green tea", limit=2))
        assert [(i.key, i.score) for i in found] == [(i.key, i.score) for i in again]
        assert found[0].key == "k0" and embedder.queries == ["green tea"]
    engine_model, index_model = CountingEmbeddings(), CountingEmbeddings()
    with MemOS.ephemeral(embeddings=engine_model) as memos:  # a store over a memory that embeds with another model
        store = MemOSStore(memos, index={"dims": 64, "embed": index_model})
        store.put(("docs", "u"), "k0", {"text": TEXTS[0]})
        index_model.queries.clear()
        store.search(("docs",), query="green tea", limit=2)
        store.search(("docs",), query="green tea", limit=2)
        assert index_model.queries == ["green tea", "green tea"] and engine_model.queries == []


def test_an_agent_run_embeds_its_query_once_for_every_model_call_and_tool_suggestion() -> None:
    """A ReAct run calls the model before and after each tool call; every call recalls memory (and tool
    suggestions) for the same last human message: one embedding serves them all."""
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    from langgraph_fakes import ScriptedToolModel

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny in {city}"

    def script(messages: list[Any]) -> AIMessage:
        tool_results = sum(1 for m in messages if m.type == "tool")
        if tool_results < 2:  # two tool calls, so three model calls
            return AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Lisbon"},
                                              "id": f"w{tool_results}"}])
        return AIMessage("It is sunny in Lisbon.")

    embedder = CountingEmbeddings()
    with MemOS.ephemeral(embeddings=embedder) as memos:
        memos.add("My favourite city is Lisbon", ("users", "alice"))
        model = ScriptedToolModel(script)
        agent = create_memos_agent(model, [get_weather], memory=memos, checkpointer=InMemorySaver())
        embedder.queries.clear()
        question = "What is the weather in my favourite city?"
        agent.invoke({"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": "t", "user_id": "alice"}})
        assert len(model.inputs) == 3
        assert all("My favourite city is Lisbon" in m[0].text for m in model.inputs)  # memory in every call
        assert embedder.queries.count(question) == 1, embedder.queries
        assert memos.engine.query_vectors.hits >= 5  # 3 memory recalls + 3 tool suggestions, one embedding
