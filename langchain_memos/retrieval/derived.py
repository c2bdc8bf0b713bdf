"""Derived memories written next to the messages they come from (pure, no LLM).

A question whose answer is spread over several messages ("What does Ann do to relax?") or
needs the gist of a conversation often matches no single message well. Derived memories
put that spread-out content in one place, each pointing back to the messages it was built
from (``Derived.refs``), so a hit on one credits exactly those messages:

* :func:`session_summaries` -- an extractive summary of each thread: its most salient
  sentences (words frequent in the thread, rare elsewhere, plus names and dates), in order;
* :func:`entity_profiles` -- per named entity met in more than one thread, and per speaker,
  the sentences that say something about it, across threads.

Everything here is deterministic text processing (no model, no I/O).

Example:
    >>> from datetime import datetime
    >>> units = [Unit("1", "Ann", "Finally I adopted a greyhound called Comet.", datetime(2024, 3, 3), "s1"),
    ...          Unit("2", "Bob", "Lovely! Greyhounds are calm, gentle and quiet.", datetime(2024, 3, 3), "s1"),
    ...          Unit("3", "Ann", "Yesterday Comet ran along the sandy beach.", datetime(2024, 3, 20), "s2")]
    >>> [(d.subject, d.refs) for d in entity_profiles(units, speakers=False)]
    [('Comet', ('1', '3'))]
"""

from __future__ import annotations

import calendar
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Sequence

from ..graph.dates import find_dates
from .query import STOPWORDS, entity_phrases, keywords

if TYPE_CHECKING:  # pragma: no cover
    from ..cube import MemCube

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CALENDAR_WORDS = frozenset(m.lower() for m in (*calendar.day_name, *calendar.month_name) if m)


@dataclass(frozen=True)
class Unit:
    """A source memory (one message / turn).

    Attributes:
        ref: What a derived memory points back to (a message id, e.g. a LoCoMo ``dia_id``).
        speaker: Who said it, or ``None``.
        text: The text (an image caption may be appended).
        said_at: When it was said, or ``None``.
        thread: Its thread (session), or ``None``.
    """

    ref: str
    speaker: str | None
    text: str
    said_at: datetime | None = None
    thread: str | None = None


@dataclass(frozen=True)
class Derived:
    """A derived memory.

    Attributes:
        kind: ``"session_summary"`` or ``"entity_profile"``.
        content: The text to index and show.
        refs: The source units' refs, in the order their sentences appear in ``content``.
        thread: The thread of a session summary (``None`` for a profile, which spans threads).
        said_at: The last time any source was said.
        subject: The entity a profile is about (``None`` for a summary).
    """

    kind: str
    content: str
    refs: tuple[str, ...]
    thread: str | None = None
    said_at: datetime | None = None
    subject: str | None = None


def _sentences(text: str, stop: frozenset[str], min_words: int = 4) -> list[str]:
    """The sentences of ``text`` with at least ``min_words`` content words (small talk is left out)."""
    return [s.strip() for s in _SENTENCE.split(text) if len(keywords(s, stop)) >= min_words]


def _stopwords(units: Sequence[Unit]) -> frozenset[str]:
    """Stopwords plus the speakers' names: a name says who talks, not what about."""
    return STOPWORDS | {w.lower() for u in units if u.speaker for w in u.speaker.split()}


def _names_in(sentence: str) -> tuple[str, ...]:
    """Capitalised phrases inside the sentence (its first word does not count: every sentence starts upper-case)."""
    return entity_phrases(sentence[:1].lower() + sentence[1:]) if sentence else ()


def _idf(units: Sequence[Unit], stop: frozenset[str]) -> dict[str, float]:
    """Inverse thread frequency of every content word (a thread is one document)."""
    threads: dict[str | None, set[str]] = defaultdict(set)
    for u in units:
        threads[u.thread].update(keywords(u.text, stop))
    df = Counter(w for words in threads.values() for w in words)
    n = len(threads)
    return {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}


def _salience(sentence: str, tf: Counter[str], idf: dict[str, float], stop: frozenset[str]) -> float:
    words = keywords(sentence, stop)
    if not words:
        return 0.0
    score = sum(tf[w] * idf.get(w, 1.0) for w in words) / math.sqrt(len(words))
    names = [n for n in _names_in(sentence) if n.lower() not in stop]
    bonus = 1.0 + 0.25 * len(names) + 0.5 * bool(find_dates(sentence))
    return score * bonus


def _line(unit: Unit, sentence: str) -> str:
    return f"{unit.speaker}: {sentence}" if unit.speaker else sentence


