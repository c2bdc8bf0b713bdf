"""The KV cache of one token prefix: :class:`KVPrefix` (immutable once built) and its layers.

A prefix's stored tensors are never mutated: :meth:`KVPrefix.to_cache` builds a new
``DynamicCache`` whose layers point at them, and every tensor's version counter is
checked on each use (:meth:`KVPrefix.check_intact`). See :mod:`.kv_cache` for the
store that builds, reuses and persists prefixes.

Example:
    >>> common_prefix_len([1, 2, 3], [1, 2, 4, 5])
    2
    >>> ids_tuple([3, 4])
    (3, 4)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ._deps import dynamic_cache_classes, require_torch
from .errors import ActivationError, CacheFormatError, PrefixMismatchError, UnsupportedCacheError


def common_prefix_len(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """Length of the longest common prefix of two token-id sequences (or strings)."""
    if isinstance(a, str) or isinstance(b, str):
        n = min(len(a), len(b))
        i = 0
        while i < n and a[i] == b[i]:
            i += 1
        return i
    x = np.asarray(a, dtype=np.int64)
    y = np.asarray(b, dtype=np.int64)
    n = min(len(x), len(y))
    if n == 0:
        return 0
    diff = np.flatnonzero(x[:n] != y[:n])
    return int(diff[0]) if diff.size else n


def ids_tuple(token_ids: Iterable[int] | Any) -> tuple[int, ...]:
    """Token ids (a list, tuple, array or tensor of batch size 1) as a tuple of ints."""
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    token_ids = list(token_ids)
    if token_ids and isinstance(token_ids[0], (list, tuple)):
        raise PrefixMismatchError("token ids must be a flat sequence (batch size 1); pass ids[0]")
    return tuple(int(t) for t in token_ids)


@dataclass(frozen=True)
class LayerState:
    """The cached keys/values of one attention layer.

    Attributes:
        keys / values: ``[batch=1, kv_heads, tokens, head_dim]`` tensors, or ``None`` for a
            layer that keeps no cache of its own (KV sharing).
        sliding_window: The layer's window for sliding-window layers; ``None`` for full attention.
        cumulative_length: Tokens a sliding layer has seen (it keeps only the last window).
    """

    keys: Any
    values: Any
    sliding_window: int | None = None
    cumulative_length: int | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held by the keys and values."""
        if self.keys is None:
            return 0
        return int(self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size())


