"""Crashes: a child process ingesting in batches is killed with SIGKILL at random points.

The child (``python -m benchmarks.reliability.crashes child DIR LOG SEED``) adds
batches of cubes, updates and deletes some, and appends to ``LOG`` an *intent* line
before each operation and an *ack* line after it returns (``O_APPEND`` writes reach
the kernel at once, so they survive the kill). After each kill the parent opens the
store, runs ``MemOS.check(repair=False)`` (drift found), ``check()`` (repaired) and
``check(repair=False)`` again (``integrity_errors_unrepaired``), SQLite's
``PRAGMA integrity_check``, and compares every cube with the log: an acknowledged
operation must be there; the one in flight at the kill may be there or not.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._shared import open_memos, vector_health

BATCH = 20


def child(path: str, log: str, seed: int) -> None:
    """Ingest forever (until killed), logging intents and acks."""
    from langchain_memos.cube import MemCube, new_id

    rng = random.Random(seed)
    memos = open_memos(path)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    alive: list[str] = []
    n = 0

    def note(kind: str, payload: dict[str, Any]) -> None:
        os.write(fd, (json.dumps({"k": kind, **payload}) + "\n").encode())

    os.write(fd, b'{"k": "start"}\n')
    while True:
        n += 1
        roll = rng.random()
        if roll < 0.7 or len(alive) < 5:
            cubes = [MemCube(content=f"seed {seed} batch {n} item {i} word{rng.randrange(10**6)}",
                             namespace=("crash", f"s{seed % 3}"), id=new_id()) for i in range(BATCH)]
            op = {"op": "add", "set": {c.id: c.content for c in cubes}}
            note("intent", op)
            memos.add(cubes, ("crash", f"s{seed % 3}"))
            alive.extend(c.id for c in cubes)
        elif roll < 0.85:
            cube_id = rng.choice(alive)
            content = f"updated {n} word{rng.randrange(10**6)}"
            op = {"op": "update", "set": {cube_id: content}}
            note("intent", op)
            memos.update(cube_id, content=content)
        else:
            gone = rng.sample(alive, 3)
            op = {"op": "delete", "set": {i: None for i in gone}}
            note("intent", op)
            memos.delete(gone)
            alive = [i for i in alive if i not in gone]
        note("ack", {})


def replay(log: Path) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """The state the acknowledged operations imply, and the operation in flight (if any)."""
    state: dict[str, str | None] = {}
    pending: dict[str, str | None] = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill
        if entry["k"] == "intent":
            pending = entry["set"]
        elif entry["k"] == "ack":
            state.update(pending)
            pending = {}
        elif entry["k"] == "start":
            pending = {}  # the previous child's operation in flight stays undecided (compared below)
    return state, pending


def _acks(log: Path) -> int:
    return log.read_text().count('"k": "ack"') if log.exists() else 0


def verify(path: Path, log: Path, undecided: dict[str, Any]) -> dict[str, Any]:
    """Open the store after a kill and check integrity and acknowledged writes."""
    out = {"opened": False, "drift_found": 0, "repaired": 0, "unrepaired": 0, "lost": 0, "acknowledged": 0,
           "sqlite_ok": False, "stale": 0, "unreachable": 0, "unindexed": 0}
    memos = open_memos(path)
    try:
        out["opened"] = True
        found = memos.check(repair=False)
        out["drift_found"] = len(found.missing_vectors) + len(found.orphan_vectors)
        fixed = memos.check()
        out["repaired"] = fixed.repaired
        out["unrepaired"] = memos.check(repair=False).unrepaired + fixed.unrepaired
        state, pending = replay(log)
        undecided.update(pending)
        out["acknowledged"] = len(state)
        cubes = memos.get_many(list(state), touch=False)
        for (cube_id, content), cube in zip(state.items(), cubes):
            got = cube.content if cube is not None else None
            if got != content and not (cube_id in undecided and got == undecided[cube_id]):
                out["lost"] += 1
        out["stale"], out["unreachable"], out["unindexed"] = vector_health(memos, limit=200)
    finally:
        memos.close()
    with sqlite3.connect(path / "memos.sqlite3") as conn:
        out["sqlite_ok"] = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return out


def run(path: str | Path, *, kills: int = 20, seed: int = 0, max_acks: int = 6) -> dict[str, Any]:
    """Kill ``kills`` ingesting children at random points; return the figures."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    log = path.parent / f"{path.name}-acks.jsonl"
    rng = random.Random(seed)
    figures = {"kills": 0, "recovered": 0, "acknowledged": 0, "lost": 0, "drift_found": 0, "repaired": 0,
               "integrity_errors_unrepaired": 0, "stale_vectors": 0, "unreachable_vectors": 0, "unindexed_vectors": 0,
               "sqlite_corrupt": 0}
    undecided: dict[str, Any] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]),
                                                                    os.environ.get("PYTHONPATH", "")] if p)}
    for i in range(kills):
        start = _acks(log)
        target = start + rng.randint(1, max_acks)
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.reliability.crashes", "child", str(path), str(log),
                                 str(seed * 1000 + i)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _acks(log) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.random() * 0.05)  # land anywhere inside the next operation
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the ingesting child exited on its own ({proc.returncode}): {err[-2000:]}")
        figures["kills"] += 1
        result = verify(path, log, undecided)
        figures["recovered"] += int(result["opened"] and result["sqlite_ok"] and result["unrepaired"] == 0
                                    and result["lost"] == 0 and result["stale"] == 0)
        figures["acknowledged"] = result["acknowledged"]
        figures["lost"] += result["lost"]
        figures["drift_found"] += result["drift_found"]
        figures["repaired"] += result["repaired"]
        figures["integrity_errors_unrepaired"] += result["unrepaired"]
        figures["stale_vectors"] += result["stale"]
        figures["unreachable_vectors"] += result["unreachable"]
        figures["unindexed_vectors"] += result["unindexed"]
        figures["sqlite_corrupt"] += int(not result["sqlite_ok"])
    return figures


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        print(json.dumps(run(sys.argv[1], kills=int(sys.argv[2]) if len(sys.argv) > 2 else 20), indent=2))
