"""Relevance floor and token budget (pure).

Example:
    >>> from langchain_memos.retrieval.fusion import Hit
    >>> hits = [Hit("a", 0.9), Hit("b", 0.5), Hit("c", 0.01)]
    >>> [h.id for h in apply_floor(hits, min_score=0.05)]
    ['a', 'b']
    >>> [h.id for h in fit_token_budget(hits, {"a": "one two", "b": "w " * 30, "c": "z"}, 5)]
    ['a', 'c']
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..render import count_tokens as default_count_tokens
from .fusion import Hit


def apply_floor(hits: Sequence[Hit], *, min_score: float = 0.0, min_relative_score: float = 0.0) -> list[Hit]:
    """Drop hits scoring below ``min_score`` or below ``min_relative_score * best score`` (order kept)."""
    if not hits:
        return []
    best = max(h.score for h in hits)
    cut = max(min_score, min_relative_score * best)
    return [h for h in hits if h.score >= cut]


def fit_token_budget(
    hits: Sequence[Hit],
    texts: Mapping[str, str],
    max_tokens: int,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Hit]:
    """Keep hits in order while their rendered texts fit in ``max_tokens``.

    A hit that does not fit is skipped and smaller later hits may still be taken, so the
    budget is filled; relevance order is preserved. ``count_tokens`` defaults to
    :func:`langchain_memos.render.count_tokens`.
    """
    count = count_tokens or default_count_tokens
    out: list[Hit] = []
    used = 0
    for h in hits:
        n = count(texts.get(h.id, ""))
        if used + n <= max_tokens:
            out.append(h)
            used += n
    return out
