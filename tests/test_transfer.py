"""Export then import into an empty store gives identical cubes, history, embeddings and sections."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

import pytest

from langchain_memos import InvalidInputError, MemOS, Tier
from langchain_memos.cli import main
from langchain_memos.cube import utcnow
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.transfer import export_jsonl, import_jsonl


def _snapshot(memos: MemOS) -> dict[str, Any]:
    from langchain_memos.transfer import _all_ids

    ids = _all_ids(memos, ())
    cubes = {c.id: c.to_dict(include_history=True) for c in memos.records.get(ids)}
    vectors = {k: [round(float(x), 6) for x in v] for k, v in memos.records.embeddings(ids).items()}
    return {"cubes": cubes, "vectors": vectors}


def _fill(memos: MemOS) -> dict[str, str]:
    ns = ("users", "ada")
    ids = memos.add([{"role": "user", "content": "I live in Boston"},
                     {"role": "assistant", "content": "Noted, Boston it is"}], ns, thread_id="t1")
    memos.add([{"role": "user", "content": "I moved to Denver", "name": "Ada"}], ns, thread_id="t1",
              created_at=utcnow() + timedelta(days=1))
    fact = memos.add("Ada's favourite tea is oolong", ns, memory_type="fact", metadata={"score": 3, "tags": ["x"]})[0]
    memos.update(fact, content="Ada's favourite tea is sencha", reason="changed her mind")
    archived = memos.add("an old note about the 2019 trip", ns)[0]
    memos.demote(archived, Tier.ARCHIVE)
    hidden = memos.add("not searchable", ns, index=False)[0]
    short = memos.add("expires soon", ("users", "bob"), ttl_minutes=1, created_at=utcnow() - timedelta(hours=1))[0]
    return {"turn": ids[0], "fact": fact, "archived": archived, "hidden": hidden, "short": short}


class _Section:
    """A toy export section (the entity graph registers one like it)."""

    name = "toy"

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def export_rows(self, namespace: Sequence[str]) -> list[dict[str, Any]]:
        return list(self.rows)

    def import_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)


def test_round_trip_is_identical() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as source, \
            MemOS.ephemeral(embeddings=HashingEmbeddings()) as target:
        ids = _fill(source)
        src_section, dst_section = _Section(), _Section()
        src_section.rows = [{"a": 1}, {"b": [1, 2]}]
        source.register_section(src_section)
        target.register_section(dst_section)
        buffer = io.StringIO()
        exported = export_jsonl(source, buffer)
        buffer.seek(0)
        assert import_jsonl(target, buffer) == exported >= 7
        assert _snapshot(target) == _snapshot(source)
        assert dst_section.rows == src_section.rows
        # the entity graph came across too (entities, relations, validity times, provenance)
        assert source.graph.export_rows(()) == target.graph.export_rows(())
        assert source.graph.counts(())[1] > 0
        fact = target.get(ids["fact"], touch=False)
        assert fact.version == 2 and [h.content for h in target.history(ids["fact"])][0] == "Ada's favourite tea is oolong"
        assert target.get(ids["archived"], touch=False).tier is Tier.ARCHIVE
        # the imported store searches like the original (vectors and keyword docs rebuilt)
        assert target.search("sencha", ("users",), k=1)[0].cube.id == ids["fact"]
        assert [h.cube.id for h in target.search("not searchable", ("users",))] == \
            [h.cube.id for h in source.search("not searchable", ("users",))]
        assert target.check(repair=False).ok


def test_import_rejects_what_is_not_an_export() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        with pytest.raises(InvalidInputError, match="header"):
            import_jsonl(memos, [json.dumps({"kind": "cube", "cube": {}})])
        with pytest.raises(InvalidInputError, match="not JSON"):
            import_jsonl(memos, ["{nope"])
        with pytest.raises(InvalidInputError, match="format"):
            import_jsonl(memos, [json.dumps({"kind": "header", "format": "other/9"})])
        header = json.dumps({"kind": "header", "format": "langchain-memos/1"})
        with pytest.raises(InvalidInputError, match="kind 'nonsense'"):
            import_jsonl(memos, [header, json.dumps({"kind": "nonsense", "row": {}})])
        with pytest.raises(InvalidInputError, match="lacks 'table'"):
            import_jsonl(memos, [header, json.dumps({"kind": "graph", "row": {}})])
        assert memos.list(()) == []


def test_cli_export_import_stats_consolidate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src, dst, out = str(tmp_path / "src"), str(tmp_path / "dst"), str(tmp_path / "memos.jsonl")
    for text in ("I live in Oslo", "I live in Oslo.", "My dog is called Rex"):
        assert main(["add", text, "--ns", "users/kai", "--embed", "hash", "--path", src]) == 0
    capsys.readouterr()
    assert main(["export", out, "--embed", "hash", "--path", src, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    n = exported["exported"]
    assert exported["file"] == out and n >= 3  # the three notes (plus the facts extracted from them)
    assert main(["import", out, "--embed", "hash", "--path", dst, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"imported": n}
    assert main(["stats", "--embed", "hash", "--path", dst, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["cubes"] == n and stats["by_tier"]["mid_term"] == n and stats["namespaces"] == 1
    assert sum(stats["heat_histogram"].values()) == n and stats["bytes_on_disk"] > 0
    assert main(["stats", "--embed", "hash", "--path", dst]) == 0
    assert f"{n} cubes in 1 namespaces" in capsys.readouterr().out
    assert main(["consolidate", "--ns", "users/kai", "--embed", "hash", "--path", dst, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deduplicated"] >= 1  # the two Oslo notes merge
    with MemOS(dst, embeddings=HashingEmbeddings(dims=256)) as memos:
        tiers = [c.tier.value for c in memos.list(("users",), tiers=list(Tier))]
    assert tiers.count("archive") == report["deduplicated"]


def test_cli_bench_runs_a_benchmark_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "locomo", "--", "--help"]) == 0  # runs `python -m benchmarks.locomo --help`
