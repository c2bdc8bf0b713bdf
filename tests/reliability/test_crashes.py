"""Crashes (issue 10, point 2): SIGKILL during ingestion; open, check, repair, nothing acknowledged lost."""

from __future__ import annotations

import json

from benchmarks.reliability import crashes
from benchmarks.reliability._shared import open_memos
from langchain_memos.cli import main


def test_killed_ingestion_recovers_with_every_acknowledged_write(tmp_path):
    figures = crashes.run(tmp_path / "store", kills=3, seed=3)
    assert figures["kills"] == 3 and figures["recovered"] == 3, figures
    assert figures["lost"] == 0 and figures["acknowledged"] > 0
    assert figures["integrity_errors_unrepaired"] == 0 and figures["sqlite_corrupt"] == 0
    assert figures["stale_vectors"] == 0  # (unreachable_vectors measures HNSW recall: reported, not required)


def test_replay_keeps_the_operation_in_flight_undecided(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"k": "start"}\n{"k": "intent", "set": {"a": "x"}}\n{"k": "ack"}\n'
                   '{"k": "intent", "set": {"a": null}}\n{"k": "int')
    state, pending = crashes.replay(log)
    assert state == {"a": "x"} and pending == {"a": None}


def test_doctor_finds_and_repairs_drift(tmp_path, capsys):
    path = tmp_path / "store"
    memos = open_memos(path)
    ids = memos.add(["one", "two", "three"], ("u",))
    memos.vectors.delete([ids[0]])  # a vector lost
    memos.vectors.upsert(["ghost"], [[1.0] * 64])  # a vector without a record
    memos.close()
    assert main(["doctor", "--path", str(path), "--embed", "hash", "--json", "--no-repair"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert (found["missing_vectors"], found["orphan_vectors"], found["ok"]) == (1, 1, False)
    assert main(["doctor", "--path", str(path), "--embed", "hash", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["repaired"] == 2
    assert main(["doctor", "--path", str(path), "--embed", "hash", "--json", "--no-repair"]) == 0


def test_check_hooks_report_into_the_integrity_report():
    memos = open_memos(None)
    try:
        memos.add_check_hook(lambda repair: (3, 2 if repair else 0))
        assert memos.check(repair=False).unrepaired == 3
        report = memos.check()
        assert (report.repaired, report.unrepaired, report.ok) == (2, 1, False)
    finally:
        memos.close()
