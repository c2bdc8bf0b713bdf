"""Concurrency: writer threads and writer processes on one store directory at once.

Every writer (a thread of this process, or a child process) owns its own keys, so the
final value of each key is known: the last acknowledged put, or absent after an
acknowledged delete. Writers mix puts, overwrites, deletes, gets and searches
through :class:`~langchain_memos.integrations.MemOSStore`; a get of an own key must
return the value last written (read-your-writes). Afterwards the store is reopened,
``MemOS.check()`` runs, and every key is compared with the writers' models.

Figures: ``ops``, ``acknowledged`` (writes that returned), ``lost`` (acknowledged
writes missing or with a wrong final value), ``stale_reads``, ``locked_escapes``
(a raw ``database is locked``), ``untyped_errors``, integrity counts.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import threading
from pathlib import Path
from typing import Any

from ._shared import describe, is_locked, is_typed, open_memos, open_store, vector_health

KEYS_PER_WRITER = 40


def run_writer(store: Any, writer: str, ops: int, seed: int, keys: int = KEYS_PER_WRITER) -> dict[str, Any]:
    """Run ``ops`` random operations on ``keys`` keys of ``writer``; return its model and counters."""
    rng = random.Random(seed)
    namespace = ("rel", writer)
    model: dict[str, dict[str, Any] | None] = {}
    out = {"writer": writer, "ops": 0, "acknowledged": 0, "stale_reads": 0, "locked": 0, "typed_errors": 0, "untyped": []}
    for n in range(ops):
        key = f"k{rng.randrange(keys)}"
        roll = rng.random()
        out["ops"] += 1
        try:
            if roll < 0.55:
                value = {"text": f"writer {writer} key {key} step {n} token{rng.randrange(10**6)}", "n": n}
                store.put(namespace, key, value)
                model[key] = value
                out["acknowledged"] += 1
            elif roll < 0.65:
                store.delete(namespace, key)
                model[key] = None
                out["acknowledged"] += 1
            elif roll < 0.85:
                item = store.get(namespace, key)
                if key in model and (item.value if item is not None else None) != model[key]:
                    out["stale_reads"] += 1
            else:
                hits = store.search(("rel",) if rng.random() < 0.5 else namespace, query=f"key {key}", limit=5)
                if any(h.namespace[:1] != ("rel",) for h in hits):
                    out["stale_reads"] += 1
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_locked(exc):
                out["locked"] += 1
            elif is_typed(exc):
                out["typed_errors"] += 1
            else:
                out["untyped"].append(describe(exc))
    out["model"] = model
    return out


def _process_main(path: str, writer: str, ops: int, seed: int, result_file: str,
                  server: tuple[str, int] | None, keys: int) -> None:
    with open_store(path, server) as store:
        result = run_writer(store, writer, ops, seed, keys)
    Path(result_file).write_text(json.dumps(result))


def run(path: str | Path, *, threads: int = 8, processes: int = 4, ops_per_writer: int = 100,
        seed: int = 0, server: tuple[str, int] | None = None, keys_per_writer: int = KEYS_PER_WRITER) -> dict[str, Any]:
    """Run the scenario in the (empty) directory ``path``; return its figures.

    ``keys_per_writer``: more keys mean more live vectors; past about a thousand, Chroma
    moves them from its log into the HNSW index on disk, where an unguarded process
    overwrites the vectors of the others.

    ``server``: keep the vectors on the Chroma server at ``(host, port)`` (SQLite stays in ``path``).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(processes):
        result_file = path.parent / f"{path.name}-proc{i}.json"
        proc = ctx.Process(target=_process_main, args=(str(path), f"p{i}", ops_per_writer, seed * 1000 + i,
                                                       str(result_file), server, keys_per_writer))
        procs.append((proc, result_file))
    results: list[dict[str, Any]] = []
    with open_store(path, server) as store:
        for proc, _ in procs:
            proc.start()
        lock = threading.Lock()

        def thread_main(i: int) -> None:
            result = run_writer(store, f"t{i}", ops_per_writer, seed * 1000 + 100 + i, keys_per_writer)
            with lock:
                results.append(result)

        workers = [threading.Thread(target=thread_main, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        for proc, result_file in procs:
            proc.join(timeout=600)
            if proc.exitcode != 0 or not result_file.exists():
                results.append({"writer": "?", "ops": 0, "acknowledged": 0, "stale_reads": 0, "locked": 0, "typed_errors": 0,
                                "untyped": [f"writer process exited with {proc.exitcode}"], "model": {},
                                "crashed": True})
            else:
                results.append(json.loads(result_file.read_text()))
                result_file.unlink()
    writers = [f"t{i}" for i in range(threads)] + [f"p{i}" for i in range(processes)]
    figures = {"ops": 0, "acknowledged": 0, "lost": 0, "stale_reads": 0, "locked_escapes": 0, "typed_errors": 0,
               "untyped_errors": 0, "untyped_examples": [], "writers": len(writers)}
    for r in results:
        figures["ops"] += r["ops"]
        figures["acknowledged"] += r["acknowledged"]
        figures["stale_reads"] += r["stale_reads"]
        figures["locked_escapes"] += r["locked"]
        figures["typed_errors"] += r["typed_errors"]
        figures["untyped_errors"] += len(r["untyped"])
        figures["untyped_examples"].extend(r["untyped"][:3])
    memos = open_memos(path, server)
    try:
        report = memos.check()
        after = memos.check(repair=False)
        figures["integrity_repaired"] = report.repaired
        figures["integrity_errors_unrepaired"] = after.unrepaired + report.unrepaired
        health = vector_health(memos)
        figures["stale_vectors"], figures["unreachable_vectors"], figures["unindexed_vectors"] = health
    finally:
        memos.close()
    with open_store(path, server) as store:
        for r in results:
            for key, value in r["model"].items():
                item = store.get(("rel", r["writer"]), key)
                if (item.value if item is not None else None) != value:
                    figures["lost"] += 1
    return figures


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(sys.argv[1], ops_per_writer=int(sys.argv[2]) if len(sys.argv) > 2 else 100), indent=2))
