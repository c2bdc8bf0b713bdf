"""AdapterRegistry: mount, switch and unmount per-namespace LoRA adapters on one loaded base model.

The base model is loaded once; adapters are added to it with peft's integration API
(:mod:`.adapters`: ``inject_adapter_in_model`` and the saved weights), made active or
bypassed by flipping each LoRA layer's flags (the base model answers when all are off) and
removed with peft's ``delete_adapter``. At
most ``max_loaded`` adapters stay loaded: loading one more evicts the least recently
used. Switching only flips which LoRA weights the layers use, so it takes about a
millisecond.

The model is shared state: :meth:`AdapterRegistry.activate` holds the registry's lock
while a caller runs the model with one namespace's adapter, so concurrent requests of
other users wait instead of running with the wrong adapter.

Example (``model`` a transformers causal LM, ``store`` an :class:`~.store.AdapterStore`)::

    registry = AdapterRegistry(model, store, max_loaded=4)
    registry.mount(("users", "alice"))          # latest fresh version
    with registry.activate(("users", "bob")) as manifest:   # None: bob has no adapter
        ...                                     # run the model
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

from .adapters import delete_adapter, load_adapter
from .errors import AdapterMismatchError, AdapterNotFoundError
from .manifest import AdapterManifest, namespace_key
from .store import AdapterStore

_UNKNOWN = "<unknown>"  # the active adapter after a load, until _apply sets one

#: Config fields that must match between the training base and the serving model.
ARCH_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


def base_model_info(model: Any, path: str | None = None) -> dict[str, Any]:
    """``{"name", "path", "fingerprint", "arch"}`` of a base model (what a manifest records)."""
    from ..activation.kv_cache import model_fingerprint

    config = model.config
    return {"name": getattr(config, "_name_or_path", None) or getattr(config, "model_type", None),
            "path": path, "fingerprint": model_fingerprint(model),
            "arch": {f: getattr(config, f, None) for f in ARCH_FIELDS}}


def peft_name(manifest: AdapterManifest) -> str:
    """The adapter's name inside the model (a module-name-safe digest of its id)."""
    return "memos_" + hashlib.sha1(manifest.adapter_id.encode()).hexdigest()[:16]


@dataclass
class RegistryStats:
    """Counters of an :class:`AdapterRegistry`.

    Attributes:
        loads: Adapters loaded into the model.
        evictions: Adapters removed to respect ``max_loaded``.
        unmounts: Adapters removed on request (or because they went stale).
        switches: Changes of the active adapter (base model included).
    """

    loads: int = 0
    evictions: int = 0
    unmounts: int = 0
    switches: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return asdict(self)


