"""Small helpers shared by the benchmarks: percentiles, timing, JSON output, LoCoMo loading."""

from __future__ import annotations

import gc
import json
import platform
import re
import statistics
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from langchain_core.embeddings import Embeddings

DEFAULT_LOCOMO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "locomo" / "locomo_dev.json"
CATEGORY_NAMES = {1: "multi_hop", 2: "temporal", 3: "open_domain", 4: "single_hop"}
_EVIDENCE = re.compile(r"D(\d+):(\d+)")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median; 0.0 for no values."""
    return float(statistics.median(values)) if values else 0.0


def stage_breakdown(timings: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Mean and p50 milliseconds per search stage (and ``total``) over searches' ``SearchTimings``.

    Args:
        timings: :class:`~langchain_memos.engine.timings.SearchTimings` of the timed searches.

    Returns:
        ``{stage: {"mean": ms, "p50": ms}}`` in stage order, ``total`` last; ``{}`` for none.
    """
    rows = [t.as_dict() for t in timings]
    if not rows:
        return {}
    return {stage: {"mean": round(sum(r[stage] for r in rows) / len(rows), 3),
                    "p50": round(percentile([r[stage] for r in rows], 50), 3)} for stage in rows[0]}


def print_breakdown(label: str, breakdown: dict[str, dict[str, float]]) -> None:
    """Print one store's search stages as ``stage mean/p50`` milliseconds on one line (nothing when empty)."""
    if breakdown:
        print(f"{label} search stages, ms mean/p50: "
              + ", ".join(f"{stage} {v['mean']:.2f}/{v['p50']:.2f}" for stage, v in breakdown.items()))


class FullCollections:
    """Counts Python's full (generation 2) garbage collections while in use, and how long they stopped the process.

    A full collection walks every tracked object of the process, the imported modules' included (with
    chromadb imported, about 40 ms on this machine even for a small heap), and lands in whichever search
    happens to allocate at that moment, so it shows up as a latency tail of no particular stage.

    Example:
        >>> with FullCollections() as full:
        ...     _ = gc.collect()
        >>> full.count >= 1 and full.total_ms > 0
        True
    """

    def __init__(self) -> None:
        self._started = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget the collections counted so far."""
        self.count = 0
        self.total_ms = 0.0
        self.max_ms = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = (time.perf_counter() - self._started) * 1000.0
        self.count += 1
        self.total_ms += elapsed
        self.max_ms = max(self.max_ms, elapsed)

    def __enter__(self) -> "FullCollections":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self._callback)

    def as_dict(self) -> dict[str, float]:
        """``{"count", "total_ms", "max_ms"}``, rounded."""
        return {"count": self.count, "total_ms": round(self.total_ms, 3), "max_ms": round(self.max_ms, 3)}


def io_stall_ms() -> float | None:
    """Milliseconds, since boot, in which some task of this machine waited on I/O (Linux's pressure stall
    information, ``/proc/pressure/io``); ``None`` where the kernel does not report it.

    The difference over a phase says how long that phase was held up by the disk, machine-wide (the index
    worker's and other processes' waits included): a store whose files have left the page cache searches
    at disk speed, which no stage of its own explains.
    """
    try:
        with open("/proc/pressure/io") as f:
            first = f.readline().split()  # some avg10=... avg60=... avg300=... total=<microseconds>
    except OSError:
        return None
    totals = [field[len("total="):] for field in first if field.startswith("total=")]
    return int(totals[0]) / 1000.0 if totals else None


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (the measure the index worker reports too)."""
    from langchain_memos.storage.index_worker import peak_rss_mb as process_peak_rss_mb

    return process_peak_rss_mb()


