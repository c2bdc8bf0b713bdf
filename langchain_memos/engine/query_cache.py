"""The query embeddings an engine computed last, by text: one agent step embeds its query once.

An agent built with :class:`~langchain_memos.integrations.middleware.MemOSMiddleware`
searches memory with the same last human message on every model call of a run (and its tool
suggestions search again with the same text), a preload embeds the query the search after it
embeds again, and a ``MemOSStore`` node searches the text another node searched. Each of those is
a call to the embedding model (milliseconds locally, a network round trip for a hosted one) for a
vector the engine already has. :class:`QueryVectors` keeps the last ``size`` of them; a hit
returns a new list with the very same floats.

Example:
    >>> cache = QueryVectors(2)
    >>> cache.get("tea") is None
    True
    >>> cache.put("tea", [0.5, 0.25])
    >>> cache.get("tea")
    [0.5, 0.25]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

from ..errors import InvalidInputError


class QueryVectors:
    """The last ``size`` query embeddings by the exact text embedded (least recently used first out).

    Safe to share between threads. Vectors are copied in and out, so a caller that changes the
    list it got changes nothing here.

    Args:
        size: How many to keep; ``0`` keeps none (every query is embedded).

    Raises:
        InvalidInputError: ``size`` is negative.
    """

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or size < 0:
            raise InvalidInputError(f"query_cache_size must be an int >= 0 (0 turns the cache off), got {size!r}")
        self.size = size
        self._vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> list[float] | None:
        """The vector kept for ``text``, or ``None`` (counted as a hit or a miss)."""
        with self._lock:
            found = self._vectors.get(text)
            if found is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
        return list(found)

    def put(self, text: str, vector: Sequence[float]) -> None:
        """Keep ``vector`` as the embedding of ``text`` (the oldest goes once ``size`` are kept)."""
        if not self.size:
            return
        kept = tuple(float(v) for v in vector)
        with self._lock:
            self._vectors[text] = kept
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        """Forget every vector (the counters stay)."""
        with self._lock:
            self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)


__all__ = ["QueryVectors"]