class AdapterRegistry:
    """Per-namespace adapters of an :class:`~.store.AdapterStore`, mounted on one loaded model.

    Args:
        model: A transformers causal LM (adapters are injected into its layers with peft).
            Its :func:`~langchain_memos.activation.kv_cache.model_fingerprint` is taken
            now, before any adapter is added, and names the base model in cache keys.
        store: Where the adapters are.
        max_loaded: Most adapters kept in the model at once (least recently used go first).
        strict: Refuse adapters whose base fingerprint differs (default: only a different
            architecture is refused, since re-saved copies of one model may hash differently).
        auto_mount: :meth:`activate`/:meth:`switch` mount a namespace's latest fresh adapter
            when none is mounted.
    """

    def __init__(self, model: Any, store: AdapterStore, *, max_loaded: int = 4, strict: bool = False,
                 auto_mount: bool = True) -> None:
        from ..activation.kv_cache import model_fingerprint

        if max_loaded < 1:
            raise ValueError(f"max_loaded must be >= 1, got {max_loaded}")
        self.model = model
        self.store = store
        self.max_loaded = max_loaded
        self.strict = strict
        self.auto_mount = auto_mount
        self.base_id = model_fingerprint(model)
        self.stats = RegistryStats()
        self._arch = {f: getattr(model.config, f, None) for f in ARCH_FIELDS}
        self._lock = threading.RLock()
        self._loaded: OrderedDict[str, AdapterManifest] = OrderedDict()  # adapter_id -> manifest, LRU order
        self._mounted: dict[str, str] = {}  # namespace key -> adapter_id
        self._active: str | None = None  # peft name of the active adapter, None: base model, _UNKNOWN
        self._layers: list[Any] | None = None

    # ------------------------------------------------------------------ views
    def loaded(self) -> list[AdapterManifest]:
        """Adapters in the model, least recently used first."""
        with self._lock:
            return list(self._loaded.values())

    def mounted(self, namespace: Sequence[str]) -> AdapterManifest | None:
        """The adapter that serves ``namespace`` now, or ``None``."""
        with self._lock:
            adapter_id = self._mounted.get(namespace_key(namespace))
            return self._loaded.get(adapter_id) if adapter_id is not None else None

    def cache_model_id(self, manifest: AdapterManifest | None, *, base_id: str | None = None) -> str:
        """The model id for KV caches made with ``manifest``'s adapter (``base_id``, default :attr:`base_id`, for ``None``).

        A prefix cache built under one adapter is never reused under another: the adapter
        changes the keys and values of every layer it touches.
        """
        base = base_id or self.base_id
        return base if manifest is None else f"{base}+lora:{manifest.adapter_id}"

    # ------------------------------------------------------------------ mounting
    def _check_base(self, manifest: AdapterManifest) -> None:
        base = manifest.base_model or {}
        arch = base.get("arch") or {}
        wrong = {f: (arch.get(f), self._arch.get(f)) for f in ARCH_FIELDS if f in arch and arch[f] != self._arch.get(f)}
        if wrong or (self.strict and base.get("fingerprint") not in (None, self.base_id)):
            raise AdapterMismatchError(
                f"adapter {manifest.adapter_id} was trained on {base.get('name')!r} "
                f"({base.get('fingerprint')}), not on this model ({self.base_id}; differing: {wrong or 'weights'}); "
                "fix: distill it again on this base model, or mount it on the model it was trained on")

    def _tuner_layers(self) -> list[Any]:
        if self._layers is None:
            from peft.tuners.tuners_utils import BaseTunerLayer

            self._layers = [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]
        return self._layers

    def _load(self, manifest: AdapterManifest) -> None:
        if manifest.adapter_id in self._loaded:
            self._loaded.move_to_end(manifest.adapter_id)
            return
        self._check_base(manifest)
        path = self.store.path(manifest)
        if not path.is_dir():
            raise AdapterNotFoundError(f"the files of adapter {manifest.adapter_id} are missing at {path}; "
                                       "fix: distill the namespace again")
        name = peft_name(manifest)
        load_adapter(self.model, path, name)
        marker = f".{name}."
        for param_name, param in self.model.named_parameters():
            if marker in param_name:
                param.requires_grad_(False)  # served adapters stay frozen, so switching never touches grads
        self._layers = None
        self._active = _UNKNOWN  # load_adapter activated the new adapter on some layers...
        self._apply(None)  # ...so go back to a known state: adapters off until one is activated
        self._loaded[manifest.adapter_id] = manifest
        self.stats.loads += 1
        while len(self._loaded) > self.max_loaded:
            victim = next(iter(self._loaded.values()))
            self._unload(victim)
            self.stats.evictions += 1

    def _unload(self, manifest: AdapterManifest) -> None:
        name = peft_name(manifest)
        if self._active == name:
            self._apply(None)
        delete_adapter(self.model, name)
        self._layers = None
        self._loaded.pop(manifest.adapter_id, None)
        for key, adapter_id in list(self._mounted.items()):
            if adapter_id == manifest.adapter_id:
                del self._mounted[key]

    def _apply(self, name: str | None) -> None:
        """Make ``name`` the active adapter (``None``: the base model alone).

        Sets on each LoRA layer the two flags that peft's ``set_adapter``/``enable_adapters``
        set (the active adapter, adapters on/off), without their per-call ``requires_grad``
        bookkeeping (served adapters are frozen once, at load): a switch costs microseconds
        per layer. Layers of another peft layout get the public calls.
        """
        if name == self._active:
            return
        for layer in self._tuner_layers():
            if hasattr(layer, "_active_adapter") and hasattr(layer, "_disable_adapters"):
                if name is None:
                    layer._disable_adapters = True
                else:
                    layer._active_adapter = [name]
                    layer._disable_adapters = False
            elif name is None:  # pragma: no cover - other peft versions
                layer.enable_adapters(False)
            else:  # pragma: no cover - other peft versions
                layer.enable_adapters(True)
                layer.set_adapter(name, inference_mode=True)
        self._active = name
        self.stats.switches += 1

    def mount(self, namespace: Sequence[str], version: int | None = None) -> AdapterManifest:
        """Load a namespace's adapter (``version``, default its latest fresh one) and let it serve the namespace.

        Raises:
            AdapterNotFoundError: No such (fresh) adapter is stored.
            AdapterMismatchError: It was trained on another base model.
        """
        manifest = self.store.get(namespace, version) if version is not None else self.store.latest(namespace)
        if manifest is None:
            raise AdapterNotFoundError(f"no fresh adapter for namespace {tuple(namespace)!r}; "
                                       "fix: distill one (ParametricMemory.distill) first")
        with self._lock:
            self._load(manifest)
            self._mounted[namespace_key(namespace)] = manifest.adapter_id
        return manifest

    def unmount(self, namespace: Sequence[str]) -> list[AdapterManifest]:
        """Remove every loaded adapter of ``namespace`` from the model; returns them."""
        key = namespace_key(namespace)
        with self._lock:
            gone = [m for m in self._loaded.values() if namespace_key(m.namespace) == key]
            for m in gone:
                self._unload(m)
                self.stats.unmounts += 1
            self._mounted.pop(key, None)
            return gone

    def unmount_stale(self) -> list[AdapterManifest]:
        """Remove loaded adapters that the store now marks stale; returns them."""
        with self._lock:
            stale = [m for m in self._loaded.values() if self._is_stale(m)]
            for m in stale:
                self._unload(m)
                self.stats.unmounts += 1
            return stale

    def _is_stale(self, manifest: AdapterManifest) -> bool:
        try:
            return self.store.get(manifest.namespace, manifest.version).stale
        except AdapterNotFoundError:
            return True

    def _serving(self, namespace: Sequence[str] | None) -> AdapterManifest | None:
        """The adapter to use for ``namespace`` (mounting or dropping as needed), lock held."""
        if namespace is None:
            return None
        current = self.mounted(namespace)
        if current is not None and self._is_stale(current):
            self._unload(current)
            self.stats.unmounts += 1
            current = None
        if current is None and self.auto_mount:
            latest = self.store.latest(namespace)
            if latest is not None:
                self._load(latest)
                self._mounted[namespace_key(namespace)] = latest.adapter_id
                current = latest
        if current is not None:
            self._loaded.move_to_end(current.adapter_id)
        return current

    def switch(self, namespace: Sequence[str] | None) -> AdapterManifest | None:
        """Make ``namespace``'s adapter active (``None`` or no adapter: the base model); returns it.

        Stale adapters are unmounted on the way (the next fresh version, if any, is mounted).
        For running the model, prefer :meth:`activate`, which also holds the lock.
        """
        with self._lock:
            manifest = self._serving(namespace)
            self._apply(peft_name(manifest) if manifest is not None else None)
            return manifest

    @contextmanager
    def activate(self, namespace: Sequence[str] | None) -> Iterator[AdapterManifest | None]:
        """Switch to ``namespace``'s adapter and hold the model until the block ends; yields the manifest."""
        with self._lock:
            yield self.switch(namespace)


__all__ = ["ARCH_FIELDS", "AdapterRegistry", "RegistryStats", "base_model_info", "peft_name"]
