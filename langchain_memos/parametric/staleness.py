"""Staleness: an adapter goes stale when a cube it was distilled from is superseded, changed or forgotten.

One rule (:func:`stale_reason`) decides, for one source and the cube as it is now; two
triggers apply it: :func:`mark_for_change` on each MemOS change event (push, right after
the write) and :func:`reconcile` against the record store (pull: catches writes made by
other processes or before the listener was attached). Tier moves, access counts, heat and
metadata-only updates leave an adapter fresh: what it learned still holds.

Example:
    >>> from langchain_memos.cube import MemCube
    >>> from langchain_memos.parametric.manifest import SourceRef, content_digest
    >>> cube = MemCube("Alice likes tea", ("u",), id="c1")
    >>> ref = SourceRef("c1", 1, content_digest("Alice likes tea"))
    >>> stale_reason(ref, cube) is None
    True
    >>> stale_reason(ref, None)
    'forgotten: cube c1 was deleted'
    >>> stale_reason(ref, cube.copy(content="Alice likes coffee", version=2))
    'changed: cube c1 content changed (v1 -> v2)'
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..cube import MemCube, Status
from ..events import MemChange
from .manifest import AdapterManifest, SourceRef, content_digest
from .store import AdapterStore


def stale_reason(ref: SourceRef, cube: MemCube | None) -> str | None:
    """Why an adapter distilled from ``ref`` is stale given the cube as it is now (``None``: it is gone)."""
    if cube is None:
        return f"forgotten: cube {ref.id} was deleted"
    by = (cube.metadata or {}).get("superseded_by")
    if by is not None or cube.valid_to is not None:
        return f"superseded: cube {ref.id} superseded by {by}" if by else f"superseded: cube {ref.id} no longer valid"
    if cube.status is Status.EXPIRED:
        return f"forgotten: cube {ref.id} expired"
    if content_digest(cube.content) != ref.digest:
        return f"changed: cube {ref.id} content changed (v{ref.version} -> v{cube.version})"
    return None


def manifest_reason(manifest: AdapterManifest, current: Mapping[str, MemCube | None]) -> str | None:
    """The first stale reason among the sources whose current state is in ``current`` (id -> cube or None)."""
    for ref in manifest.sources:
        if ref.id in current:
            reason = stale_reason(ref, current[ref.id])
            if reason is not None:
                return reason
    return None


def mark_for_change(store: AdapterStore, change: MemChange) -> list[AdapterManifest]:
    """Mark the adapters that ``change`` makes stale; returns them as now stored (stale)."""
    current: dict[str, MemCube | None] = {c.id: c for c in change.written}
    current.update({i: None for i in change.removed})
    marked = []
    for manifest in store.built_from(current):
        reason = manifest_reason(manifest, current)
        if reason is not None:
            marked.append(store.mark_stale(manifest, f"{reason} ({change.reason})" if change.reason else reason))
    return marked


def reconcile(store: AdapterStore, load: Callable[[Sequence[str]], list[MemCube | None]],
              namespaces: Sequence[Sequence[str]] | None = None,
              ) -> list[AdapterManifest]:
    """Check every fresh adapter (of ``namespaces``, default all) against the record store; mark the stale ones.

    Args:
        store: The adapters.
        load: The cubes of ids, ``None`` where gone (``MemOS.engine.load``).
        namespaces: Only these namespaces' adapters.
    """
    store.refresh()
    wanted = None if namespaces is None else {tuple(n) for n in namespaces}
    marked = []
    for manifest in store.all():
        if manifest.stale or (wanted is not None and manifest.namespace not in wanted):
            continue
        ids = [s.id for s in manifest.sources]
        current = dict(zip(ids, load(ids)))
        reason = manifest_reason(manifest, current)
        if reason is not None:
            marked.append(store.mark_stale(manifest, reason))
    return marked


__all__ = ["manifest_reason", "mark_for_change", "reconcile", "stale_reason"]
