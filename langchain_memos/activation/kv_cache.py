"""KV-cache prefix injection for transformers causal LMs.

A :class:`KVPrefix` is the key/value cache of one token prefix (system text plus the
rendered memory block), computed once by a prefill. :class:`KVPrefixCache` keeps
prefixes in a bounded LRU keyed by ``(model id, exact prefix token ids)``, saves them
to disk (safetensors) and loads them back, and hands out a fresh transformers
``DynamicCache`` for each use, so that generation only prefills the new tokens.

Exactness rules:

* A prefix's stored tensors are **never mutated**. :meth:`KVPrefix.to_cache` builds a
  new ``DynamicCache`` whose layers point at the stored tensors; transformers'
  ``DynamicLayer.update`` concatenates (it allocates new tensors and rebinds the
  layer's attributes), so the stored tensors stay as they were. Every tensor's
  version counter is recorded and checked on each use (:meth:`KVPrefix.check_intact`).
* Caches are **composed only where that is exact**. The keys and values of a token
  depend on every token before it and on its absolute position (RoPE), so the caches
  of two separately prefilled segments cannot be concatenated. What is exact, and what
  :meth:`KVPrefixCache.build` / :meth:`KVPrefixCache.compose` do, is to reuse the longest
  stored prefix of the new token sequence (a whole entry, or the common head of a
  full-attention entry, cropped) and prefill only the rest.

The pieces live in their own modules: :mod:`.kv_prefix` (the immutable prefix and its
layers), :mod:`.forward` (how a model is called: fingerprint, cache keyword, prefill),
:mod:`.kv_files` (the safetensors format); this module keeps the LRU store and
re-exports them.

Example:
    >>> cache = KVPrefixCache(max_entries=4)                              # doctest: +SKIP
    >>> prefix = cache.build(model, prefix_ids)                           # doctest: +SKIP
    >>> past = prefix.to_cache(model.config)                              # doctest: +SKIP
    >>> out = model(input_ids=suffix_ids, **{cache_argument(model): past})  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import CacheFormatError, PrefixMismatchError
from .forward import cache_argument, forward_last_logits, model_device, model_fingerprint, output_cache
from .kv_files import FORMAT_NAME, FORMAT_VERSION, load_prefix, save_prefix
from .kv_prefix import KVPrefix, LayerState, common_prefix_len, ids_tuple, prefix_digest, snapshot_cache


# ----------------------------------------------------------------------------- store
@dataclass
class CacheStats:
    """Counters of a :class:`KVPrefixCache`."""

    hits: int = 0
    misses: int = 0
    builds: int = 0
    evictions: int = 0
    disk_loads: int = 0
    disk_saves: int = 0
    prefilled_tokens: int = 0
    reused_tokens: int = 0


class KVPrefixCache:
    """A bounded, thread-safe LRU of :class:`KVPrefix` entries, with optional disk persistence.

    Args:
        max_entries: At most this many prefixes in memory (least recently used go first).
        max_bytes: Also keep the total tensor bytes under this (the newest entry always stays).
        disk_dir: Where :meth:`persist` writes and :meth:`get` reads saved prefixes
            (``<disk_dir>/<digest>.safetensors``). ``None``: memory only.
        persist: Save every prefix that :meth:`build` makes to ``disk_dir``.

    Keys are ``(model_id, token_ids)``: the exact prefix tokens, never text, so a hit is
    always exact. Use :func:`model_fingerprint` (the default) for ``model_id``.
    """

    def __init__(self, max_entries: int = 8, *, max_bytes: int | None = None, disk_dir: str | os.PathLike | None = None,
                 persist: bool = False) -> None:
        if max_entries < 1:
            raise PrefixMismatchError("max_entries must be at least 1")
        self.max_entries = int(max_entries)
        self.max_bytes = max_bytes
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self.persist_builds = bool(persist)
        self.stats = CacheStats()
        self._entries: "OrderedDict[tuple[str, tuple[int, ...]], KVPrefix]" = OrderedDict()
        self._lock = threading.RLock()

    # -------------------------------------------------------------- LRU
    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            if isinstance(key, KVPrefix):
                key = key.key
            return key in self._entries

    @property
    def nbytes(self) -> int:
        """Total tensor bytes held in memory."""
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def entries(self, model_id: str | None = None) -> list[KVPrefix]:
        """The entries in memory, least recently used first (optionally of one model)."""
        with self._lock:
            return [e for e in self._entries.values() if model_id is None or e.model_id == model_id]

    def put(self, entry: KVPrefix) -> KVPrefix:
        """Add (or refresh) an entry as the most recently used, evicting past the bounds."""
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            self._evict()
        return entry

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
        if self.max_bytes is not None:
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _, old = self._entries.popitem(last=False)
                total -= old.nbytes
                self.stats.evictions += 1

    def discard(self, entry_or_key: KVPrefix | tuple[str, Sequence[int]]) -> bool:
        """Drop one entry from memory; True if it was there."""
        key = entry_or_key.key if isinstance(entry_or_key, KVPrefix) else (entry_or_key[0], ids_tuple(entry_or_key[1]))
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Drop every entry from memory (files on disk stay)."""
        with self._lock:
            self._entries.clear()

    def get(self, model_id: str, token_ids: Sequence[int], *, load: bool = True) -> KVPrefix | None:
        """The entry for exactly these tokens, from memory or (``load=True``) from ``disk_dir``."""
        key = (model_id, ids_tuple(token_ids))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry
        if load and self.disk_dir is not None:
            path = self.disk_dir / f"{prefix_digest(*key)}.safetensors"
            if path.exists():
                entry = self.load(path, model_id=model_id)
                if entry.token_ids == key[1]:
                    with self._lock:
                        self.stats.disk_loads += 1
                        self.stats.hits += 1
                    return self.put(entry)
        with self._lock:
            self.stats.misses += 1
        return None

    def lookup(self, model_id: str, token_ids: Sequence[int], *, max_tokens: int | None = None,
               min_tokens: int = 1) -> tuple[KVPrefix | None, int]:
        """The entry that serves the longest exact head of ``token_ids``, and that head's length.

        Whole entries that ``token_ids`` start with count, and so does the common head of a
        full-attention entry (it is cropped on use). ``max_tokens`` caps the head (pass
        ``len(ids) - 1`` to keep one token to prefill for the next-token logits). Returns
        ``(None, 0)`` when no entry serves at least ``min_tokens``; counts a hit or a miss.
        """
        ids = np.asarray(ids_tuple(token_ids), dtype=np.int64)
        best, best_n = None, 0
        with self._lock:
            for entry in reversed(self._entries.values()):  # most recent first wins ties
                if entry.model_id != model_id:
                    continue
                n = entry.reusable_len(ids, max_tokens)
                if n > best_n:
                    best, best_n = entry, n
            if best is None or best_n < max(1, min_tokens):
                self.stats.misses += 1
                return None, 0
            self._entries.move_to_end(best.key)
            self.stats.hits += 1
            return best, best_n

    # -------------------------------------------------------------- build
    def build(self, model: Any, token_ids: Sequence[int], *, model_id: str | None = None, reuse: bool = True,
              persist: bool | None = None) -> KVPrefix:
        """The prefix for ``token_ids``: from the LRU if there, else prefilled and stored.

        With ``reuse=True`` the longest stored exact head of ``token_ids`` is taken and only
        the rest is prefilled (exact: it is the same computation as one full prefill, split
        in two). Runs under ``torch.no_grad``; safe to call from a background thread.
        """
        ids = ids_tuple(token_ids)
        if not ids:
            raise PrefixMismatchError("cannot build the KV cache of an empty prefix; pass at least one token id")
        mid = model_id or model_fingerprint(model)
        existing = self.get(mid, ids)
        if existing is not None:
            return existing
        base, n = self.lookup(mid, ids, max_tokens=len(ids) - 1) if reuse else (None, 0)
        started = time.perf_counter()
        past = base.to_cache(model.config, length=n, device=model_device(model)) if base is not None else None
        _, grown = forward_last_logits(model, ids[n:], past)
        entry = KVPrefix(mid, ids, snapshot_cache(grown), build_ms=(time.perf_counter() - started) * 1000.0,
                         reused_tokens=n)
        with self._lock:
            self.stats.builds += 1
            self.stats.prefilled_tokens += len(ids) - n
            self.stats.reused_tokens += n
        self.put(entry)
        if persist if persist is not None else (self.persist_builds and self.disk_dir is not None):
            self.persist(entry)
        return entry

    def compose(self, model: Any, parts: Sequence[Sequence[int]], *, model_id: str | None = None) -> KVPrefix:
        """The prefix for the concatenation of ``parts`` (e.g. several cubes' rendered tokens).

        Separately built caches are never concatenated (that is not exact, see the module
        docs). This reuses the longest stored exact head of the concatenation, which is the
        whole of the earlier parts when they were cached in this order, and prefills the rest.
        """
        ids: list[int] = []
        for part in parts:
            ids.extend(ids_tuple(part))
        return self.build(model, ids, model_id=model_id)

    # -------------------------------------------------------------- disk
    def persist(self, entry: KVPrefix) -> Path:
        """Save ``entry`` under ``disk_dir`` (named by its digest) and return the path."""
        if self.disk_dir is None:
            raise PrefixMismatchError("this KVPrefixCache has no disk_dir; fix: KVPrefixCache(disk_dir=...)")
        path = self.save(entry, self.disk_dir / f"{entry.digest}.safetensors")
        with self._lock:
            self.stats.disk_saves += 1
        return path

    #: Write a prefix to one safetensors file (see :func:`~.kv_files.save_prefix`).
    save = staticmethod(save_prefix)
    #: Read a prefix file back (see :func:`~.kv_files.load_prefix`).
    load = staticmethod(load_prefix)

    def load_dir(self, model_id: str | None = None) -> list[KVPrefix]:
        """Load every saved prefix in ``disk_dir`` (of ``model_id`` if given) into the LRU."""
        if self.disk_dir is None or not self.disk_dir.exists():
            return []
        loaded: list[KVPrefix] = []
        for path in sorted(self.disk_dir.glob("*.safetensors"), key=lambda p: p.stat().st_mtime):
            try:
                entry = self.load(path, model_id=model_id)
            except CacheFormatError:
                continue
            loaded.append(self.put(entry))
            with self._lock:
                self.stats.disk_loads += 1
        return loaded


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CacheStats",
    "KVPrefix",
    "KVPrefixCache",
    "LayerState",
    "cache_argument",
    "common_prefix_len",
    "forward_last_logits",
    "model_device",
    "model_fingerprint",
    "output_cache",
    "prefix_digest",
    "snapshot_cache",
]
