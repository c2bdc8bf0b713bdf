"""Allow-list searches of the faiss index: exact scoring against the HNSW graph, by allow-list size.

Run from the repo root::

    python -m benchmarks.allow_lists --n 100000 --json OUT.json

The store benchmark's items (``benchmarks.store``, fake embeddings) go into an in-memory
``FaissVectorIndex`` with their rids; for each allow-list size, random rids are the allow-list (a filter
passing that many cubes) and its top 50 is asked for the benchmark's queries, once scored exactly and once
through the graph (``IDSelectorBitmap``). Reported per size: p50 ms of each, and the graph's mean and
worst recall of the exact top 50. ``ALLOWED_EXACT_MAX`` in :mod:`langchain_memos.storage.faiss_allow` comes
from this table: where exact scoring is no slower than the graph.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Sequence

import numpy as np

from ._common import environment, median, write_json
from .store import make_embeddings, make_items, make_queries

SIZES = (2500, 4000, 6000, 8000, 10000, 16000)
TOP = 50


def run(n: int, sizes: Sequence[int], queries: int, seed: int) -> dict[str, Any]:
    """Time and score both searches for every allow-list size (the index built once)."""
    from langchain_memos.storage import faiss_allow
    from langchain_memos.storage.faiss_index import FaissVectorIndex

    embeddings = make_embeddings("fake", 384)
    vectors = np.asarray(embeddings.embed_documents([v["text"] for _, _, v in make_items(n, seed)]), dtype=np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    asked = np.asarray(embeddings.embed_documents([q for q, _ in make_queries(queries, seed)]), dtype=np.float32)
    index = FaissVectorIndex.in_memory()
    for start in range(0, n, 5000):
        stop = min(n, start + 5000)
        index.upsert([f"i{j}" for j in range(start, stop)], vectors[start:stop], rids=range(start + 1, stop + 1))
    rng = np.random.default_rng(seed)
    rows: dict[str, Any] = {}
    kept = faiss_allow.ALLOWED_EXACT_MAX
    try:
        for size in sizes:
            rids = np.sort(rng.choice(np.arange(1, n + 1), size, replace=False)).astype(np.int64)
            labels = rids - 1
            row: dict[str, Any] = {}
            for way, exact_max in (("exact", n + 1), ("graph", 0)):
                faiss_allow.ALLOWED_EXACT_MAX = exact_max
                index.search_rids(asked[0], TOP, rids)  # the allow-list's labels and bitmap, kept for the rest
                times, recalls = [], []
                for q in asked:
                    started = time.perf_counter()
                    hits = index.search_rids(q, TOP, rids)
                    times.append((time.perf_counter() - started) * 1000.0)
                    best = labels[np.argsort(-(unit[labels] @ (q / np.linalg.norm(q))))[:TOP]]
                    recalls.append(len({f"i{j}" for j in best.tolist()} & {h.id for h in hits or []}) / TOP)
                row[way] = {"ms_p50": round(median(times), 3), "recall_mean": round(float(np.mean(recalls)), 4),
                            "recall_min": round(float(min(recalls)), 4)}
            rows[str(size)] = row
    finally:
        faiss_allow.ALLOWED_EXACT_MAX = kept
        index.close()
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="vectors in the index (default: %(default)s)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="allow-list sizes (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=40, help="queries per size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="workload seed (default: %(default)s)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.n < 1 or args.queries < 1 or not sizes or any(s < 1 or s > args.n for s in sizes):
        parser.error("n and queries must be >= 1, and every size between 1 and n")
    rows = run(args.n, sizes, args.queries, args.seed)
    print(f"{'allow-list':>10}  {'exact ms':>8}  {'graph ms':>8}  graph recall of the exact top {TOP} (mean / min)")
    for size, row in rows.items():
        print(f"{int(size):>10,}  {row['exact']['ms_p50']:>8.2f}  {row['graph']['ms_p50']:>8.2f}  "
              f"{row['graph']['recall_mean']:.3f} / {row['graph']['recall_min']:.2f}")
    payload = {"benchmark": "allow_lists", "environment": environment(), "n": args.n, "top": TOP,
               "queries": args.queries, "sizes": rows}
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
