"""Probe the two search engines the next round would put under large scopes, on the store benchmark's workload.

A research tool, not a test and not product code. It needs two packages the project does not
depend on (``pip install tantivy==0.27.0 faiss-cpu==1.15.1``, both wheels for this platform) and,
in its own process only, puts stand-ins over two engine steps of a store built by the store
benchmark's workload (``benchmarks.store.make_items``, ``--embed fake``):

* ``--keyword tantivy``: a keyword search without ``ids`` whose filters are all top-level equalities
  (the benchmark's ``{"category": ...}``) is answered by an in-RAM tantivy mirror of the FTS5 rows (the
  four keyword columns, their weights as field boosts; a cube's top-level metadata scalars as filter
  terms) instead of :class:`~langchain_memos.storage.sqlite.keyword.SQLiteKeywordIndex`; the rest of
  the query (namespace, status, expiry) is checked in SQLite on the rows it returns.
* ``--vector faiss``: the vector candidates of a scope too large for the exact scan come from an
  in-process faiss HNSW searched with an allow-list bitmap of the scope's matching rows, kept per
  query (built before the timed searches, as an engine that maintains them would have them).

Then the benchmark's timed searches run (the same queries, warm-up and filters as
``python -m benchmarks.store --n N --embed fake``), and it prints search p50/p95/min, the stage means,
and how far each stand-in's answers are from what it replaces: the top-k overlap of the mirror with
FTS5's BM25, and recall@pool of the filtered HNSW against the exact scan of the allowed rows.

Usage (the first call builds the store, about a minute per 100k; later calls reuse it)::

    python -m tools.probe_engines --store /tmp/probe100k
    python -m tools.probe_engines --store /tmp/probe100k --keyword tantivy --vector faiss
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from dataclasses import dataclass, field

from benchmarks._common import percentile, stage_breakdown
from benchmarks.store import PREFIX, WARMUP, make_embeddings, make_items, make_queries, open_store
from langchain_memos.storage.base import CubeQuery, ScoredId

KEYWORD_FIELDS = ("body", "context", "next", "date")  # KEYWORD_COLUMNS, as FTS5 holds them
_WORD = re.compile(r"\w+")


@dataclass
class Fidelity:
    """How far the stand-ins' answers are from what they replace, measured only while ``on`` (a pass
    after the timed searches, so the references cost the timings nothing)."""

    on: bool = False
    keyword_overlap: list[float] = field(default_factory=list)
    vector_recall: list[float] = field(default_factory=list)


def build_store(directory: Path, n: int, seed: int, index: dict[str, Any]) -> None:
    """Write the store benchmark's ``n`` items into a new MemOSStore at ``directory`` (batches of 500)."""
    from langgraph.store.base import PutOp

    items = make_items(n, seed)
    started = time.perf_counter()
    with open_store("memos", directory, index) as store:
        for start in range(0, n, 500):
            store.batch([PutOp(ns, key, value) for ns, key, value in items[start:start + 500]])
    print(f"built {n} items in {time.perf_counter() - started:.0f} s")


def filter_term(key: str, value: Any) -> str | None:
    """The mirror's term for ``key == value`` (the ``metadata_fields`` encoding), or ``None`` for a non-scalar."""
    from langchain_memos.storage.sqlite.rows import metadata_fields

    fields = metadata_fields({key: value})
    return "\x1f".join(str(x) for x in fields[0]) if fields else None


