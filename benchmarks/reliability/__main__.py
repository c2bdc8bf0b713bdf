"""``python -m benchmarks.reliability --json OUT.json``: every reliability scenario, one JSON.

Required figures (issue 10): ``ops``, ``acknowledged``, ``lost``, ``kills``,
``recovered``, ``integrity_errors_unrepaired``, ``fuzz_cases``, ``untyped_errors``,
``isolation_queries``, ``leaks``; the run fails (exit 1) unless ``lost``,
``integrity_errors_unrepaired``, ``untyped_errors`` and ``leaks`` are 0, ``kills`` >= 20
and ``fuzz_cases`` >= 5000 (full run). Each scenario's own figures are kept under
``scenarios``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from .._common import environment, write_json
from . import concurrency, crashes, fuzz, injection, isolation

#: Parameters of the full run and of the quick (test) run.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"ops_per_writer": 850, "keys_per_writer": 400, "kills": 20, "fuzz_per_target": 1100, "queries": 1000},
    "quick": {"ops_per_writer": 25, "keys_per_writer": 40, "kills": 3, "fuzz_per_target": 30, "queries": 200},
}

REQUIRED_ZERO = ("lost", "integrity_errors_unrepaired", "untyped_errors", "leaks")


def summarise(scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The top-level figures from each scenario's own."""
    conc, crash, fz, iso, inj = (scenarios[k] for k in ("concurrency", "crashes", "fuzz", "isolation", "injection"))
    server = scenarios.get("concurrency_chroma_server", {})
    return {
        "ops": conc["ops"] + server.get("ops", 0),
        "acknowledged": conc["acknowledged"] + server.get("acknowledged", 0) + crash["acknowledged"],
        "lost": conc["lost"] + server.get("lost", 0) + crash["lost"],
        "stale_reads": conc["stale_reads"] + server.get("stale_reads", 0),
        "locked_escapes": conc["locked_escapes"] + server.get("locked_escapes", 0),
        "kills": crash["kills"],
        "recovered": crash["recovered"],
        "drift_found": crash["drift_found"],
        "drift_repaired": crash["repaired"],
        "integrity_errors_unrepaired": conc["integrity_errors_unrepaired"] + crash["integrity_errors_unrepaired"]
        + server.get("integrity_errors_unrepaired", 0),
        "stale_vectors": conc["stale_vectors"] + server.get("stale_vectors", 0) + crash["stale_vectors"],
        "unreachable_vectors": conc["unreachable_vectors"] + crash["unreachable_vectors"],
        "unreachable_vectors_chroma_server": server.get("unreachable_vectors", 0),
        "unindexed_vectors": conc.get("unindexed_vectors", 0) + server.get("unindexed_vectors", 0),
        "unindexed_vectors_after_crashes": crash.get("unindexed_vectors", 0),
        "fuzz_cases": fz["fuzz_cases"] + inj["injection_cases"],
        "untyped_errors": conc["untyped_errors"] + server.get("untyped_errors", 0) + fz["untyped_errors"],
        "half_written": fz["half_written"],
        "isolation_queries": iso["isolation_queries"],
        "leaks": iso["leaks"] + inj["injection_failures"],
    }


def failures(summary: dict[str, Any], profile: str) -> list[str]:
    """Which requirements the figures miss."""
    # unreachable_vectors is reported, not required: right vectors that approximate search missed (HNSW recall).
    # unindexed_vectors (concurrent writers: a vector not in the ANN graph at all) is what an overwritten index
    # file would leave; after SIGKILLs Chroma's own recovery can leave some (reported as
    # unindexed_vectors_after_crashes: MemOS scores scopes of up to 2,000 cubes exactly, so only larger ones miss them)
    out = [f"{k} = {summary[k]}" for k in (*REQUIRED_ZERO, "half_written", "locked_escapes", "stale_reads",
                                           "stale_vectors", "unindexed_vectors") if summary[k]]
    if summary["recovered"] != summary["kills"]:
        out.append(f"recovered {summary['recovered']} of {summary['kills']} kills")
    if profile == "full":
        if summary["kills"] < 20:
            out.append(f"kills = {summary['kills']} < 20")
        if summary["fuzz_cases"] < 5000:
            out.append(f"fuzz_cases = {summary['fuzz_cases']} < 5000")
        if summary["ops"] < 10_000:
            out.append(f"ops = {summary['ops']} < 10000")
    return out


def run(directory: Path, profile: str = "full", chroma_server: str | None = None, seed: int = 0,
        progress: bool = True) -> dict[str, Any]:
    """Run every scenario under ``directory``; return the payload written as JSON."""
    params = PROFILES[profile]
    scenarios: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}

    def step(name: str, fn: Any) -> None:
        start = time.perf_counter()
        scenarios[name] = fn()
        timings[name] = round(time.perf_counter() - start, 1)
        if progress:
            print(f"{name}: {timings[name]}s", file=sys.stderr)

    step("concurrency", lambda: concurrency.run(directory / "concurrency", ops_per_writer=params["ops_per_writer"],
                                                keys_per_writer=params["keys_per_writer"], seed=seed))
    if chroma_server:
        host, port = chroma_server.rsplit(":", 1)
        step("concurrency_chroma_server", lambda: concurrency.run(
            directory / "concurrency-server", ops_per_writer=params["ops_per_writer"] // 4,
            keys_per_writer=params["keys_per_writer"], seed=seed, server=(host, int(port))))
    step("crashes", lambda: crashes.run(directory / "crashes", kills=params["kills"], seed=seed))
    step("fuzz", lambda: fuzz.run(params["fuzz_per_target"]))
    step("isolation", lambda: isolation.run(directory / "isolation", queries=params["queries"], seed=seed))
    step("injection", lambda: injection.run(directory / "injection"))
    summary = summarise(scenarios)
    return {"benchmark": "reliability", "profile": profile, **summary, "failures": failures(summary, profile),
            "seconds": timings, "scenarios": scenarios, "environment": environment()}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="the reduced run (seconds, as in the tests)")
    parser.add_argument("--dir", help="work directory (default: a temporary one)")
    parser.add_argument("--chroma-server", help="HOST:PORT of a running `chroma run` to add a server scenario")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else "full"
    with tempfile.TemporaryDirectory(prefix="memos-reliability-") as tmp:
        payload = run(Path(args.dir or tmp), profile, args.chroma_server, args.seed)
    write_json(args.json, payload)
    print({k: payload[k] for k in ("ops", "acknowledged", "lost", "kills", "recovered", "integrity_errors_unrepaired",
                                   "fuzz_cases", "untyped_errors", "isolation_queries", "leaks", "failures")})
    return payload


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1 if main()["failures"] else 0)
