"""The lifecycle benchmark runs end to end on a small synthetic conversation in LoCoMo's format (written here)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks._common import load_locomo
from benchmarks.lifecycle import ModeResult, choose_pool_weights, main, merge_into, schedule, turn_id

TOPICS = ["pottery", "marathon", "greyhound", "violin", "sourdough", "kayak", "tulips", "chess"]


def _sample() -> list[dict]:
    conv: dict = {"speaker_a": "Nora", "speaker_b": "Ivan"}
    qa = []
    for s in range(1, 5):
        conv[f"session_{s}_date_time"] = f"10:00 am on {s * 3} March, 2024"
        turns = []
        for i in range(1, 7):
            topic = TOPICS[(s + i) % len(TOPICS)]
            speaker = "Nora" if i % 2 else "Ivan"
            turns.append({"speaker": speaker, "dia_id": f"D{s}:{i}",
                          "text": f"In session {s} I talked about {topic} number {s}{i} with my friend."})
        conv[f"session_{s}"] = turns
        qa.append({"question": f"What did Nora say about {TOPICS[(s + 1) % len(TOPICS)]} number {s}1?",
                   "answer": "x", "evidence": [f"D{s}:1"], "category": 4})
    qa.append({"question": "What about pottery and chess?", "answer": "x", "evidence": ["D1:3", "D4:2"],
               "category": 1})
    qa.append({"question": "Adversarial", "answer": "n/a", "evidence": ["D1:1"], "category": 5})
    return [{"sample_id": "tiny-lifecycle", "conversation": conv, "qa": qa}]


def test_questions_are_asked_after_their_latest_evidence(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_sample()))
    [conv] = load_locomo(path)
    plan = schedule(conv)
    assert sorted(plan) == [1, 2, 3, 4]
    assert [q.evidence for q in plan[4]] == [("D4:1",), ("D1:3", "D4:2")]


def test_benchmark_writes_every_required_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_sample()))
    out = tmp_path / "out.json"
    payload = main(["--data", str(path), "--json", str(out), "--embed", "hash", "--no-progress",
                    "--working-capacity", "4", "--mid-term-capacity", "4", "--conversations", "1"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    for key in ("recall_at_10_on", "recall_at_10_off", "hot_fraction_final", "preload_hit_rate", "fused",
                "archived", "expired", "lost_writes"):
        assert key in payload, key
    assert payload["questions"] == 5 and payload["turns"] == 24
    assert payload["lost_writes"] == 0 and payload["integrity_ok"]
    assert payload["archived"] > 0 and payload["fused"] > 0  # small capacities force summaries and archiving
    assert payload["archived_retrievable"] == payload["archived"]
    assert 0 < payload["hot_fraction_final"] < 1
    assert 0 <= payload["preload_hit_rate"] <= 1
    assert payload["recall_at_10_on"] >= payload["recall_at_10_off"] - 1e-9
    series = payload["hot_tier_over_time"]["tiny-lifecycle"]
    assert [s["session"] for s in series] == [1, 2, 3, 4]
    assert payload["search_ms_p50_on"] > 0 and payload["search_ms_p50_off"] > 0
    assert "recall@10 on" in capsys.readouterr().out


def test_pool_weight_is_chosen_on_the_other_conversations() -> None:
    recalls = {(0.2, 0): [1.0, 1.0], (0.5, 0): [0.0, 0.5], (0.2, 1): [0.0], (0.5, 1): [1.0],
               (0.2, 2): [0.5], (0.5, 2): [0.5]}
    # held out 0: convs 1+2 prefer 0.5; held out 1 or 2: the others prefer 0.2
    assert choose_pool_weights(recalls, [0.2, 0.5], 3) == {0: 0.5, 1: 0.2, 2: 0.2}
    tie = {(0.2, 0): [1.0], (0.5, 0): [1.0], (0.2, 1): [0.0], (0.5, 1): [0.0]}
    assert choose_pool_weights(tie, [0.5, 0.2], 2) == {0: 0.5, 1: 0.5}  # ties: the earlier candidate
    assert choose_pool_weights(recalls, [0.5], 3) == {0: 0.5, 1: 0.5, 2: 0.5}


def test_merging_conversations_adds_counts_and_concatenates_lists() -> None:
    a, b = ModeResult(recalls=[1.0], preload_hits=2, by_category={1: [1.0]}), \
        ModeResult(recalls=[0.0], preload_hits=3, by_category={1: [0.0], 2: [0.5]})
    total = ModeResult()
    merge_into(total, a)
    merge_into(total, b)
    assert total.recalls == [1.0, 0.0] and total.preload_hits == 5
    assert total.by_category == {1: [1.0, 0.0], 2: [0.5]}


def test_turn_ids_are_deterministic_and_distinct() -> None:
    assert turn_id(("locomo", "c1"), "D1:1") == turn_id(("locomo", "c1"), "D1:1")
    assert len({turn_id(("locomo", "c1"), "D1:1"), turn_id(("locomo", "c1"), "D1:2"),
                turn_id(("locomo", "c2"), "D1:1")}) == 3


def test_two_candidate_weights_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_sample()))
    payload = main(["--data", str(path), "--embed", "hash", "--no-progress", "--working-capacity", "4",
                    "--mid-term-capacity", "4", "--pool-weights", "0.25,0.75"])
    selection = payload["pool_weight_selection"]
    assert selection["method"] == "fixed"  # one conversation: nothing to hold out
    assert selection["chosen"] == {"tiny-lifecycle": 0.25}
    assert set(selection["recall_at_10_on_by_weight"]) == {"0.25", "0.75"}
