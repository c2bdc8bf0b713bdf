"""LangGraph integration: the drop-in store (and, later, nodes, middleware, checkpointer).

Names are imported lazily so importing this package loads no engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "MemOSStore": "langchain_memos.integrations.store",
    "make_store": "langchain_memos.integrations.store",
    "StoreNamespaceError": "langchain_memos.integrations.store",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())



if TYPE_CHECKING:  # pragma: no cover
    from .store import MemOSStore, StoreNamespaceError, make_store
