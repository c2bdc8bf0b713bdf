"""LangGraph integration: the drop-in store (and, later, nodes, middleware, checkpointer).

Names are imported lazily so importing this package loads no engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "MemOSStore": "langchain_memos.integrations.store",
    "make_store": "langchain_memos.integrations.store",
    "StoreNamespaceError": "langchain_memos.integrations.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'langchain_memos.integrations' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)


if TYPE_CHECKING:  # pragma: no cover
    from .store import MemOSStore, StoreNamespaceError, make_store