def environment() -> dict[str, Any]:
    """Where the benchmark ran."""
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` (if given)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Turn:
    """One LoCoMo dialogue turn."""

    dia_id: str
    speaker: str
    text: str
    caption: str | None
    session: int
    index: int
    session_time: datetime

    @property
    def created_at(self) -> datetime:
        """The session time plus one second per turn, keeping turn order."""
        return self.session_time + timedelta(seconds=self.index)

    def rendered(self) -> str:
        """The turn as one memory: speaker, text and the shared image's caption."""
        from langchain_memos.retrieval.indexing import unit_text

        return unit_text(self.text, self.speaker, self.caption)


@dataclass(frozen=True)
class Question:
    """One LoCoMo question with its evidence dia_ids."""

    text: str
    category: int
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    """One LoCoMo conversation: turns in order and questions."""

    sample_id: str
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def parse_session_time(text: str) -> datetime:
    """Parse LoCoMo's ``"1:56 pm on 8 May, 2023"`` into an aware UTC datetime."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=timezone.utc)


def parse_evidence(evidence: Sequence[str]) -> tuple[str, ...]:
    """Evidence strings -> dia_ids, the way the issue defines it."""
    out: list[str] = []
    for e in evidence:
        for session, turn in _EVIDENCE.findall(str(e).replace("D:", "D")):
            dia = f"D{int(session)}:{int(turn)}"
            if dia not in out:
                out.append(dia)
    return tuple(out)


def load_locomo(path: str | Path, categories: Sequence[int] = (1, 2, 3, 4)) -> list[Conversation]:
    """Load LoCoMo conversations, keeping questions of ``categories`` with evidence."""
    data = json.loads(Path(path).read_text())
    conversations = []
    for sample in data:
        conv = sample["conversation"]
        turns: list[Turn] = []
        n = 1
        while f"session_{n}" in conv:
            when = parse_session_time(conv[f"session_{n}_date_time"])
            for i, t in enumerate(conv[f"session_{n}"]):
                turns.append(Turn(dia_id=t["dia_id"], speaker=t["speaker"], text=t["text"],
                                  caption=t.get("blip_caption"), session=n, index=i, session_time=when))
            n += 1
        questions = []
        for q in sample["qa"]:
            evidence = parse_evidence(q.get("evidence") or [])
            if q.get("category") in categories and evidence:
                questions.append(Question(text=str(q["question"]), category=int(q["category"]), evidence=evidence))
        conversations.append(Conversation(sample_id=str(sample.get("sample_id", len(conversations))),
                                          speakers=(conv["speaker_a"], conv["speaker_b"]),
                                          turns=tuple(turns), questions=tuple(questions)))
    return conversations


class FakeEmbeddings(Embeddings):
    """A deterministic, cheap LangChain-style embedder for storage benchmarks.

    Every word maps to a fixed random unit vector (seeded by a hash of the word);
    a text's embedding is the normalised sum of its words' vectors, so texts that
    share words are close and nearest-neighbour search stays meaningful while
    embedding costs next to nothing. Vectors come back as ``list[float]`` like a
    real model's.

    Example:
        >>> emb = FakeEmbeddings(8)
        >>> emb.embed_query("green tea") == emb.embed_documents(["green tea"])[0]
        True
    """

    #: Word vectors kept, most recently used first: the workload's vocabulary, not every item's unique
    #: word (kept for each of a million items, they held 3 GB in the store's process, counted in its RSS).
    WORDS_KEPT = 8192

    def __init__(self, dims: int = 384, seed: int = 0) -> None:
        self.dims = int(dims)
        self.seed = int(seed)
        self._words: OrderedDict[str, Any] = OrderedDict()

    def _word(self, word: str) -> Any:
        import hashlib

        import numpy as np

        vec = self._words.get(word)
        if vec is None:
            digest = hashlib.blake2b(f"{self.seed}:{word}".encode(), digest_size=8).digest()
            vec = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(self.dims)
            self._words[word] = vec
            if len(self._words) > self.WORDS_KEPT:
                self._words.popitem(last=False)
        else:
            self._words.move_to_end(word)
        return vec

    def _embed(self, text: str) -> list[float]:
        import numpy as np

        words = re.findall(r"\w+", text.lower()) or [""]
        total = np.sum([self._word(w) for w in words], axis=0)
        norm = float(np.linalg.norm(total)) or 1.0
        return (total / norm).astype(np.float32).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts."""
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._embed(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        return self.embed_query(text)



def add_locomo_arguments(parser: Any, *, embed_help: str) -> None:
    """The options every LoCoMo benchmark takes: --data, --json, --conversations, --embed, --no-progress."""
    parser.add_argument("--data", default=str(DEFAULT_LOCOMO), help="LoCoMo JSON file (default: %(default)s)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--conversations", type=int, default=0, help="only the first N conversations (0 = all)")
    parser.add_argument("--embed", choices=["minilm", "hash"], default="minilm", help=embed_help)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def locomo_inputs(args: Any) -> tuple[list[Conversation], Any]:
    """The conversations and the (warmed-up) embedder a LoCoMo benchmark's parsed options ask for."""
    from langchain_memos.embeddings import embeddings_named

    conversations = load_locomo(args.data)
    if args.conversations:
        conversations = conversations[: args.conversations]
    embeddings = embeddings_named(args.embed, hash_dims=384)
    embeddings.embed_query("warm-up")  # load the model before any timing
    return conversations, embeddings
