"""The LoCoMo benchmark runs end to end on a small conversation in LoCoMo's format (written here)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks._common import load_locomo, parse_evidence, parse_session_time
from benchmarks.locomo import main
from langchain_memos.engine.timings import SEARCH_STAGES

SAMPLE = [{
    "sample_id": "tiny-1",
    "conversation": {
        "speaker_a": "Nora", "speaker_b": "Ivan",
        "session_1_date_time": "10:00 am on 3 March, 2024",
        "session_1": [
            {"speaker": "Nora", "dia_id": "D1:1", "text": "I finally adopted a greyhound called Comet!"},
            {"speaker": "Ivan", "dia_id": "D1:2", "text": "Congrats! What made you pick a greyhound?"},
            {"speaker": "Nora", "dia_id": "D1:3", "text": "They are calm indoors and love naps."},
        ],
        "session_2_date_time": "6:30 pm on 20 March, 2024",
        "session_2": [
            {"speaker": "Ivan", "dia_id": "D2:1", "text": "I started pottery classes on Thursdays.",
             "blip_caption": "a photo of a clay bowl on a wheel"},
            {"speaker": "Nora", "dia_id": "D2:2", "text": "Comet ran on the beach at sunrise today."},
        ],
    },
    "qa": [
        {"question": "What is the name of Nora's dog?", "answer": "Comet", "evidence": ["D1:1"], "category": 4},
        {"question": "When did Ivan start pottery?", "answer": "March 2024", "evidence": ["D2:1"], "category": 2},
        {"question": "Why did Nora choose a greyhound?", "answer": "calm", "evidence": ["D1:2", "D1:3"],
         "category": 1},
        {"question": "What did Ivan make?", "answer": "a bowl", "evidence": ["D:2:1"], "category": 3},
        {"question": "Adversarial", "answer": "n/a", "evidence": ["D1:1"], "category": 5},
    ],
}]


def test_loader_parses_dates_evidence_and_categories(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SAMPLE))
    [conv] = load_locomo(path)
    assert conv.speakers == ("Nora", "Ivan") and len(conv.turns) == 5
    assert [q.category for q in conv.questions] == [4, 2, 1, 3]  # category 5 excluded
    assert conv.questions[3].evidence == ("D2:1",)
    assert parse_evidence(["D1:2; D1:3", "D:4:5"]) == ("D1:2", "D1:3", "D4:5")
    assert parse_session_time("1:56 pm on 8 May, 2023").isoformat() == "2023-05-08T13:56:00+00:00"
    assert "[shares an image: a photo of a clay bowl on a wheel]" in conv.turns[3].rendered()


def test_benchmark_writes_every_required_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SAMPLE))
    out = tmp_path / "out.json"
    payload = main(["--data", str(path), "--json", str(out), "--embed", "hash", "--no-progress"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert payload["questions"] == 4 and payload["turns"] == 5
    assert set(payload["systems"]) == {"memos", "inmemory_minilm", "bm25"}
    for name, result in payload["systems"].items():
        assert set(result["recall"]) == {"5", "10", "20"}
        assert set(result["by_category"]) == {"multi_hop", "temporal", "open_domain", "single_hop"}
        for key in ("context_tokens_p50", "search_ms_p50", "search_ms_p95", "ingest_per_s"):
            assert result[key] >= 0, (name, key)
        assert result["recall"]["20"] == 1.0  # every turn fits in the top 20 of a 5-turn conversation
    assert payload["systems"]["memos"]["recall"]["5"] == 1.0
    stages = payload["systems"]["memos"]["search_stages_ms"]  # memos' per-stage breakdown
    assert list(stages) == [*SEARCH_STAGES, "total"] and stages["total"]["mean"] > 0
    assert payload["systems"]["bm25"]["search_stages_ms"] == {}
    graph = payload["graph"]
    assert graph["enabled"] and graph["entities"] >= 3 and graph["relations"] >= 1  # Nora, Ivan, Comet...
    assert graph["extraction_s"] >= 0 and graph["extractor"].startswith("rules")
    assert "memos" in capsys.readouterr().out  # the readable table
