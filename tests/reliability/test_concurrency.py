"""Concurrency (issue 10, point 1): writer threads and processes on one store directory."""

from __future__ import annotations

import pytest

from benchmarks.reliability import concurrency


def _assert_sound(figures: dict) -> None:
    assert figures["acknowledged"] > 0
    assert figures["lost"] == 0, figures
    assert figures["stale_reads"] == 0, figures
    assert figures["locked_escapes"] == 0, figures
    assert figures["untyped_errors"] == 0, figures["untyped_examples"]
    assert figures["integrity_errors_unrepaired"] == 0 and figures["stale_vectors"] == 0, figures


def test_threads_and_processes_on_one_directory_lose_nothing(tmp_path):
    figures = concurrency.run(tmp_path / "store", threads=8, processes=4, ops_per_writer=25, seed=1)
    assert figures["writers"] == 12 and figures["ops"] == 300
    _assert_sound(figures)
    # no process overwrote another's index: every vector is in the ANN graph (missing the 50 nearest is HNSW recall)
    assert (figures["stale_vectors"], figures["unindexed_vectors"]) == (0, 0), figures


@pytest.mark.server
def test_threads_and_processes_with_a_chroma_server(tmp_path, chroma_server):
    figures = concurrency.run(tmp_path / "store", threads=4, processes=2, ops_per_writer=20, seed=2,
                              server=chroma_server)
    _assert_sound(figures)
