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

import math
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
    if not pool:
        return []
    dims = {np.asarray(e).size for e in (embeddings.get(h.id) for h in pool) if e is not None}
    dim = max(dims, default=0)
    matrix = np.zeros((len(pool), dim))
    has_vec = np.zeros(len(pool), dtype=bool)
    for j, h in enumerate(pool):
        e = embeddings.get(h.id)
        if e is None:
            continue
        e = np.asarray(e, dtype=np.float64).ravel()
        n = math.sqrt(e.dot(e))  # what np.linalg.norm computes for a vector, without its overhead
        if n > 0 and e.size == dim:
            matrix[j], has_vec[j] = e / n, True
    scores = np.array([h.score for h in pool])
    max_sim = np.zeros(len(pool))  # largest cosine to any selected hit (0 until one is selected)
    alive = np.ones(len(pool), dtype=bool)
    selected: list[Hit] = []
    while alive.any() and len(selected) < k:
        alive &= ~(has_vec & (max_sim >= duplicate_threshold))
        if not alive.any():
            break
        value = np.where(alive, lambda_ * scores - (1.0 - lambda_) * max_sim, -np.inf)
        best = int(np.argmax(value))
        selected.append(pool[best])
        alive[best] = False
        if has_vec[best]:
            sims = np.where(has_vec, matrix @ matrix[best], 0.0)
            max_sim = np.maximum(max_sim, sims)
    return selected
