"""The reliability benchmark's summary and requirements (the scenarios run in the other tests)."""

from __future__ import annotations

from benchmarks.reliability.__main__ import PROFILES, REQUIRED_ZERO, failures, summarise

REQUIRED_KEYS = ("ops", "acknowledged", "lost", "kills", "recovered", "integrity_errors_unrepaired", "fuzz_cases",
                 "untyped_errors", "isolation_queries", "leaks")


def _scenarios(**over):
    base = {
        "concurrency": {"ops": 10_200, "acknowledged": 6000, "lost": 0, "stale_reads": 0, "locked_escapes": 0,
                        "integrity_errors_unrepaired": 0, "stale_vectors": 0, "unreachable_vectors": 0,
                        "untyped_errors": 0},
        "crashes": {"kills": 20, "recovered": 20, "acknowledged": 900, "lost": 0, "drift_found": 50, "repaired": 50,
                    "integrity_errors_unrepaired": 0, "stale_vectors": 0, "unreachable_vectors": 0},
        "fuzz": {"fuzz_cases": 5500, "untyped_errors": 0, "half_written": 0},
        "isolation": {"isolation_queries": 1250, "leaks": 0},
        "injection": {"injection_cases": 96, "injection_failures": 0},
    }
    for name, values in over.items():
        base[name].update(values)
    return base


def test_summary_has_every_required_key_and_passes_when_all_is_well():
    summary = summarise(_scenarios())
    assert set(REQUIRED_KEYS) <= set(summary)
    assert failures(summary, "full") == []
    assert summary["fuzz_cases"] == 5596 and summary["acknowledged"] == 6900


def test_requirements_are_enforced():
    summary = summarise(_scenarios(crashes={"kills": 19, "recovered": 18, "lost": 1}, isolation={"leaks": 2}))
    problems = failures(summary, "full")
    assert "lost = 1" in problems and "leaks = 2" in problems and "kills = 19 < 20" in problems
    assert any("recovered" in p for p in problems)
    assert failures(summarise(_scenarios(fuzz={"fuzz_cases": 100})), "quick") == []
    assert set(REQUIRED_ZERO) <= set(REQUIRED_KEYS) and PROFILES["full"]["kills"] >= 20
