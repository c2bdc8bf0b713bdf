"""Thread (session) diversity of the top hits (pure).

Evidence for a question that spans several conversations ("What does Ann do to relax?")
sits in several threads; a ranking that spends the whole top-k on the one thread that
matches best misses the others. :func:`spread_threads` scales each hit by
``decay ** n``, where ``n`` counts the better hits of the same thread, so the second
hit of a thread competes with the first hit of the next one.

Example:
    >>> from .fusion import Hit
    >>> hits = [Hit("a1", 0.9, {"vector": 0.9}), Hit("a2", 0.8, {"vector": 0.8}), Hit("b1", 0.7, {"vector": 0.7})]
    >>> [h.id for h in spread_threads(hits, {"a1": "s1", "a2": "s1", "b1": "s2"}, decay=0.8)]
    ['a1', 'b1', 'a2']
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .fusion import Hit


def spread_threads(hits: Sequence[Hit], threads: Mapping[str, str | None], *, decay: float) -> list[Hit]:
    """Hits re-scored by ``decay ** (better hits of the same thread)`` (reason ``"thread"``), best first.

    Args:
        hits: Ranked hits.
        threads: Hit id -> thread id; hits without a thread are left alone.
        decay: In (0, 1]; 1 leaves the ranking as it is.
    """
    if decay >= 1.0 or not hits:
        return list(hits)
    seen: dict[str, int] = {}
    out: list[Hit] = []
    for h in sorted(hits, key=lambda h: (-h.score, h.id)):
        thread = threads.get(h.id)
        n = seen.get(thread, 0) if thread is not None else 0
        if thread is not None:
            seen[thread] = n + 1
        if n:
            cut = h.score * (decay ** n - 1.0)
            h = Hit(h.id, h.score + cut, {**h.reasons, "thread": cut})
        out.append(h)
    out.sort(key=lambda h: (-h.score, h.id))
    return out


__all__ = ["spread_threads"]
