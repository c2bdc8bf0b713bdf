"""The memory agent flow on the local SmolLM2-135M (slow: loads the real model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_smollm2_memory_agent_two_threads(smollm2_installed: Path) -> None:
    from langchain_memos import MemOS
    from langchain_memos.activation import ChatMemOSLocal
    from langchain_memos.embeddings import HashingEmbeddings
    from langchain_memos.integrations.nodes import MemoryNodes

    spec = importlib.util.spec_from_file_location("cookbook_smollm2", ROOT / "cookbook" / "langgraph_memory_smollm2.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)

    chat = ChatMemOSLocal.from_smollm2(max_new_tokens=16)
    with MemOS.ephemeral(embeddings=HashingEmbeddings(256)) as memos:
        result = recipe.run_demo(memos, chat)
        texts = result["system_texts"]
        alice_t2 = [t for t in texts if "Biscuit" in t]
        assert alice_t2, "the thread-1 fact never reached a thread-2 prompt"
        assert "<memories" in alice_t2[0]
        assert all("Biscuit" not in t for t in texts[-1:])  # bob's call
        assert all(isinstance(a, str) for a in result["answers"].values())
        # the local model's KV cache: warming the same memory prefix is a cache hit
        nodes = MemoryNodes(model=chat)
        report = nodes.inject_kv_prefix.invoke({"memos_context": alice_t2[0]})["memos_kv_prefix"]
        assert report["cached"] is True and report["tokens"] > 20