def install_tantivy_mirror(db: Path, fidelity: Fidelity) -> None:
    """Answer large-scope keyword searches from an in-RAM tantivy mirror of the FTS5 rows (with
    ``fidelity.on``, each one's top-k overlap with the FTS5 answer it replaces is recorded)."""
    import tantivy

    from langchain_memos.storage.sqlite.compiler import compile_query
    from langchain_memos.storage.sqlite.keyword import SQLiteKeywordIndex

    schema_builder = tantivy.SchemaBuilder()
    for name in KEYWORD_FIELDS:
        schema_builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
    schema_builder.add_text_field("meta", stored=False, tokenizer_name="raw")
    schema_builder.add_integer_field("rid", stored=True, indexed=False)
    schema = schema_builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    conn = sqlite3.connect(db)
    meta: dict[int, list[str]] = {}
    for rid, key, kind, atom in conn.execute("SELECT rid, key, type, atom FROM metadata_fields"):
        meta.setdefault(rid, []).append(f"{key}\x1f{kind}\x1f{atom}")
    started = time.perf_counter()
    for rid, *columns in conn.execute(f"SELECT rowid, {', '.join(KEYWORD_FIELDS)} FROM fts"):
        writer.add_document(tantivy.Document(**dict(zip(KEYWORD_FIELDS, columns)), meta=meta.get(rid, []), rid=rid))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    print(f"tantivy mirror of {searcher.num_docs} rows built in {time.perf_counter() - started:.1f} s")
    fts5_search = SQLiteKeywordIndex.keyword_search

    def keyword_search(self: Any, terms: Sequence[str], query: CubeQuery, k: int, *,
                       column_weights: Sequence[float] | None = None) -> list[ScoredId]:
        pushed = [filter_term(c.path[0], c.value) for c in query.conditions if len(c.path) == 1 and c.op == "$eq"]
        words = list(dict.fromkeys(w for t in terms for w in _WORD.findall(str(t).lower())))
        if query.ids is not None or len(pushed) != len(query.conditions) or None in pushed or not words:
            return fts5_search(self, terms, query, k, column_weights=column_weights)
        boosts = {f: w for f, w in zip(KEYWORD_FIELDS, column_weights or (1.0,) * 4) if w > 0}
        clauses = [(tantivy.Occur.Must, index.parse_query(" OR ".join(words), list(boosts), field_boosts=boosts))]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(
            tantivy.Query.term_query(schema, "meta", term), 0.0)) for term in pushed]
        hits = searcher.search(tantivy.Query.boolean_query(clauses), 2 * k).hits
        score_of = {searcher.doc(address)["rid"][0]: score for score, address in hits}
        where, params = compile_query(replace(query, conditions=()))  # the rest of the query, on these rows
        rows = self.side_read(lambda c: c.execute(
            f"SELECT c.rid, c.id FROM cubes AS c WHERE c.rid IN (SELECT value FROM json_each(?)) AND {where}",
            [str(list(score_of)), *params]).fetchall())
        found = sorted(((cube_id, score_of[rid]) for rid, cube_id in rows), key=lambda t: (-t[1], t[0]))[:k]
        if fidelity.on:
            reference = {h.id for h in fts5_search(self, terms, query, k, column_weights=column_weights)}
            fidelity.keyword_overlap.append(len(reference & {i for i, _ in found}) / max(1, len(reference)))
        return [ScoredId(cube_id, float(score)) for cube_id, score in found]

    SQLiteKeywordIndex.keyword_search = keyword_search  # type: ignore[method-assign]


