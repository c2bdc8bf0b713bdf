"""Every cookbook recipe runs offline (so none rots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cookbook import customer_support, personal_assistant, research_agent, swap_store


def test_swap_store_recipe(tmp_path: Path, capsys) -> None:
    results = swap_store.main(["--embed", "hash", "--path", str(tmp_path / "mem")])
    memos = results["MemOSStore"]
    assert "Lisbon" in memos["When is my Lisbon trip?"][0]
    assert results["reopened"] == {"notes": ["5"]}
    assert set(results["InMemoryStore"]) == set(memos)
    assert "== MemOSStore" in capsys.readouterr().out


def test_personal_assistant_recipe(capsys) -> None:
    result = personal_assistant.main(["--embed", "hash"])
    threads = result["threads"]
    # thread 1: the preference went through the save_memory tool into long-term memory
    assert result["preferences"] == ["Maya says: I'm vegetarian and I prefer window tables"]
    # thread 2: the first model call saw the thread-1 preference and last week's session, with its date
    seen = threads["today-2"]["model_inputs"][0]
    last_week = result["session_dates"]["past-1"]
    assert "I'm vegetarian and I prefer window tables" in seen
    assert f'date="{last_week}">user: My sister Ana is visiting from Porto this Friday.' in seen
    # thread 3: "last week" became a date range: last week's turns only, not older or newer ones
    [period] = threads["today-3"]["tool_results"]
    assert "Ana is visiting" in period and "decaf after 4pm" in period
    assert "half marathon" not in period and "vegetarian" not in period
    assert "recall finds" in capsys.readouterr().out


def test_customer_support_recipe() -> None:
    result = customer_support.main(["--embed", "hash"])
    first_101 = result["tickets"]["ticket-101"]["model_inputs"][0]
    assert "<tool_memory" not in first_101  # nothing to suggest yet
    # ticket 102's first model call: the past ticket and which tool fixed it (with stats)
    seen = result["tickets"]["ticket-102"]["model_inputs"][0]
    assert "My files stopped syncing on my laptop." in seen
    assert '<tool_trace tool="clear_sync_cache" outcome="success" calls="1" success_rate="1.00"' in seen
    assert '<tool_trace tool="restart_sync" outcome="error" calls="1" success_rate="0.00"' in seen
    assert "upload queue is still stuck" in seen  # the failed call's error
    # every call was recorded as a trace of its thread
    traces = sorted((t["thread_id"], t["tool"], t["outcome"]) for t in result["traces"])
    assert traces == [("ticket-101", "clear_sync_cache", "success"), ("ticket-101", "restart_sync", "error"),
                      ("ticket-102", "clear_sync_cache", "success")]
    assert all(t["args"] == {"device": "laptop"} for t in result["traces"])
    stats = result["stats"]
    assert (stats["clear_sync_cache"]["calls"], stats["clear_sync_cache"]["success_rate"]) == (2, 1.0)
    assert (stats["restart_sync"]["calls"], stats["restart_sync"]["failures"]) == (1, 1)


def test_research_agent_recipe() -> None:
    result = research_agent.main(["--embed", "hash"])
    chunks, counts = result["chunks"], result["ingested"]
    assert set(counts) == {"bees.txt", "sourdough.txt", "trams.txt"} and all(n >= 2 for n in counts.values())
    # provenance = source file + chunk index; ingesting twice replaced, not duplicated
    assert sorted(c["ref"] for c in chunks) == sorted(f"{name}#{i}" for name, n in counts.items() for i in range(n))
    assert all(c["ref"] == f"{c['source']}#{c['chunk']}" for c in chunks)
    expected = {research_agent.QUESTIONS[0]: ("bees.txt#1", "encodes distance"),
                research_agent.QUESTIONS[1]: ("sourdough.txt#0", "leavens the bread"),
                research_agent.QUESTIONS[2]: ("trams.txt#0", "electrified in 1901")}
    for question, (ref, words) in expected.items():
        [found] = result["answers"][question]["tool_results"]
        assert found.startswith(f"[{ref}]") and words in found  # the best passage, with its source ...
        assert any(found in text for text in result["answers"][question]["model_inputs"][-1])  # ... reached the model
        passage = found.split("\n")[1]
        assert passage in " ".join(research_agent.NOTES[ref.split("#")[0]].split())  # and is the file's own text


def test_recipes_use_the_model_named_in_the_environment(monkeypatch) -> None:
    import langchain.chat_models

    from cookbook import _models

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", lambda name: ("init_chat_model", name))
    monkeypatch.setenv(_models.MODEL_ENV, "openai:gpt-4o-mini")
    assert _models.chat_model(personal_assistant.assistant_script) == ("init_chat_model", "openai:gpt-4o-mini")
    monkeypatch.delenv(_models.MODEL_ENV)
    assert isinstance(_models.chat_model(personal_assistant.assistant_script), _models.ScriptedChatModel)


@pytest.mark.server
def test_scale_out_recipe_on_a_real_chroma_server(chroma_server, tmp_path) -> None:
    from cookbook import scale_out

    host, port = chroma_server
    result = scale_out.main(["--embed", "hash", "--path", str(tmp_path / "records"), "--chroma-host", host,
                             "--chroma-port", str(port), "--collection", "cookbook-scale-out"])
    assert "Chroma server" in result["where"]["vectors"] and result["where"]["vectors_indexed"] > 0
    # the assistant behaves as on the embedded default: thread 1's preference reaches thread 2's model call
    assert "I'm vegetarian and I prefer window tables" in result["threads"]["today-2"]["model_inputs"][0]


def test_game_npc_recipe_on_a_tiny_model(tiny_llama_dir, tmp_path) -> None:
    pytest.importorskip("peft")
    from cookbook import game_npc
    from langchain_memos.parametric import LoRASettings

    fast = LoRASettings(rank=4, alpha=8, epochs=3, batch_size=8, learning_rate=5e-3, top_layers=None,
                        paraphrases=2, max_length=64)
    result = game_npc.main(["--embed", "hash", "--base-model", str(tiny_llama_dir), "--adapters",
                            str(tmp_path / "adapters"), "--max-new-tokens", "4"], settings=fast)
    manifest = result["manifest"]
    assert len(manifest.sources) == len(game_npc.PERSONA) and manifest.namespace == game_npc.NPC
    assert result["nll_adapter"] < result["nll_base"]  # the persona is in the adapter's weights
    assert any("star iron" in text for text in result["retrieved"])  # the player's promise
    assert result["reply"].response_metadata["adapter"] == manifest.adapter_id
