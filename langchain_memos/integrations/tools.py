"""Memory tools for agents: search, save, forget, and "how did I use tools for this before".

Each tool finds the MemOS and user through its ``ToolRuntime`` (the agent's store and
context, as the nodes do), so one set of tools serves every user of an agent, each in
their own namespace. Every tool has a sync and an async path.

Example:
    >>> from langchain_memos.integrations.tools import memory_tools
    >>> [t.name for t in memory_tools()]
    ['search_memory', 'save_memory', 'forget_memory', 'recall_tool_usage']
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool

from ..cube import MemoryType
from ..render import render_memory_block
from ._scope import MemoryScope, resolve_scope
from .settings import MemorySettings
from .tool_memory import recall_tool_usage, render_tool_suggestions

_SAVE_TYPES = {"fact": MemoryType.FACT, "preference": MemoryType.PREFERENCE, "episode": MemoryType.EPISODE,
               "persona": MemoryType.PERSONA}


def _scope(runtime: Any, settings: MemorySettings) -> MemoryScope:
    return resolve_scope(runtime, getattr(runtime, "config", None) or {}, settings)


def search_memory_text(scope: MemoryScope, query: str, k: int) -> str:
    """The answer of ``search_memory``: the matching memories as a delimited block (with ids)."""
    hits = scope.memos.search(query, scope.namespace, k=max(1, min(int(k), 20)), user=scope.user_id,
                              types=[t for t in MemoryType if t is not MemoryType.TOOL_TRACE])
    return render_memory_block([h.cube for h in hits]) if hits else "No memories match."


def save_memory_text(scope: MemoryScope, content: str, kind: str) -> str:
    """The answer of ``save_memory``: the new memory's id."""
    memory_type = _SAVE_TYPES.get(kind.strip().lower(), MemoryType.FACT)
    ids = scope.memos.add(content, scope.namespace, memory_type=memory_type, owner=scope.user_id, source="agent",
                          importance=0.7, metadata={"thread_id": scope.thread_id} if scope.thread_id else None)
    return f"Saved memory {ids[0]}."


def forget_memory_text(scope: MemoryScope, memory_id: str) -> str:
    """The answer of ``forget_memory``; only the user's own namespace can be touched."""
    cube = scope.memos.get(memory_id, user=scope.user_id, touch=False)
    if cube is None or cube.namespace[: len(scope.namespace)] != scope.namespace:
        return f"No memory {memory_id} to forget."
    scope.memos.delete(memory_id, reason="forgotten by agent tool", user=scope.user_id)
    return f"Forgot memory {memory_id}."


def tool_usage_text(scope: MemoryScope, task: str, tool: str | None, settings: MemorySettings) -> str:
    """The answer of ``recall_tool_usage``: similar past calls with their tools' stats."""
    usage = recall_tool_usage(scope.memos, task, scope.namespace, k=max(1, settings.trace_k), user=scope.user_id,
                              stats_window=settings.stats_window, tool=tool or None)
    return render_tool_suggestions(usage) or "No similar tool calls recorded yet."


def memory_tools(settings: MemorySettings | None = None) -> list[BaseTool]:
    """``search_memory``, ``save_memory``, ``forget_memory`` and ``recall_tool_usage`` for ``settings``.

    Each tool's sync function runs its pure step; its coroutine runs the same function in a thread.
    """
    settings = settings or MemorySettings()

    def search_memory(query: str, runtime: ToolRuntime, k: int = 5) -> str:
        return search_memory_text(_scope(runtime, settings), query, k)

    async def asearch_memory(query: str, runtime: ToolRuntime, k: int = 5) -> str:
        return await asyncio.to_thread(search_memory, query, runtime, k)

    def save_memory(content: str, runtime: ToolRuntime, kind: str = "fact") -> str:
        return save_memory_text(_scope(runtime, settings), content, kind)

    async def asave_memory(content: str, runtime: ToolRuntime, kind: str = "fact") -> str:
        return await asyncio.to_thread(save_memory, content, runtime, kind)

    def forget_memory(memory_id: str, runtime: ToolRuntime) -> str:
        return forget_memory_text(_scope(runtime, settings), memory_id)

    async def aforget_memory(memory_id: str, runtime: ToolRuntime) -> str:
        return await asyncio.to_thread(forget_memory, memory_id, runtime)

    def recall_usage(task: str, runtime: ToolRuntime, tool: str = "") -> str:
        return tool_usage_text(_scope(runtime, settings), task, tool, settings)

    async def arecall_usage(task: str, runtime: ToolRuntime, tool: str = "") -> str:
        return await asyncio.to_thread(recall_usage, task, runtime, tool)

    specs = [
        (search_memory, asearch_memory, "search_memory",
         "Search the user's long-term memory. Args: query (what to look for), k (how many)."),
        (save_memory, asave_memory, "save_memory",
         "Save a fact or preference about the user to long-term memory. Args: content (one self-contained "
         "sentence), kind (fact, preference, episode or persona)."),
        (forget_memory, aforget_memory, "forget_memory",
         "Forget one memory by its id (the id attribute shown by search_memory)."),
        (recall_usage, arecall_usage, "recall_tool_usage",
         "How were similar tasks done before: which tool, which arguments, did it work, and each tool's "
         "success rate and latency. Args: task, optional tool name."),
    ]
    return [StructuredTool.from_function(func=func, coroutine=coroutine, name=name, description=description)
            for func, coroutine, name, description in specs]


__all__ = ["forget_memory_text", "memory_tools", "save_memory_text", "search_memory_text", "tool_usage_text"]
