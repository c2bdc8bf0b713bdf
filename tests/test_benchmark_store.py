"""The store benchmark runs end to end on a tiny workload and writes every key the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks._common import FakeEmbeddings
from benchmarks.store import CATEGORIES, STORES, main, make_items, make_queries

PER_STORE_KEYS = {"put_per_s", "search_ms_p50", "search_ms_p95", "get_ms_p50", "peak_rss_mb"}


def test_workload_is_deterministic_and_filters_a_tenth() -> None:
    items = make_items(2000, seed=3)
    assert items == make_items(2000, seed=3) and make_queries(20, 3) == make_queries(20, 3)
    assert len({key for _, key, _ in items}) == 2000 and len({v["text"] for _, _, v in items}) == 2000
    share = sum(v["category"] == CATEGORIES[0] for _, _, v in items) / len(items)
    assert 0.05 < share < 0.15
    assert all(set(v) == {"text", "category", "score", "user"} for _, _, v in items)
    emb = FakeEmbeddings(16)
    assert emb.embed_query("green tea") == emb.embed_documents(["green tea"])[0]
    assert abs(sum(x * x for x in emb.embed_query("green tea")) - 1.0) < 1e-5


def test_benchmark_writes_every_required_key(tmp_path: Path, capsys) -> None:
    out = tmp_path / "store.json"
    payload = main(["--n", "300", "--queries", "8", "--gets", "8", "--batch", "100", "--embed", "fake",
                    "--json", str(out), "--no-progress"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert set(payload["stores"]) == set(STORES)
    for name, result in payload["stores"].items():
        assert PER_STORE_KEYS <= set(result), name
        assert all(result[key] > 0 for key in PER_STORE_KEYS), (name, result)
        assert result["search_wrong_category"] == 0 and result["get_missing"] == 0, name
        assert result["search_hits_mean"] == 10, name
    assert payload["search_p95_speedup_vs_inmemory"] > 0 and payload["put_ratio_vs_inmemory"] > 0
    assert payload["workload"]["isolated_processes"] is True
    assert "MemOSStore" in capsys.readouterr().out  # the readable table


def test_index_worker_option_reaches_memos_store_and_its_rss_is_counted(tmp_path: Path) -> None:
    runs = {}
    for after in ("0", "none"):
        runs[after] = main(["--n", "300", "--queries", "4", "--gets", "4", "--batch", "100", "--stores", "memos",
                            "--index-worker-after", after, "--no-progress", "--in-process"])["stores"]["memos"]
    assert runs["0"]["index_worker_rss_mb"] > 0 and runs["none"]["index_worker_rss_mb"] == 0
    for result in runs.values():
        assert result["search_wrong_category"] == 0 and result["get_missing"] == 0 and result["search_hits_mean"] == 10