def session_summaries(units: Sequence[Unit], *, sentences: int = 4) -> list[Derived]:
    """One extractive summary per thread: its ``sentences`` most salient sentences, in thread order.

    Salience of a sentence: the thread frequency x inverse thread frequency of its content
    words (normalised by the square root of their number), raised for names and dates. At most
    one sentence per unit, so the summary points back to ``sentences`` different units.
    """
    stop = _stopwords(units)
    idf = _idf(units, stop)
    by_thread: dict[str | None, list[Unit]] = defaultdict(list)
    for u in units:
        by_thread[u.thread].append(u)
    out: list[Derived] = []
    for thread, members in by_thread.items():
        tf = Counter(w for u in members for w in keywords(u.text, stop))
        best: list[tuple[float, int, Unit, str]] = []
        for i, u in enumerate(members):
            scored = [(_salience(s, tf, idf, stop), s) for s in _sentences(u.text, stop)]
            if scored:
                score, sentence = max(scored, key=lambda t: t[0])
                best.append((score, i, u, sentence))
        chosen = sorted(sorted(best, key=lambda t: (-t[0], t[1]))[:sentences], key=lambda t: t[1])
        if not chosen:
            continue
        when = max((u.said_at for u in members if u.said_at), default=None)
        day = f" on {when.strftime('%d %B %Y')}" if when else ""
        content = f"Conversation{day}: " + " ".join(_line(u, s) for _, _, u, s in chosen)
        out.append(Derived("session_summary", content, tuple(u.ref for _, _, u, _ in chosen), thread, when))
    return out


def _mentions(units: Iterable[Unit], name: str, stop: frozenset[str]) -> list[tuple[Unit, str]]:
    pattern = re.compile(r"(?<!\w)" + re.escape(name) + r"(?!\w)", re.IGNORECASE)
    return [(u, s) for u in units for s in _sentences(u.text, stop) if pattern.search(s)]


def _first_person(units: Iterable[Unit], speaker: str, stop: frozenset[str]) -> list[tuple[Unit, str]]:
    """Sentences in which ``speaker`` says something about themself ("I ...", "my ...")."""
    me = re.compile(r"\b(?:I|I'm|I've|my|me)\b")
    return [(u, s) for u in units if u.speaker == speaker for s in _sentences(u.text, stop) if me.search(s)]


def entity_profiles(units: Sequence[Unit], *, items: int = 4, speakers: bool = True) -> list[Derived]:
    """Per named entity met in two threads or more (and per speaker), its ``items`` most salient
    sentences across threads, at most one per thread, in time order.

    A speaker's profile is built from what they say about themselves ("I ...", "my ...").
    """
    stop = _stopwords(units)
    idf = _idf(units, stop)
    tf = Counter(w for u in units for w in keywords(u.text, stop))
    names = {u.speaker for u in units if u.speaker}
    name_words = {w.lower() for n in names for w in n.split()}
    threads_of: dict[str, set[str | None]] = defaultdict(set)
    for u in units:
        for sentence in _SENTENCE.split(u.text):
            for phrase in _names_in(sentence.strip()):
                if phrase.lower() not in stop | _CALENDAR_WORDS and not any(
                        n.lower().startswith(phrase.lower()) for n in names):
                    threads_of[phrase].add(u.thread)
    subjects = sorted(p for p, ts in threads_of.items() if len(ts) >= 2 and not set(p.lower().split()) <= name_words)
    plans = [(p, _mentions(units, p, stop)) for p in subjects]
    if speakers:
        plans += [(s, _first_person(units, s, stop)) for s in sorted(names)]
    out: list[Derived] = []
    for subject, found in plans:
        per_thread: dict[str | None, tuple[float, Unit, str]] = {}
        for u, s in found:
            score = _salience(s, tf, idf, stop)
            if u.thread not in per_thread or score > per_thread[u.thread][0]:
                per_thread[u.thread] = (score, u, s)
        chosen = sorted(per_thread.values(), key=lambda t: -t[0])[:items]
        if len(chosen) < 2:
            continue
        chosen.sort(key=lambda t: (t[1].said_at.timestamp() if t[1].said_at else float("-inf"), t[1].ref))
        content = f"About {subject}: " + " ".join(_line(u, s) for _, u, s in chosen)
        when = max((u.said_at for _, u, _ in chosen if u.said_at), default=None)
        out.append(Derived("entity_profile", content, tuple(u.ref for _, u, _ in chosen), None, when, subject))
    return out


def as_cubes(derived: Iterable[Derived], namespace: Sequence[str]) -> list["MemCube"]:
    """Derived memories as ``summary`` cubes to add next to their sources.

    Each cube's provenance lists its sources' refs (kind ``"derived_from"``, no thread: a
    derived memory takes no place in its thread's order), its metadata names the kind
    (``"derived"``), the session and the subject; its key is ``derived:<kind>:<n>``.
    """
    from ..cube import MemCube, MemoryType, Provenance

    return [MemCube(content=d.content, namespace=tuple(namespace), key=f"derived:{d.kind}:{i}",
                    memory_type=MemoryType.SUMMARY, created_at=d.said_at, source="derived",
                    metadata={"derived": d.kind, **({"session": d.thread} if d.thread else {}),
                              **({"subject": d.subject} if d.subject else {})},
                    provenance=[Provenance(kind="derived_from", ref=ref) for ref in d.refs])
            for i, d in enumerate(derived)]


__all__ = ["Derived", "Unit", "as_cubes", "entity_profiles", "session_summaries"]
