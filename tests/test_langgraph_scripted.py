"""The scripted tool-calling model the langgraph.json graphs run on offline (``MEMOS_MODEL=scripted``)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_memos import MemOS
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSStore
from langchain_memos.integrations.agents import model_from_config
from langchain_memos.integrations.scripted import (ScriptedChatModel, best_memory, memory_script,
                                                   scripted_memory_model)

BLOCK = ('<memories note="...">\n'
         '<memory id="a" type="plaintext" date="2025-01-01">Ann lives in Porto</memory>\n'
         '<memory id="b" type="plaintext" date="2025-01-02">Ann&#39;s cat is called Pixel &amp; naps</memory>\n'
         '</memories>')


def test_memory_script_saves_what_it_is_told_then_acknowledges_the_tool() -> None:
    call = memory_script([HumanMessage("Please remember: the door code is 4512!")])
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("save_memory", {"content": "the door code is 4512"})]
    done = memory_script([HumanMessage("Remember that x"), call,
                          ToolMessage("Saved memory m1.", tool_call_id=call.tool_calls[0]["id"])])
    assert done.content == "Noted: Saved memory m1." and not done.tool_calls


def test_memory_script_answers_from_the_memory_block_it_was_given() -> None:
    reply = memory_script([SystemMessage(BLOCK), HumanMessage("What is the name of Ann's cat?")])
    assert reply.content == "From memory: Ann's cat is called Pixel & naps"  # unescaped
    assert reply.response_metadata["memories_seen"] == ["Ann lives in Porto", "Ann's cat is called Pixel & naps"]
    unknown = memory_script([HumanMessage("What is my dog called?")])
    assert unknown.content == "I don't know that yet." and unknown.response_metadata["memories_seen"] == []


def test_best_memory_needs_a_shared_content_word() -> None:
    assert best_memory("where does Ann live?", ["Bob likes tea", "Ann lives in Porto"]) == "Ann lives in Porto"
    assert best_memory("what is the weather?", ["Bob likes tea"]) is None


def test_scripted_model_keeps_its_inputs_and_plays_a_reply_list() -> None:
    model = ScriptedChatModel([AIMessage("one"), AIMessage("two")])
    assert [model.invoke("a").content, model.invoke("b").content] == ["one", "two"]
    assert [m[0].content for m in model.inputs] == ["a", "b"]
    assert model.bind_tools([]) is model


def test_model_from_config_selects_the_scripted_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMOS_MODEL", raising=False)
    assert isinstance(model_from_config({"configurable": {"model": "scripted"}}), ScriptedChatModel)
    monkeypatch.setenv("MEMOS_MODEL", "scripted")
    assert isinstance(model_from_config({}), ScriptedChatModel)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_react_memory_graph_on_the_scripted_model(mode: str) -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("react_memory", Path(__file__).parent.parent / "graphs" /
                                                  "react_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with MemOS.ephemeral(embeddings=HashingEmbeddings(256)) as memos, MemOSStore(memos) as store:
        graph = (await module.make_graph({"configurable": {"model": "scripted"}})).copy(update={"store": store})

        async def run(text: str, user: str) -> Any:
            state, context = {"messages": [HumanMessage(text)]}, {"user_id": user}
            out = graph.invoke(state, context=context) if mode == "sync" else \
                await graph.ainvoke(state, context=context)
            return out["messages"][-1]

        await run("Remember that my dog is called Biscuit", "alice")
        answer = await run("What is my dog called?", "alice")
        assert "my dog is called Biscuit" in answer.response_metadata["memories_seen"]
        assert "Biscuit" in answer.content
        assert (await run("What is my dog called?", "bob")).content == "I don't know that yet."


def test_scripted_memory_model_is_fresh_per_call() -> None:
    assert scripted_memory_model() is not scripted_memory_model()
