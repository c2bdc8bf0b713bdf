"""AdapterStore: adapter files and manifests on disk, one directory per namespace and version.

Layout::

    <root>/<namespace key>/v0001/adapter_model.safetensors
                                adapter_config.json
                                manifest.json

A new version is written into a temporary directory and renamed into place, so a reader
never sees half an adapter; manifests are replaced atomically. Manifests are cached in
memory (the store re-reads a namespace when its directory listing changes).

Example:
    >>> import tempfile
    >>> from langchain_memos.parametric.manifest import AdapterManifest
    >>> store = AdapterStore(tempfile.mkdtemp())
    >>> m = store.save(("users", "alice"), lambda d: (d / "adapter_config.json").write_text("{}"),
    ...                AdapterManifest(namespace=("users", "alice"), version=0))
    >>> m.version, store.latest(("users", "alice")).adapter_id
    (1, 'users.alice@v1')
    >>> store.mark_stale(m, "superseded: cube c1").stale
    True
    >>> store.latest(("users", "alice")) is None
    True
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..cube import utcnow
from .errors import AdapterNotFoundError
from .manifest import AdapterManifest, namespace_key

MANIFEST_NAME = "manifest.json"


def _version_dir(version: int) -> str:
    return f"v{version:04d}"


class AdapterStore:
    """Adapters and their manifests under one root directory.

    Args:
        root: The directory (created when missing).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[tuple[str, ...], list[AdapterManifest]]] = {}
        self._sources: dict[str, list[tuple[tuple[str, ...], int]]] | None = None  # cube id -> adapters

    # ------------------------------------------------------------------ paths
    def namespace_dir(self, namespace: Sequence[str]) -> Path:
        """The directory of a namespace's adapters."""
        return self.root / namespace_key(namespace)

    def path(self, manifest: AdapterManifest) -> Path:
        """The directory of one adapter (what ``load_adapter`` reads)."""
        return self.namespace_dir(manifest.namespace) / _version_dir(manifest.version)

    # ------------------------------------------------------------------ reads
    def _load(self, key: str) -> list[AdapterManifest]:
        directory = self.root / key
        names = tuple(sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name.startswith("v"))) \
            if directory.is_dir() else ()
        cached = self._cache.get(key)
        if cached is not None and cached[0] == names:
            return cached[1]
        manifests = []
        for name in names:
            file = directory / name / MANIFEST_NAME
            if file.is_file():
                manifests.append(AdapterManifest.from_dict(json.loads(file.read_text())))
        manifests.sort(key=lambda m: m.version)
        self._cache[key] = (names, manifests)
        return manifests

    def versions(self, namespace: Sequence[str]) -> list[AdapterManifest]:
        """Every stored adapter of a namespace, oldest version first (stale ones included)."""
        with self._lock:
            return list(self._load(namespace_key(namespace)))

    def get(self, namespace: Sequence[str], version: int) -> AdapterManifest:
        """One version's manifest; :class:`AdapterNotFoundError` when there is none."""
        for m in self.versions(namespace):
            if m.version == version:
                return m
        raise AdapterNotFoundError(f"no adapter version {version} for namespace {tuple(namespace)!r}; "
                                   "fix: list them with AdapterStore.versions()")

    def latest(self, namespace: Sequence[str], *, include_stale: bool = False) -> AdapterManifest | None:
        """The newest (fresh, unless ``include_stale``) adapter of a namespace, or ``None``."""
        for m in reversed(self.versions(namespace)):
            if include_stale or not m.stale:
                return m
        return None

    def namespaces(self) -> list[tuple[str, ...]]:
        """Namespaces with at least one stored adapter."""
        with self._lock:
            keys = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
            return [ms[0].namespace for ms in (self._load(k) for k in keys) if ms]

    def all(self) -> list[AdapterManifest]:
        """Every stored adapter of every namespace."""
        return [m for ns in self.namespaces() for m in self.versions(ns)]

    def built_from(self, cube_ids: Iterable[str], *, include_stale: bool = False) -> list[AdapterManifest]:
        """The adapters distilled from any of ``cube_ids``.

        Answered from an in-memory index of sources (no disk access), rebuilt after this
        store's own writes and :meth:`refresh`; adapters saved by another process are seen
        after :meth:`refresh`.
        """
        with self._lock:
            if self._sources is None:
                index: dict[str, list[tuple[tuple[str, ...], int]]] = {}
                for m in self.all():
                    for ref in m.sources:
                        index.setdefault(ref.id, []).append((m.namespace, m.version))
                self._sources = index
            hits = dict.fromkeys(hit for cid in cube_ids for hit in self._sources.get(cid, ()))
            found = [self.get(ns, version) for ns, version in hits]
        return [m for m in found if include_stale or not m.stale]

    def refresh(self) -> None:
        """Forget the cached manifests (to see stale marks written by another process)."""
        with self._lock:
            self._cache.clear()
            self._sources = None

    # ------------------------------------------------------------------ writes
    def save(self, namespace: Sequence[str], write: Callable[[Path], object],
             manifest: AdapterManifest) -> AdapterManifest:
        """Store a new version: ``write(directory)`` writes the adapter files, then the manifest follows.

        ``manifest.version`` and ``created_at`` are set here (the next free version), and
        ``metrics["adapter_mb"]`` (the size of the weight files).
        """
        namespace = tuple(namespace)
        directory = self.namespace_dir(namespace)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
        try:
            write(tmp)
            size = sum(p.stat().st_size for p in tmp.glob("*.safetensors")) / (1024 * 1024)
            manifest = replace(manifest, metrics={**manifest.metrics, "adapter_mb": round(size, 4)})
            with self._lock:
                for attempt in range(100):
                    existing = [m.version for m in self._load(namespace_key(namespace))]
                    version = max(existing, default=0) + 1
                    saved = replace(manifest, namespace=namespace, version=version,
                                    created_at=utcnow().isoformat(timespec="seconds"))
                    _write_json(tmp / MANIFEST_NAME, saved.to_dict())
                    try:
                        os.rename(tmp, directory / _version_dir(version))
                        self._sources = None
                        break
                    except OSError:  # another process took that version: take the next
                        self._cache.pop(namespace_key(namespace), None)
                        if attempt == 99:
                            raise
            return saved
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def mark_stale(self, manifest: AdapterManifest, reason: str) -> AdapterManifest:
        """Mark an adapter stale with ``reason`` (kept in its manifest); returns the new manifest."""
        with self._lock:
            current = self.get(manifest.namespace, manifest.version)
            if current.stale:
                return current
            updated = current.marked_stale(reason, utcnow().isoformat(timespec="seconds"))
            _write_json(self.path(updated) / MANIFEST_NAME, updated.to_dict())
            key = namespace_key(manifest.namespace)
            names, manifests = self._cache[key]
            self._cache[key] = (names, [updated if m.version == updated.version else m for m in manifests])
            return updated

    def delete(self, manifest: AdapterManifest) -> bool:
        """Remove an adapter's files; False when it was not there."""
        with self._lock:
            path = self.path(manifest)
            if not path.is_dir():
                return False
            shutil.rmtree(path)
            self._cache.pop(namespace_key(manifest.namespace), None)
            self._sources = None
            return True

    def size_mb(self, manifest: AdapterManifest) -> float:
        """The adapter's weight files in MiB (the manifest and config excluded)."""
        path = self.path(manifest)
        return sum(p.stat().st_size for p in path.glob("*.safetensors")) / (1024 * 1024)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


__all__ = ["MANIFEST_NAME", "AdapterStore"]