@dataclass(eq=False)
class KVPrefix:
    """The KV cache of one token prefix for one model. Immutable once built.

    Attributes:
        model_id: The model it belongs to (see :func:`~langchain_memos.activation.forward.model_fingerprint`).
        token_ids: The exact prefix tokens.
        layers: One :class:`LayerState` per decoder layer.
        build_ms: Wall time of the prefill that made it (0 when loaded from disk).
        reused_tokens: How many tokens were taken from an earlier prefix instead of prefilled.
        source: ``"prefill"`` or ``"disk"``.
    """

    model_id: str
    token_ids: tuple[int, ...]
    layers: tuple[LayerState, ...]
    build_ms: float = 0.0
    reused_tokens: int = 0
    source: str = "prefill"
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.token_ids = ids_tuple(self.token_ids)
        self.layers = tuple(self.layers)
        self._ids = np.asarray(self.token_ids, dtype=np.int64)
        self._versions = self._tensor_versions()

    def _tensor_versions(self) -> tuple[int, ...]:
        out: list[int] = []
        for layer in self.layers:
            if layer.keys is not None:
                out.extend((layer.keys._version, layer.values._version))
        return tuple(out)

    # -------------------------------------------------------------- views
    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def seq_len(self) -> int:
        """Number of prefix tokens."""
        return len(self.token_ids)

    @property
    def key(self) -> tuple[str, tuple[int, ...]]:
        """The LRU key: ``(model_id, token_ids)``."""
        return (self.model_id, self.token_ids)

    @property
    def digest(self) -> str:
        """A hex digest of the key, used as the file name on disk."""
        return prefix_digest(self.model_id, self.token_ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by all layers' keys and values."""
        return sum(layer.nbytes for layer in self.layers)

    @property
    def croppable(self) -> bool:
        """Whether a shorter head of this prefix can be reused (only full-attention layers can be cropped)."""
        return all(layer.sliding_window is None for layer in self.layers)

    @property
    def dtype(self) -> Any:
        """The dtype of the cached tensors."""
        return next((layer.keys.dtype for layer in self.layers if layer.keys is not None), None)

    def check_intact(self) -> None:
        """Raise :class:`ActivationError` if a stored tensor was changed in place since the build."""
        if self._tensor_versions() != self._versions:
            raise ActivationError(
                "a cached prefix's tensors were modified in place; something wrote into a shared cache. "
                "Fix: use KVPrefix.to_cache() for each generation and never pass the stored tensors to "
                "in-place ops; rebuild the prefix with KVPrefixCache.build()"
            )

    def startswith_of(self, token_ids: Sequence[int] | np.ndarray) -> bool:
        """Whether ``token_ids`` starts with this whole prefix."""
        ids = np.asarray(token_ids, dtype=np.int64)
        return len(ids) >= len(self._ids) and bool(np.array_equal(ids[: len(self._ids)], self._ids))

    def reusable_len(self, token_ids: Sequence[int] | np.ndarray, max_tokens: int | None = None) -> int:
        """How many leading tokens of ``token_ids`` this prefix can serve exactly (0 if none)."""
        limit = len(token_ids) if max_tokens is None else min(max_tokens, len(token_ids))
        if self.croppable:
            return min(common_prefix_len(self._ids, token_ids), limit)
        if len(self._ids) <= limit and self.startswith_of(token_ids):
            return len(self._ids)
        return 0

    # -------------------------------------------------------------- use
    def to_cache(self, config: Any, *, length: int | None = None, copy: bool = False, device: Any = None) -> Any:
        """A fresh ``DynamicCache`` holding this prefix (or its first ``length`` tokens).

        The new cache's layers point at the stored tensors (no copy) unless ``copy=True``;
        transformers grows a ``DynamicCache`` by concatenation, so generation never writes
        into them. Each call returns an independent cache object.

        Args:
            config: The model's config (``model.config``), which fixes the layer types.
            length: Use only the first ``length`` tokens (full-attention prefixes only).
            copy: Clone the tensors (for callers that modify caches in place).
            device: Move the tensors there first (a copy) when they live elsewhere, e.g. a
                prefix loaded from disk to CPU used with a GPU model.
        """
        self.check_intact()
        torch = require_torch()
        DynamicCache, DynamicLayer, SlidingLayer = dynamic_cache_classes()
        n = self.seq_len if length is None else int(length)
        if n < 0 or n > self.seq_len:
            raise PrefixMismatchError(f"length {n} is outside this prefix of {self.seq_len} tokens")
        if n != self.seq_len and not self.croppable:
            raise UnsupportedCacheError(
                "this prefix has sliding-window layers, which cannot be cropped; "
                "fix: reuse it only whole, or rebuild the shorter prefix with KVPrefixCache.build()"
            )
        cache = DynamicCache(config=config)
        if len(cache.layers) != len(self.layers):
            raise CacheFormatError(
                f"the prefix has {len(self.layers)} layers but the model config makes {len(cache.layers)}; "
                "fix: use the prefix with the model it was built for, "
                "or rebuild it with KVPrefixCache.build(model, ids)"
            )
        for layer, state in zip(cache.layers, self.layers):
            if state.keys is None:
                continue
            sliding = isinstance(layer, SlidingLayer)
            if sliding != (state.sliding_window is not None) or not isinstance(layer, DynamicLayer):
                raise CacheFormatError(
                    f"layer type mismatch ({type(layer).__name__} vs a {'sliding' if state.sliding_window else 'full'} "
                    "attention prefix); fix: rebuild the prefix with KVPrefixCache.build(model, ids)"
                )
            keys, values = state.keys, state.values
            if n != self.seq_len:
                keys, values = keys[..., :n, :], values[..., :n, :]
            if device is not None and keys.device != torch.device(device):
                keys, values = keys.to(device), values.to(device)
            elif copy:
                keys, values = keys.clone(), values.clone()
            layer.lazy_initialization(keys, values)
            layer.keys, layer.values = keys, values
            if sliding:
                layer.cumulative_length = int(state.cumulative_length or 0)
        return cache


def prefix_digest(model_id: str, token_ids: Sequence[int]) -> str:
    """The hex digest naming a prefix's file: sha256 over the model id and the token ids."""
    h = hashlib.sha256(model_id.encode())
    h.update(b"\0")
    h.update(np.asarray(token_ids, dtype=np.int64).tobytes())
    return h.hexdigest()[:40]


def snapshot_cache(cache: Any) -> tuple[LayerState, ...]:
    """Take the per-layer tensors out of a transformers ``DynamicCache`` (no copy).

    Raises :class:`UnsupportedCacheError` for layer kinds other than full and
    sliding-window attention (recurrent/linear-attention or quantized layers).
    """
    _, DynamicLayer, SlidingLayer = dynamic_cache_classes()
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise UnsupportedCacheError(
            f"expected a transformers DynamicCache with .layers, got {type(cache).__name__}; "
            "fix: upgrade transformers (pip install -U 'transformers>=4.56')"
        )
    out: list[LayerState] = []
    for layer in layers:
        if type(layer) not in (DynamicLayer, SlidingLayer):
            raise UnsupportedCacheError(
                f"cache layer {type(layer).__name__} cannot be kept as a prefix cache (only full and sliding-window "
                "attention can); fix: use ChatMemOSLocal without a KV prefix cache (kv_cache=None) for this model"
            )
        if not getattr(layer, "is_initialized", False) or layer.keys is None:
            out.append(LayerState(None, None))
            continue
        if type(layer) is SlidingLayer:
            out.append(LayerState(layer.keys, layer.values, int(layer.sliding_window), int(layer.cumulative_length)))
        else:
            out.append(LayerState(layer.keys, layer.values))
    return tuple(out)


__all__ = ["KVPrefix", "LayerState", "common_prefix_len", "ids_tuple", "prefix_digest", "snapshot_cache"]
