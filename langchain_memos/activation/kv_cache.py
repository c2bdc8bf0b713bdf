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

Example:
    >>> cache = KVPrefixCache(max_entries=4)                              # doctest: +SKIP
    >>> prefix = cache.build(model, prefix_ids)                           # doctest: +SKIP
    >>> past = prefix.to_cache(model.config)                              # doctest: +SKIP
    >>> out = model(input_ids=suffix_ids, **{cache_argument(model): past})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ._deps import dynamic_cache_classes, require_safetensors, require_torch
from .errors import ActivationError, CacheFormatError, PrefixMismatchError, UnsupportedCacheError

FORMAT_NAME = "langchain_memos.kv_prefix"
FORMAT_VERSION = "1"


# ----------------------------------------------------------------------------- helpers
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


def _ids_tuple(token_ids: Iterable[int] | Any) -> tuple[int, ...]:
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    token_ids = list(token_ids)
    if token_ids and isinstance(token_ids[0], (list, tuple)):
        raise PrefixMismatchError("token ids must be a flat sequence (batch size 1); pass ids[0]")
    return tuple(int(t) for t in token_ids)


#: Config keys that change with how a model was loaded, not with what it computes.
_VOLATILE_CONFIG = frozenset({"transformers_version", "quantization_config", "name_or_path", "architectures",
                              "torch_dtype", "use_cache", "output_attentions", "output_hidden_states"})


def model_fingerprint(model: Any) -> str:
    """A stable id for a model's weights and config: ``"<model_type>@<16 hex>"``.

    Hashes the config and the first values of every parameter (cheap, a few ms), so two
    randomly initialised models with the same config get different ids. The result is
    memoised on the model object; pass ``model_id=`` explicitly to cache APIs where the
    weights change after loading (fine-tuning).
    """
    cached = getattr(model, "_memos_model_id", None)
    if isinstance(cached, str):
        return cached
    torch = require_torch()
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        try:
            data = {k: v for k, v in config.to_dict().items() if not k.startswith("_") and k not in _VOLATILE_CONFIG}
            h.update(json.dumps(data, sort_keys=True, default=str).encode())
        except Exception:  # pragma: no cover - exotic configs
            h.update(type(config).__name__.encode())
    with torch.no_grad():
        for name, param in model.named_parameters():
            h.update(name.encode())
            h.update(str(tuple(param.shape)).encode())
            h.update(str(param.dtype).encode())
            head = param.detach().reshape(-1)[:256].to("cpu", torch.float32)
            h.update(head.numpy().tobytes())
    name = getattr(config, "model_type", "") or type(model).__name__
    model_id = f"{name}@{h.hexdigest()[:16]}"
    try:
        model._memos_model_id = model_id
    except Exception:  # pragma: no cover - objects that refuse attributes
        pass
    return model_id


_FORWARD_PARAMETERS: dict[type, frozenset[str]] = {}


def _forward_parameters(model: Any) -> frozenset[str]:
    """The keyword names ``model.forward`` takes (cached per model class)."""
    cls = type(model)
    if cls not in _FORWARD_PARAMETERS:
        try:
            _FORWARD_PARAMETERS[cls] = frozenset(inspect.signature(model.forward).parameters)
        except (TypeError, ValueError):  # pragma: no cover
            _FORWARD_PARAMETERS[cls] = frozenset()
    return _FORWARD_PARAMETERS[cls]


def cache_argument(model: Any) -> str:
    """The keyword ``model.forward``/``generate`` takes the KV cache as.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name is deprecated
    and goes in 5.40); earlier releases only know ``past_key_values``.
    """
    return "cache" if "cache" in _forward_parameters(model) else "past_key_values"


def output_cache(output: Any) -> Any:
    """The grown KV cache of a model output (``cache`` from transformers 5.24, else ``past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def model_device(model: Any) -> Any:
    """The device of the model's first parameter (CPU for parameterless stubs)."""
    torch = require_torch()
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def forward_last_logits(model: Any, token_ids: Sequence[int] | Any, past_key_values: Any = None) -> tuple[Any, Any]:
    """Run ``model`` on ``token_ids`` (batch size 1) after ``past_key_values``.

    Returns ``(logits of the last position as a 1-D float tensor, the grown cache)``.
    ``past_key_values`` is grown by transformers; pass a fresh one (see
    :meth:`KVPrefix.to_cache`). ``None`` starts an empty ``DynamicCache``.
    """
    torch = require_torch()
    DynamicCache, _, _ = dynamic_cache_classes()
    if past_key_values is None:
        past_key_values = DynamicCache(config=model.config)
    if isinstance(token_ids, torch.Tensor):
        ids = token_ids.reshape(1, -1).to(model_device(model))
    else:
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=model_device(model))
    if ids.shape[1] == 0:
        raise PrefixMismatchError("nothing to prefill: pass at least one token after the cached prefix")
    kwargs: dict[str, Any] = {"input_ids": ids, cache_argument(model): past_key_values, "use_cache": True}
    if "logits_to_keep" in _forward_parameters(model):
        kwargs["logits_to_keep"] = 1
    with torch.no_grad():
        out = model(**kwargs)
    return out.logits[0, -1].float(), output_cache(out)