def install_faiss_filtered(db: Path, fidelity: Fidelity, ef_search: int) -> None:
    """Answer large-scope vector candidates from a faiss HNSW searched with a kept allow-list per query
    (built on a query's first search; with ``fidelity.on``, each one's recall@pool against the exact
    scan of the allowed rows is recorded)."""
    import faiss
    import numpy as np

    from langchain_memos.engine.vector_steps import VectorSteps, scan_limits

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT c.id, v.vec FROM vectors AS v JOIN cubes AS c ON c.id = v.id ORDER BY c.rid").fetchall()
    ids = [r[0] for r in rows]
    position = {cube_id: i for i, cube_id in enumerate(ids)}
    matrix = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    faiss.normalize_L2(matrix)
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(matrix.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(matrix)
    faiss.omp_set_num_threads(1)
    print(f"faiss HNSW of {index.ntotal} vectors built in {time.perf_counter() - started:.1f} s")
    allowed: dict[Any, tuple[Any, Any]] = {}  # query key -> (row mask, its bitmap)
    chroma_path = VectorSteps.vector_candidates

    def vector_candidates(self: Any, cq: CubeQuery, query_vector: Sequence[float], pool: int,
                          read: dict[str, Any] | None = None) -> list[ScoredId]:
        exact_limit, max_fetch = scan_limits(pool)
        if self.records.match_bound(cq, max_fetch)[0] <= exact_limit:
            return chroma_path(self, cq, query_vector, pool, read)
        key = (cq.namespace_prefix, cq.exact_namespace, cq.conditions)
        if key not in allowed:
            mask = np.zeros(len(ids), dtype=bool)
            mask[[position[i] for i in self.records.query_ids(cq, order_by=None) if i in position]] = True
            allowed[key] = (mask, np.packbits(mask, bitorder="little"))
        mask, bits = allowed[key]
        query = np.asarray(query_vector, dtype=np.float32)[None, :].copy()
        faiss.normalize_L2(query)
        selector = faiss.IDSelectorBitmap(len(ids), faiss.swig_ptr(bits))
        scores, found = index.search(query, pool, params=faiss.SearchParametersHNSW(sel=selector, efSearch=ef_search))
        if fidelity.on:
            rows_allowed = np.flatnonzero(mask)
            exact = set(rows_allowed[np.argsort(-(matrix[rows_allowed] @ query[0]))[:pool]])
            got = set(found[0][found[0] >= 0])
            fidelity.vector_recall.append(len(exact & got) / max(1, min(pool, len(rows_allowed))))
        return [ScoredId(ids[i], float(s)) for s, i in zip(scores[0], found[0]) if i >= 0]

    VectorSteps.vector_candidates = vector_candidates  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="the store's folder (built there on first use)")
    parser.add_argument("--n", type=int, default=100_000, help="items (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=200, help="timed searches (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keyword", choices=["fts5", "tantivy"], default="fts5")
    parser.add_argument("--vector", choices=["chroma", "faiss"], default="chroma")
    parser.add_argument("--ef-search", type=int, default=256, help="faiss efSearch (default: %(default)s)")
    args = parser.parse_args(argv)
    directory = Path(args.store)
    index = {"dims": 384, "embed": make_embeddings("fake", 384), "fields": ["text"]}
    db = directory / "memos" / "memos.sqlite3"
    if not db.exists():
        build_store(directory, args.n, args.seed, index)
    fidelity = Fidelity()
    if args.keyword == "tantivy":
        install_tantivy_mirror(db, fidelity)
    if args.vector == "faiss":
        install_faiss_filtered(db, fidelity, args.ef_search)
    queries = make_queries(args.queries + WARMUP, args.seed)
    with open_store("memos", directory, index) as store:
        if args.vector == "faiss":  # every filter's allow-list, before the timed searches
            for flt in sorted({tuple(sorted(f.items())) for _, f in queries}):
                store.search(PREFIX, query="warm up", filter=dict(flt), limit=10)
        elapsed, stages = [], []
        for i, (text, flt) in enumerate(queries):
            started = time.perf_counter()
            found = store.search(PREFIX, query=text, filter=flt, limit=10)
            if i >= WARMUP:
                elapsed.append((time.perf_counter() - started) * 1000.0)
                stages.append(found.timings)
        fidelity.on = True
        for text, flt in queries[WARMUP:]:
            store.search(PREFIX, query=text, filter=flt, limit=10)
    print(f"keyword {args.keyword}, vector {args.vector}: search p50 {percentile(elapsed, 50):.1f} ms, "
          f"p95 {percentile(elapsed, 95):.1f} ms, min {min(elapsed):.1f} ms over {len(elapsed)} searches")
    print("  stage means, ms: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in stage_breakdown(stages).items()))
    for label, values in (("tantivy top-k overlap with FTS5's BM25", fidelity.keyword_overlap),
                          ("filtered HNSW recall@pool against the exact scan", fidelity.vector_recall)):
        if values:
            print(f"  {label}: mean {sum(values) / len(values):.3f}, min {min(values):.3f}")


if __name__ == "__main__":
    sys.exit(main())
