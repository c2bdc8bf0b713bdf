"""The memos CLI: demo, add, search, show, doctor (hashing embedder: no model load)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_memos.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_demo_prints_retrieved_memories_with_reasons(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, "demo", "--embed", "hash", "--path", str(tmp_path / "demo"))
    assert code == 0
    assert "Stored 14 memories" in out
    assert "Q: What food restrictions does Maya have?" in out and "why:" in out
    assert "<memories" in out and "</memories>" in out


def test_demo_json_answers_from_memory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, "demo", "--embed", "hash", "--json", "--path", str(tmp_path / "demo"))
    payload = json.loads(out)
    assert code == 0 and payload["stored"] == 14
    top = {r["question"]: r["hits"][0]["content"] for r in payload["results"]}
    assert "Airflow" in top["Which tool is Maya migrating the pipeline to?"]
    assert "cello" in top["What instrument is Maya learning?"]
    assert all(r["hits"][0]["reasons"] for r in payload["results"])


def test_add_search_show_doctor(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    code, out = run(capsys, "add", "Bob is allergic to peanuts", "--ns", "users/bob", "--embed", "hash",
                    "--path", path, "--metadata", '{"severity": 3}', "--type", "fact", "--json")
    cube_id = json.loads(out)["ids"][0]
    code, out = run(capsys, "search", "peanut allergy", "--ns", "users", "--embed", "hash", "--path", path,
                    "--filter", '{"severity": {"$gte": 2}}', "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["id"] == cube_id and hits[0]["namespace"] == ["users", "bob"]
    code, out = run(capsys, "show", cube_id, "--embed", "hash", "--path", path)
    assert code == 0 and "Bob is allergic to peanuts" in out and "fact" in out
    code, out = run(capsys, "doctor", "--embed", "hash", "--path", path, "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, _ = run(capsys, "show", "missing-id", "--embed", "hash", "--path", path)
    assert code == 1


def test_typed_errors_become_clear_messages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["search", "x", "--filter", '{"a": {"$bogus": 1}}', "--embed", "hash", "--path", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown filter operator" in err
