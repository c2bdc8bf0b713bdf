"""Maximal marginal relevance with near-duplicate removal (pure, numpy).

Example:
    >>> import numpy as np
    >>> from langchain_memos.retrieval.fusion import Hit
    >>> hits = [Hit("a", 0.9), Hit("b", 0.8), Hit("c", 0.5)]
    >>> emb = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.001]), "c": np.array([0.0, 1.0])}
    >>> [h.id for h in mmr(hits, emb, k=3)]
    ['a', 'c']
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .fusion import Hit


def mmr(
    hits: Sequence[Hit],
    embeddings: Mapping[str, np.ndarray],
    *,
    k: int = 10,
    lambda_: float = 1.0,
    duplicate_threshold: float = 0.97,
) -> list[Hit]:
    """Select up to ``k`` hits by MMR: ``lambda_ * score - (1 - lambda_) * max cosine to the selected``.

    A hit whose cosine with an already selected hit is ``>= duplicate_threshold`` is dropped
    (near-duplicate). Hits without an embedding are never considered duplicates.
    ``lambda_ = 1`` keeps the relevance order and only removes near-duplicates.
    """
    pool = list(hits)
    vecs: dict[str, np.ndarray] = {}
    for h in pool:
        e = embeddings.get(h.id)
        if e is not None:
            e = np.asarray(e, dtype=np.float64).ravel()
            n = float(np.linalg.norm(e))
            if n > 0:
                vecs[h.id] = e / n
    selected: list[Hit] = []
    while pool and len(selected) < k:
        best_j, best_val, drop = -1, -np.inf, []
        for j, h in enumerate(pool):
            sim = 0.0
            v = vecs.get(h.id)
            if v is not None:
                sims = [float(v @ vecs[s.id]) for s in selected if s.id in vecs]
                sim = max(sims, default=0.0)
            if sim >= duplicate_threshold:
                drop.append(j)
                continue
            val = lambda_ * h.score - (1.0 - lambda_) * sim
            if val > best_val:
                best_j, best_val = j, val
        if best_j < 0:
            break
        selected.append(pool[best_j])
        pool = [h for j, h in enumerate(pool) if j != best_j and j not in drop]
    return selected
