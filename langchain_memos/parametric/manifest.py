"""The manifest saved next to every adapter: what it was distilled from, how, and how well.

A manifest is plain JSON (``manifest.json`` in the adapter's directory). It names the base
model, the exact cubes (ids, versions and a digest of their content) the adapter was
distilled from, the training settings and the metrics, and whether the adapter is
``stale`` (a source cube was superseded, changed or forgotten) and why.

Example:
    >>> ref = SourceRef(id="c1", version=2, digest=content_digest("Alice likes tea"))
    >>> m = AdapterManifest(namespace=("users", "alice"), version=1, sources=(ref,))
    >>> AdapterManifest.from_dict(m.to_dict()) == m
    True
    >>> m.adapter_id
    'users.alice@v1'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Sequence
from urllib.parse import quote

#: Version of the manifest format.
MANIFEST_FORMAT = 1


def content_digest(text: str) -> str:
    """A short digest of a cube's content (16 hex characters of SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def namespace_key(namespace: Sequence[str]) -> str:
    """A file-system-safe, unambiguous key of a namespace: labels URL-quoted and joined by ``.``.

    Namespace labels never contain ``.`` (MemOS rejects them), so the key is reversible.
    """
    return ".".join(quote(label, safe="") for label in namespace)


@dataclass(frozen=True)
class SourceRef:
    """One cube an adapter was distilled from.

    Attributes:
        id: The cube id.
        version: The cube's version when it was distilled.
        digest: :func:`content_digest` of its content then.
    """

    id: str
    version: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {"id": self.id, "version": self.version, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SourceRef":
        """Build from :meth:`to_dict` output."""
        return cls(id=str(data["id"]), version=int(data["version"]), digest=str(data["digest"]))


@dataclass(frozen=True)
class AdapterManifest:
    """What an adapter is: namespace, version, base model, sources, settings, metrics, staleness.

    Attributes:
        namespace: The namespace whose memories it holds.
        version: 1, 2, ... per namespace.
        base_model: ``{"name", "path", "fingerprint"}`` of the model it was trained on.
        sources: The cubes distilled into it.
        settings: The training settings (``LoRASettings.to_dict()``).
        metrics: Training figures (loss, NLL before/after, seconds, examples, size).
        created_at: ISO time it was saved.
        stale: A source was superseded, changed or forgotten since.
        stale_reason: Why it is stale.
        stale_at: ISO time it was marked stale.
        format: The manifest format version.
    """

    namespace: tuple[str, ...]
    version: int
    base_model: dict[str, Any] = field(default_factory=dict)
    sources: tuple[SourceRef, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    stale: bool = False
    stale_reason: str | None = None
    stale_at: str | None = None
    format: int = MANIFEST_FORMAT

    @property
    def adapter_id(self) -> str:
        """``"<namespace key>@v<version>"``: unique within an adapter store."""
        return f"{namespace_key(self.namespace)}@v{self.version}"

    @property
    def source_ids(self) -> frozenset[str]:
        """Ids of the source cubes."""
        return frozenset(s.id for s in self.sources)

    def marked_stale(self, reason: str, at: str) -> "AdapterManifest":
        """A copy marked stale with ``reason`` (an already stale manifest keeps its first reason)."""
        if self.stale:
            return self
        return replace(self, stale=True, stale_reason=reason, stale_at=at)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "format": self.format, "namespace": list(self.namespace), "version": self.version,
            "adapter_id": self.adapter_id, "base_model": dict(self.base_model),
            "sources": [s.to_dict() for s in self.sources], "settings": dict(self.settings),
            "metrics": dict(self.metrics), "created_at": self.created_at, "stale": self.stale,
            "stale_reason": self.stale_reason, "stale_at": self.stale_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AdapterManifest":
        """Build from :meth:`to_dict` output (``adapter_id`` is derived, not read)."""
        return cls(
            namespace=tuple(data["namespace"]), version=int(data["version"]),
            base_model=dict(data.get("base_model") or {}),
            sources=tuple(SourceRef.from_dict(s) for s in data.get("sources") or ()),
            settings=dict(data.get("settings") or {}), metrics=dict(data.get("metrics") or {}),
            created_at=data.get("created_at"), stale=bool(data.get("stale", False)),
            stale_reason=data.get("stale_reason"), stale_at=data.get("stale_at"),
            format=int(data.get("format", MANIFEST_FORMAT)),
        )


__all__ = ["MANIFEST_FORMAT", "AdapterManifest", "SourceRef", "content_digest", "namespace_key"]
