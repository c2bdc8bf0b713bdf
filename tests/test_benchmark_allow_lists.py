"""The allow-list benchmark runs on a tiny index: exact scoring finds the exact top 50, the graph nearly."""

from __future__ import annotations

import json

from benchmarks.allow_lists import main
from langchain_memos.storage import faiss_allow


def test_allow_list_benchmark_compares_exact_scoring_with_the_graph(tmp_path, capsys) -> None:
    out = tmp_path / "allow.json"
    payload = main(["--n", "4000", "--sizes", "600,3000", "--queries", "6", "--json", str(out)])
    assert json.loads(out.read_text())["sizes"] == payload["sizes"] and set(payload["sizes"]) == {"600", "3000"}
    for row in payload["sizes"].values():
        assert row["exact"]["recall_mean"] == 1.0 and row["exact"]["ms_p50"] > 0
        assert 0.5 <= row["graph"]["recall_mean"] <= 1.0 and row["graph"]["ms_p50"] > 0
    assert faiss_allow.ALLOWED_EXACT_MAX == 8192  # set back after the run
    assert "graph recall" in capsys.readouterr().out
