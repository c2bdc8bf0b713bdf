"""The store benchmark runs end to end on a tiny workload and writes every key the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks._common import FakeEmbeddings, FullCollections
import benchmarks.store as store_benchmark
from langchain_memos.engine.timings import SEARCH_STAGES
from benchmarks.store import CATEGORIES, DEFAULT_STORES, category_names, main, make_items, make_queries, run_scale

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


def test_categories_set_how_much_each_filter_keeps() -> None:
    """``--categories N``: items in N categories, filters on them, each keeping ~1/N; 10 is the default workload."""
    assert category_names() == CATEGORIES and make_items(500, seed=3, categories=category_names(10)) == make_items(500, 3)
    narrow = category_names(40)
    items = make_items(4000, seed=3, categories=narrow)
    assert {v["category"] for _, _, v in items} == set(narrow)
    assert 0.01 < sum(v["category"] == narrow[0] for _, _, v in items) / len(items) < 0.04
    assert {f["category"] for _, f in make_queries(200, 3, narrow)} <= set(narrow)



def test_fake_embedder_keeps_a_bounded_vocabulary_with_the_same_vectors(monkeypatch) -> None:
    texts = [f"green tea note {i}" for i in range(50)]
    unbounded = FakeEmbeddings(16).embed_documents(texts)
    monkeypatch.setattr(FakeEmbeddings, "WORDS_KEPT", 4)
    emb = FakeEmbeddings(16)
    assert emb.embed_documents(texts) == unbounded  # evicted words come back the same
    assert len(emb._words) == 4 and {"green", "tea", "note"} <= set(emb._words)


def test_full_collections_count_only_full_collections_while_in_use() -> None:
    import gc

    with FullCollections() as full:
        gc.collect(0)
        gc.collect(1)
        assert full.count == 0  # younger generations are not counted
        gc.collect()
        gc.collect()
        assert full.count == 2 and full.total_ms >= full.max_ms > 0
        full.reset()
        assert full.as_dict() == {"count": 0, "total_ms": 0.0, "max_ms": 0.0}
    gc.collect()
    assert full.count == 0  # no longer listening


def test_io_stall_is_a_growing_total_or_not_reported(tmp_path: Path) -> None:
    from benchmarks._common import io_stall_ms

    first = io_stall_ms()
    (tmp_path / "f").write_bytes(b"x" * 1_000_000)
    second = io_stall_ms()
    assert (first is None) == (second is None)
    if first is not None and second is not None:
        assert 0 <= first <= second


def test_benchmark_writes_every_required_key(tmp_path: Path, capsys) -> None:
    out = tmp_path / "store.json"
    payload = main(["--n", "300", "--queries", "8", "--gets", "8", "--batch", "100", "--embed", "fake",
                    "--json", str(out), "--no-progress"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert set(payload["stores"]) == set(DEFAULT_STORES)
    for name, result in payload["stores"].items():
        assert PER_STORE_KEYS <= set(result), name
        assert all(result[key] > 0 for key in PER_STORE_KEYS), (name, result)
        assert result["search_wrong_category"] == 0 and result["get_missing"] == 0, name
        assert result["search_hits_mean"] == 10, name
    assert payload["search_p95_speedup_vs_inmemory"] > 0 and payload["put_ratio_vs_inmemory"] > 0
    assert payload["search_p95_speedup_vs_sqlite"] > 0
    assert payload["workload"]["isolated_processes"] is True
    stages = payload["stores"]["memos"]["search_stages_ms"]  # MemOSStore's per-stage breakdown
    assert list(stages) == [*SEARCH_STAGES, "total"]
    assert sum(stages[s]["mean"] for s in SEARCH_STAGES) == pytest.approx(stages["total"]["mean"], rel=0.02, abs=0.2)
    assert all(stages[s]["mean"] > 0 for s in ("query_embedding", "keyword_search", "vector_search", "fusion"))
    assert payload["stores"]["sqlite"]["search_stages_ms"] == {}  # peers report none
    for result in payload["stores"].values():  # every store's timed searches say what full collections cost
        full = result["search_full_gc"]
        assert set(full) == {"count", "total_ms", "max_ms"} and full["count"] >= 0
        assert full["max_ms"] <= full["total_ms"] and (full["count"] > 0) == (full["total_ms"] > 0)
        stalled = result["search_io_stall_ms"]
        assert stalled is None or stalled >= 0
    out_text = capsys.readouterr().out
    assert "MemOSStore" in out_text and "search stages" in out_text  # the readable table and breakdown
    assert "during the timed searches" in out_text


def test_index_worker_option_reaches_memos_store_and_its_rss_is_counted(tmp_path: Path) -> None:
    runs = {}
    for after in ("0", "none"):
        runs[after] = main(["--n", "300", "--queries", "4", "--gets", "4", "--batch", "100", "--stores", "memos",
                            "--index-worker-after", after, "--no-progress", "--in-process"])["stores"]["memos"]
    assert runs["0"]["index_worker_rss_mb"] > 0 and runs["none"]["index_worker_rss_mb"] == 0
    for result in runs.values():
        assert result["search_wrong_category"] == 0 and result["get_missing"] == 0 and result["search_hits_mean"] == 10


def test_scale_curve_runs_each_size_and_store_and_reports_growth(tmp_path: Path, capsys) -> None:
    payload = main(["--scale", "300,150", "--stores", "memos-server,sqlite,inmemory", "--queries", "4", "--gets", "4",
                    "--batch", "100", "--no-progress", "--in-process", "--json", str(tmp_path / "scale.json")])
    assert list(payload["scale"]) == ["150", "300"] and payload["workload"]["n"] == [300, 150]
    for size, row in payload["scale"].items():
        assert set(row) == {"memos-server", "sqlite", "inmemory"}
        for name, result in row.items():
            assert result["n"] == int(size) and result["get_missing"] == 0 and result["search_wrong_category"] == 0
            assert result["search_hits_mean"] == 10, name
            # a Chroma server's data and memory count toward the store that uses it
            assert (result["disk_bytes_per_item"] > 0) == (name != "inmemory"), name
            assert (result["server_rss_mb"] > 0) == (name == "memos-server"), name
    for name, steps in payload["growth"].items():
        assert [(g["from_n"], g["to_n"], g["items_x"]) for g in steps] == [(150, 300, 2.0)], name
        assert all(g["search_p95_x"] > 0 and g["peak_rss_x"] > 0 for g in steps)
    printed = capsys.readouterr().out
    assert "300 items" in printed and "MemOSStore+srv 150 -> 300 items (x2)" in printed


def test_scale_skips_a_store_whose_projected_memory_is_over_budget(monkeypatch) -> None:
    def fake_run(name, options, in_process=False):
        return {"store": name, "n": options["n"], "peak_rss_mb": {"small": 10.0, "big": 1000.0}[name]}

    monkeypatch.setattr(store_benchmark, "run_isolated", fake_run)
    curve = run_scale([1000, 10_000, 100_000], ["small", "big"], {}, max_rss_mb=5000.0)
    assert [curve[s]["small"].get("skipped") for s in curve] == [None, None, None]
    assert curve["1000"]["big"]["peak_rss_mb"] == 1000.0  # the first size always runs
    for size in ("10000", "100000"):  # 1000 MB at 1,000 items projects to 10,000 MB and more
        assert "over the 4.9 GiB budget" in curve[size]["big"]["skipped"]
    assert curve["10000"]["big"]["skipped"].startswith("projected peak RSS 9.8 GiB (linear from 1,000 items)")
