"""LangGraph integration: the drop-in store, memory nodes, agent middleware, tool memory,
the checkpointer and prebuilt agents.

Names are imported lazily so importing this package loads no engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "MemOSStore": "langchain_memos.integrations.store",
    "make_store": "langchain_memos.integrations.store",
    "StoreNamespaceError": "langchain_memos.integrations.store",
    "MemorySettings": "langchain_memos.integrations.settings",
    "MemoryScope": "langchain_memos.integrations._scope",
    "MemoryNodes": "langchain_memos.integrations.nodes",
    "MemoryState": "langchain_memos.integrations.nodes",
    "retrieve_memories": "langchain_memos.integrations.nodes",
    "capture_tool_traces": "langchain_memos.integrations.nodes",
    "write_memories": "langchain_memos.integrations.nodes",
    "consolidate": "langchain_memos.integrations.nodes",
    "inject_kv_prefix": "langchain_memos.integrations.nodes",
    "timed_tool_call": "langchain_memos.integrations.nodes",
    "atimed_tool_call": "langchain_memos.integrations.nodes",
    "MemOSMiddleware": "langchain_memos.integrations.middleware",
    "MemOSCheckpointer": "langchain_memos.integrations.checkpointer",
    "ToolTrace": "langchain_memos.integrations.tool_memory",
    "ToolStats": "langchain_memos.integrations.tool_memory",
    "ToolUsage": "langchain_memos.integrations.tool_memory",
    "tool_stats": "langchain_memos.integrations.tool_memory",
    "recall_tool_usage": "langchain_memos.integrations.tool_memory",
    "arecall_tool_usage": "langchain_memos.integrations.tool_memory",
    "record_traces": "langchain_memos.integrations.tool_memory",
    "arecord_traces": "langchain_memos.integrations.tool_memory",
    "render_tool_suggestions": "langchain_memos.integrations.tool_memory",
    "remember_turns": "langchain_memos.integrations._memory_ops",
    "aremember_turns": "langchain_memos.integrations._memory_ops",
    "memory_tools": "langchain_memos.integrations.tools",
    "create_memos_agent": "langchain_memos.integrations.agents",
    "create_memos_react_agent": "langchain_memos.integrations.agents",
    "create_plan_execute_agent": "langchain_memos.integrations.agents",
    "create_consolidation_graph": "langchain_memos.integrations.agents",
    "MemoryNotConfiguredError": "langchain_memos.integrations.errors",
    "MissingUserIdError": "langchain_memos.integrations.errors",
    "InvalidPlanError": "langchain_memos.integrations.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from ._memory_ops import aremember_turns, remember_turns
    from ._scope import MemoryScope
    from .agents import (
        create_consolidation_graph,
        create_memos_agent,
        create_memos_react_agent,
        create_plan_execute_agent,
    )
    from .checkpointer import MemOSCheckpointer
    from .errors import InvalidPlanError, MemoryNotConfiguredError, MissingUserIdError
    from .middleware import MemOSMiddleware
    from .nodes import (
        MemoryNodes,
        MemoryState,
        atimed_tool_call,
        capture_tool_traces,
        consolidate,
        inject_kv_prefix,
        retrieve_memories,
        timed_tool_call,
        write_memories,
    )
    from .settings import MemorySettings
    from .store import MemOSStore, StoreNamespaceError, make_store
    from .tool_memory import (
        ToolStats,
        ToolTrace,
        ToolUsage,
        arecall_tool_usage,
        arecord_traces,
        record_traces,
        recall_tool_usage,
        render_tool_suggestions,
        tool_stats,
    )
    from .tools import memory_tools