# ----------------------------------------------------------------------------- prefix
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
        model_id: The model it belongs to (see :func:`model_fingerprint`).
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
        self.token_ids = _ids_tuple(self.token_ids)
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
        key = entry_or_key.key if isinstance(entry_or_key, KVPrefix) else (entry_or_key[0], _ids_tuple(entry_or_key[1]))
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Drop every entry from memory (files on disk stay)."""
        with self._lock:
            self._entries.clear()

    def get(self, model_id: str, token_ids: Sequence[int], *, load: bool = True) -> KVPrefix | None:
        """The entry for exactly these tokens, from memory or (``load=True``) from ``disk_dir``."""
        key = (model_id, _ids_tuple(token_ids))
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
        ids = np.asarray(_ids_tuple(token_ids), dtype=np.int64)
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
        ids = _ids_tuple(token_ids)
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
            ids.extend(_ids_tuple(part))
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

    @staticmethod
    def save(entry: KVPrefix, path: str | os.PathLike) -> Path:
        """Write ``entry`` to one safetensors file (atomically) and return its path.

        The file holds ``token_ids`` and ``layer.<i>.keys`` / ``layer.<i>.values`` tensors;
        its metadata holds the model id, the format version and the layer kinds.
        """
        torch = require_torch()
        st = require_safetensors()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, Any] = {"token_ids": torch.tensor(entry.token_ids, dtype=torch.int64)}
        layer_meta: list[dict[str, Any]] = []
        for i, layer in enumerate(entry.layers):
            layer_meta.append({"present": layer.keys is not None, "sliding_window": layer.sliding_window,
                               "cumulative_length": layer.cumulative_length})
            if layer.keys is not None:
                tensors[f"layer.{i}.keys"] = layer.keys.detach().to("cpu").contiguous()
                tensors[f"layer.{i}.values"] = layer.values.detach().to("cpu").contiguous()
        metadata = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model_id": entry.model_id,
                    "layers": json.dumps(layer_meta), "created_at": repr(entry.created_at)}
        fd, tmp = tempfile.mkstemp(prefix=".kvprefix-", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            st.save_file(tensors, tmp, metadata=metadata)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @staticmethod
    def load(path: str | os.PathLike, *, model: Any = None, model_id: str | None = None,
             device: Any = None) -> KVPrefix:
        """Read a prefix written by :meth:`save`.

        Args:
            path: The safetensors file.
            model: If given, the prefix must have been built for this model (same
                :func:`model_fingerprint`), and tensors move to its device and dtype check.
            model_id: If given (and no ``model``), the saved model id must equal it.
            device: Where to put the tensors (default: the model's device, else CPU).

        Raises:
            CacheFormatError: Not a prefix file, another format version, or another model.
        """
        st = require_safetensors()
        path = Path(path)
        if not path.exists():
            raise CacheFormatError(f"no saved prefix at {path}; fix: save one with KVPrefixCache.save(entry, path)")
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            # Read the bytes into memory (no mmap): load time is paid here, not at first use,
            # and later changes to the file cannot reach the loaded tensors.
            tensors = st.load(path.read_bytes())
        except Exception as exc:
            raise CacheFormatError(f"{path} is not a readable safetensors file ({exc}); fix: rebuild the prefix "
                                   "with KVPrefixCache.build(model, ids) and save it again") from exc
        if metadata.get("format") != FORMAT_NAME or metadata.get("version") != FORMAT_VERSION:
            raise CacheFormatError(
                f"{path} is not a {FORMAT_NAME} v{FORMAT_VERSION} file (format={metadata.get('format')!r}, "
                f"version={metadata.get('version')!r}); fix: rebuild it with KVPrefixCache.build(model, ids)"
            )
        saved_id = metadata.get("model_id", "")
        expected = model_fingerprint(model) if model is not None else model_id
        if expected is not None and saved_id != expected:
            raise CacheFormatError(
                f"{path} was built for model {saved_id!r}, not {expected!r}; fix: rebuild the prefix for this model "
                "with KVPrefixCache.build(model, ids), or pass the right model_id"
            )
        if device is None and model is not None:
            device = model_device(model)
        layers: list[LayerState] = []
        for i, meta in enumerate(json.loads(metadata.get("layers", "[]"))):
            if not meta.get("present", True):
                layers.append(LayerState(None, None))
                continue
            try:
                keys, values = tensors[f"layer.{i}.keys"], tensors[f"layer.{i}.values"]
            except KeyError as exc:
                raise CacheFormatError(f"{path} lacks layer {i}'s tensors; fix: rebuild the prefix") from exc
            if device is not None:
                keys, values = keys.to(device), values.to(device)
            layers.append(LayerState(keys, values, meta.get("sliding_window"), meta.get("cumulative_length")))
        if model is not None:
            param_dtype = next(model.parameters()).dtype
            dtypes = {layer.keys.dtype for layer in layers if layer.keys is not None}
            if dtypes and dtypes != {param_dtype}:
                raise CacheFormatError(f"{path} holds {dtypes} tensors but the model runs in {param_dtype}; "
                                       "fix: rebuild the prefix with the model in its current dtype")
        token_ids = tuple(int(t) for t in tensors["token_ids"].tolist())
        return KVPrefix(saved_id, token_ids, tuple(layers), source="disk")

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
    "CacheStats",
    "KVPrefix",
    "KVPrefixCache",
    "LayerState",
    "cache_argument",
    "common_prefix_len",
    "forward_last_logits",
    "model_fingerprint",
    "output_cache",
    "prefix_digest",
    "snapshot_cache",
]
