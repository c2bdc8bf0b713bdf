"""The pure steps of fusion: near-duplicate tests, contradiction rules, clustering, no-LLM summaries.

Nothing here does I/O; :class:`~langchain_memos.lifecycle.MemLifecycle` loads cubes,
calls these, and commits what they decide.

Example:
    >>> near_duplicate("Alice likes green tea.", "alice likes green tea", cosine=0.99)
    True
    >>> contradicts("Alice lives in Oslo", "Alice lives in Trondheim")
    'value changed: oslo -> trondheim'
    >>> contradicts("Bob eats meat", "Bob does not eat meat")
    'negation'
    >>> contradicts("Alice likes tea", "Alice likes coffee") is None
    True
"""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Sequence

import numpy as np

from ..cube import MemCube, Provenance
from ..render import count_tokens
from ..policy.llm_budget import cut_tokens

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot"})
_AUX = frozenset({"do", "does", "did", "is", "are", "am", "was", "were", "has", "have", "had", "will", "would", "can",
                  "could", "should", "longer", "anymore", "any", "more"})
#: Predicates whose object holds one value at a time (a new value replaces the old one).
EXCLUSIVE_PREDICATES = frozenset({
    "is", "are", "am", "was", "lives", "live", "living", "works", "work", "working", "prefers", "prefer",
    "favorite", "name", "named", "called", "age", "aged", "born", "married", "job", "city", "drives", "drive",
    "owns", "studies", "study", "uses", "use", "status", "email", "phone", "address", "birthday", "allergic",
})
_COPULAS = frozenset({"is", "are", "am", "was"})
_CANONICAL = (
    (re.compile(r"\b(?:moved|relocated) to\b"), "lives in"),
    (re.compile(r"\b(?:is|are|am) based in\b"), "lives in"),
    (re.compile(r"\bworks for\b"), "works at"),
    (re.compile(r"\bfavourite\b"), "favorite"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\bno longer\b"), "not"),
)


def normalize_text(text: str) -> str:
    """Lower-cased words joined by single spaces (punctuation and case do not make cubes different)."""
    return " ".join(w.lower() for w in _WORDS.findall(text))


def near_duplicate(a: str, b: str, cosine: float | None = None, *, min_cosine: float = 0.95,
                   min_ratio: float = 0.9) -> bool:
    """Whether two texts are near-identical.

    Identical normalised texts always are; otherwise the embedding ``cosine`` (when
    known) must reach ``min_cosine`` and the ``difflib`` ratio of the normalised
    texts ``min_ratio``.
    """
    na, nb = normalize_text(a), normalize_text(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    if cosine is not None and cosine < min_cosine:
        return False
    matcher = difflib.SequenceMatcher(None, na, nb, autojunk=False)
    return matcher.quick_ratio() >= min_ratio and matcher.ratio() >= min_ratio


def _tokens(text: str) -> list[str]:
    low = text.lower()
    for pattern, repl in _CANONICAL:
        low = pattern.sub(repl, low)
    return _WORDS.findall(low)


def contradicts(older: str, newer: str) -> str | None:
    """The no-LLM contradiction rules; the reason when ``newer`` contradicts ``older``, else ``None``.

    * **negation**: one states what the other negates ("eats meat" / "does not eat meat"),
      with the same content words otherwise (Jaccard >= 0.6);
    * **value changed**: both share a subject-predicate prefix with a single-valued
      predicate (lives in, works at, is, prefers, favorite..., see
      :data:`EXCLUSIVE_PREDICATES`) and end in different short values
      ("lives in Oslo" / "lives in Trondheim"). Multi-valued predicates such as
      "likes" never conflict by this rule.
    """
    ta, tb = _tokens(older), _tokens(newer)
    if not ta or not tb:
        return None
    neg_a = any(t in _NEGATIONS for t in ta)
    neg_b = any(t in _NEGATIONS for t in tb)
    core_a = {_stem(t) for t in ta if t not in _NEGATIONS and t not in _AUX}
    core_b = {_stem(t) for t in tb if t not in _NEGATIONS and t not in _AUX}
    if neg_a != neg_b and core_a and core_b and len(core_a & core_b) / len(core_a | core_b) >= 0.6:
        return "negation"
    if neg_a or neg_b:
        return None
    i = 0
    while i < min(len(ta), len(tb)) and ta[i] == tb[i]:
        i += 1
    predicates = [t for t in ta[:i] if t in EXCLUSIVE_PREDICATES]
    # A bare copula needs one more shared word ("Alice is a teacher" / "Alice is a doctor"),
    # so "I am 30" / "I am a teacher" (two facts) do not conflict.
    if i < 2 or not predicates or (i < 3 and all(t in _COPULAS for t in predicates)):
        return None
    tail_a, tail_b = ta[i:], tb[i:]
    if not (0 < len(tail_a) <= 4 and 0 < len(tail_b) <= 4):
        return None
    if set(tail_a) <= set(tail_b) or set(tail_b) <= set(tail_a):
        return None
    return f"value changed: {' '.join(tail_a)} -> {' '.join(tail_b)}"


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def segment_thread(units: Sequence[tuple[str, Sequence[float] | None]], *, max_size: int, min_size: int,
                   break_cosine: float) -> list[list[str]]:
    """Cut a run of consecutive thread units into topical segments.

    A unit starts a new segment when the current one is full or its cosine to the
    current segment's centroid is below ``break_cosine``. A segment shorter than
    ``min_size`` joins the previous one when that has room.

    Args:
        units: ``(id, embedding or None)`` in thread order.
    """
    segments: list[list[str]] = []
    current: list[str] = []
    centroid: np.ndarray | None = None
    for unit_id, vec in units:
        v = _unit(np.asarray(vec, dtype=np.float64)) if vec is not None else None
        if current and (len(current) >= max_size or (
                v is not None and centroid is not None and float(_unit(centroid) @ v) < break_cosine)):
            segments.append(current)
            current, centroid = [], None
        current.append(unit_id)
        if v is not None:
            centroid = v.copy() if centroid is None else centroid + v
    if current:
        segments.append(current)
    merged: list[list[str]] = []
    for seg in segments:
        if len(seg) < min_size and merged and len(merged[-1]) + len(seg) <= max_size:
            merged[-1].extend(seg)
        else:
            merged.append(seg)
    return merged


def cluster_by_similarity(units: Sequence[tuple[str, Sequence[float] | None]], *, max_size: int,
                          join_cosine: float) -> list[list[str]]:
    """Greedy clusters of unthreaded units: each joins the closest cluster whose centroid is at least
    ``join_cosine`` similar and not full, else starts one (units without an embedding stay alone)."""
    clusters: list[list[str]] = []
    centroids: list[np.ndarray | None] = []
    for unit_id, vec in units:
        if vec is None:
            clusters.append([unit_id])
            centroids.append(None)
            continue
        v = _unit(np.asarray(vec, dtype=np.float64))
        best, best_sim = -1, join_cosine
        for j, c in enumerate(centroids):
            if c is None or len(clusters[j]) >= max_size:
                continue
            sim = float(_unit(c) @ v)
            if sim >= best_sim:
                best, best_sim = j, sim
        if best < 0:
            clusters.append([unit_id])
            centroids.append(v.copy())
        else:
            clusters[best].append(unit_id)
            centroids[best] = centroids[best] + v  # type: ignore[operator]
    return clusters


def extractive_summary(texts: Sequence[str], importances: Sequence[float], max_tokens: int) -> str:
    """The no-LLM summary: the sources' texts in order, one per line, least important lines dropped
    first (only small talk, importance < 0.3) until it fits ``max_tokens``, then cut."""
    lines = [" ".join(t.split()) for t in texts]
    keep = list(range(len(lines)))
    total = sum(count_tokens(line) for line in lines)
    for i in sorted(range(len(lines)), key=lambda j: (importances[j], -j)):
        if total <= max_tokens or len(keep) <= 1:
            break
        if importances[i] >= 0.3:
            break
        keep.remove(i)
        total -= count_tokens(lines[i])
    return cut_tokens("\n".join(lines[i] for i in keep), max_tokens)


def summary_key(source_ids: Sequence[str]) -> str:
    """A deterministic key for the summary of these sources (re-running a job rewrites the same cube)."""
    return "summary:" + hashlib.sha1("\n".join(sorted(source_ids)).encode()).hexdigest()[:24]


def merged_provenance(sources: Sequence[MemCube], *, detach_threads: bool = False) -> list[Provenance]:
    """Every source's provenance (deduplicated) plus one ``kind="cube"`` entry per source.

    ``detach_threads`` moves each entry's ``thread_id`` into ``detail["thread_id"]`` so the
    merged cube is not placed inside a thread (a summary is not a turn of the conversation).
    """
    out: list[Provenance] = []
    for s in sources:
        for p in s.provenance:
            if detach_threads and p.thread_id is not None:
                p = Provenance(kind=p.kind, ref=p.ref, thread_id=None, detail={**p.detail, "thread_id": p.thread_id})
            if p not in out:
                out.append(p)
        out.append(Provenance(kind="cube", ref=s.id, detail={"version": s.version}))
    return out


__all__ = [
    "EXCLUSIVE_PREDICATES",
    "cluster_by_similarity",
    "contradicts",
    "extractive_summary",
    "merged_provenance",
    "near_duplicate",
    "normalize_text",
    "segment_thread",
    "summary_key",
]
