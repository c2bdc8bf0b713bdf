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


def test_systems_answer_each_question_in_turn_with_a_rotating_first(tmp_path: Path) -> None:
    # question by question, so a slower stretch of the machine weighs on every system alike
    from benchmarks.locomo import run_questions

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SAMPLE))
    [conv] = load_locomo(path)
    log: list[tuple[str, str]] = []

    class Recorder:
        settings = {"default": {}}
        last_timings = None

        def __init__(self, name: str) -> None:
            self.name = name

        def ingest(self, conv) -> None:
            log.append((self.name, "ingest"))

        def search(self, conv, question: str, k: int):
            log.append((self.name, question))
            return {"default": (["D1:1"], "text")}, 1.0

    answered = run_questions([Recorder("a"), Recorder("b")], [conv], progress=False)
    questions = [q.text for q in conv.questions]
    assert log[:2] == [("a", "ingest"), ("b", "ingest")]
    assert log[2:] == [pair for i, q in enumerate(questions)
                       for pair in ([("a", q), ("b", q)] if i % 2 == 0 else [("b", q), ("a", q)])]
    assert {name: len(runs) for name, (runs, _) in answered.items()} == {"a": 4, "b": 4}
    assert answered["a"][1]["search_ms_p50"] == 1.0


def test_cv_reports_leave_one_out_beside_in_sample(tmp_path: Path, capsys) -> None:
    second = json.loads(json.dumps(SAMPLE[0]))
    second["sample_id"] = "tiny-2"
    path = tmp_path / "two.json"
    path.write_text(json.dumps([SAMPLE[0], second]))
    payload = main(["--data", str(path), "--json", str(tmp_path / "cv.json"), "--embed", "hash", "--no-progress",
                    "--cv", "--systems", "memos,bm25"])
    memos = payload["systems"]["memos"]
    assert memos["protocol"] == "leave-one-conversation-out"
    assert set(memos["settings_chosen"]) == {"tiny-1", "tiny-2"}
    assert set(memos["settings_chosen"].values()) <= set(memos["settings"])
    for block in (memos, memos["in_sample"]):
        assert set(block["by_category"]) == {"multi_hop", "temporal", "open_domain", "single_hop"}
        assert all(set(ks) == {"5", "10", "20"} for ks in block["by_category"].values())
        assert block["recall"]["20"] == 1.0
    assert payload["systems"]["bm25"]["settings_chosen"] == {"tiny-1": "default", "tiny-2": "default"}
    assert "memos (in-sample)" in capsys.readouterr().out


def test_cv_fold_never_sees_its_own_conversation() -> None:
    from benchmarks.cv import QuestionRun, cross_validated, in_sample

    # Setting "a" is right on c1 only, "b" on c2 and c3: c1's fold must still pick "b".
    runs = [QuestionRun(c, 4, (want,), {"a": ("x",) if c != "c1" else (want,), "b": (want,) if c != "c1" else ("x",)},
                        {"a": 1, "b": 1}) for c, want in (("c1", "D1:1"), ("c2", "D1:2"), ("c3", "D1:3"))]
    scored = {s.run.conversation: s for s in cross_validated(runs, select_k=1)}
    assert scored["c1"].setting == "b" and scored["c1"].run.recall("b", 1) == 0.0
    assert scored["c2"].setting == "a"  # on c1 + c3 the two settings tie; the first listed wins
    assert {s.setting for s in in_sample(runs, select_k=1)} == {"b"}


def test_cv_never_picks_a_setting_that_trades_one_category_for_another() -> None:
    from benchmarks.cv import QuestionRun, cross_validated, in_sample

    # "trade" wins two single-hop questions (category 4) and loses the one multi-hop question (category 1)
    def run(conv: str, category: int, default_right: bool, trade_right: bool) -> QuestionRun:
        return QuestionRun(conv, category, ("D1:1",), {"default": ("D1:1",) if default_right else ("x",),
                                                       "trade": ("D1:1",) if trade_right else ("x",)},
                           {"default": 1, "trade": 1})

    runs = [run(c, 4, False, True) for c in ("c1", "c2")] + [run(c, 1, True, False) for c in ("c1", "c2")]
    assert {s.setting for s in in_sample(runs, select_k=1)} == {"default"}
    assert {s.setting for s in cross_validated(runs, select_k=1)} == {"default"}
    # a setting that lowers no category does replace the default
    better = [run(c, 4, False, True) for c in ("c1", "c2")] + [run(c, 1, True, True) for c in ("c1", "c2")]
    assert {s.setting for s in cross_validated(better, select_k=1)} == {"trade"}


def test_derived_memory_credits_each_source_one_place() -> None:
    from types import SimpleNamespace

    from benchmarks.locomo import shown_refs

    hit = lambda *refs: SimpleNamespace(cube=SimpleNamespace(source_refs=list(refs)))  # noqa: E731
    hits = [hit("D1:1", "D1:2", "D1:3"), hit("D1:2"), hit("D2:1")]
    refs, shown = shown_refs(hits, 4)
    assert refs == ["D1:1", "D1:2", "D1:3", "D2:1"]
    assert shown == [hits[0], hits[2]]  # the repeated D1:2 adds nothing and is not shown
    assert shown_refs(hits, 2) == (["D1:1", "D1:2"], [hits[0]])
