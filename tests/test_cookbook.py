"""Every cookbook recipe runs offline (so none rots)."""

from __future__ import annotations

from pathlib import Path

from cookbook import personal_assistant, swap_store


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
    assert f'date="{last_week}">human: My sister Ana is visiting from Porto this Friday.' in seen
    # thread 3: "last week" became a date range: last week's turns only, not older or newer ones
    [period] = threads["today-3"]["tool_results"]
    assert "Ana is visiting" in period and "decaf after 4pm" in period
    assert "half marathon" not in period and "vegetarian" not in period
    assert "recall finds" in capsys.readouterr().out
