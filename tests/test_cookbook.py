"""Every cookbook recipe runs offline (so none rots)."""

from __future__ import annotations

from pathlib import Path

from cookbook import swap_store


def test_swap_store_recipe(tmp_path: Path, capsys) -> None:
    results = swap_store.main(["--embed", "hash", "--path", str(tmp_path / "mem")])
    memos = results["MemOSStore"]
    assert "Lisbon" in memos["When is my Lisbon trip?"][0]
    assert results["reopened"] == {"notes": ["5"]}
    assert set(results["InMemoryStore"]) == set(memos)
    assert "== MemOSStore" in capsys.readouterr().out
