"""``MemOSMiddleware``: memory for ``langchain.agents.create_agent`` agents.

* ``wrap_model_call`` / ``awrap_model_call``: memories and tool suggestions for the last human
  message go into the system message of this one model call only (``ModelRequest.override``);
  the message history in the state never holds them. The block is byte-stable (same memories,
  same bytes; static text first, memory next, then the conversation), so provider prompt
  caches, vLLM prefix caching and the local KV prefix cache hit.
* ``wrap_tool_call`` / ``awrap_tool_call``: every tool call is recorded as a ``tool_trace``
  cube (tool, args, result or error, latency, outcome); errors are re-raised unchanged.
* ``after_agent`` / ``aafter_agent``: the run's new turns are remembered and, every
  ``consolidate_every`` human turns, a lifecycle pass runs (submitted to a ``MemScheduler``
  from the context when there is one).

Example:
    >>> from langchain_memos.integrations.middleware import MemOSMiddleware
    >>> MemOSMiddleware().settings.k
    6
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any, Awaitable, Callable

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import ToolMessage

from ._memory_ops import Recall, arecall, latest_human_text, memory_system_message, recall, remember_turns
from ._scope import MemoryScope, current_config, resolve_scope
from .nodes import due_for_consolidation, run_consolidation, state_messages
from .settings import MemorySettings
from .tool_memory import ToolTrace, arecord_traces, record_traces


def _tool_message(result: Any) -> ToolMessage | None:
    """The ``ToolMessage`` a tool call produced (directly, or inside a ``Command`` update)."""
    if isinstance(result, ToolMessage):
        return result
    update = getattr(result, "update", None)
    messages = update.get("messages") if isinstance(update, dict) else None
    for message in reversed(list(messages or [])):
        if isinstance(message, ToolMessage):
            return message
    return None


def trace_of(request: Any, result: Any, error: BaseException | None, latency_ms: float,
             thread_id: str | None) -> ToolTrace:
    """The trace of one intercepted tool call (pure)."""
    call = request.tool_call
    message = _tool_message(result)
    failed = error is not None or (message is not None and getattr(message, "status", "success") == "error")
    text = (f"{type(error).__name__}: {error}" if error is not None
            else (message.text if message is not None else str(getattr(result, "update", result))))
    return ToolTrace(tool=str(call.get("name")), args=dict(call.get("args") or {}),
                     outcome="error" if failed else "success", result=None if failed else text,
                     error=text if failed else None, latency_ms=latency_ms,
                     task=latest_human_text(state_messages(request.state)) or None,
                     tool_call_id=call.get("id"), thread_id=thread_id)


class MemOSMiddleware(AgentMiddleware):
    """Agent middleware that gives an agent MemOS memory (see the module docstring).

    Args:
        settings: Namespace template, how many memories and traces, consolidation cadence.
        **overrides: Fields of :class:`MemorySettings` to change (``memos=``, ``k=``...).
    """

    def __init__(self, settings: MemorySettings | None = None, **overrides: Any) -> None:
        super().__init__()
        base = settings or MemorySettings()
        self.settings = replace(base, **overrides) if overrides else base
        self.tools = []

    # ------------------------------------------------------------------ shared steps
    def _scope(self, runtime: Any, config: Any = None) -> MemoryScope:
        return resolve_scope(runtime, config if config is not None else current_config(), self.settings)

    def _recall_call(self, request: ModelRequest) -> tuple[tuple, dict]:
        scope = self._scope(request.runtime)
        return ((scope.memos, latest_human_text(request.messages), scope.namespace, self.settings),
                {"user_id": scope.user_id, "thread_id": scope.thread_id})

    def _apply(self, request: ModelRequest, memory: Recall) -> ModelRequest:
        if not memory:
            return request
        return request.override(system_message=memory_system_message(memory, request.system_message,
                                                                      self.settings.instructions))

    def _tool_scope(self, request: Any) -> MemoryScope:
        runtime = request.runtime
        return self._scope(runtime, getattr(runtime, "config", None))

    # ------------------------------------------------------------------ model calls
    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> Any:
        """Inject memory into this model call's system message only."""
        args, kwargs = self._recall_call(request)
        return handler(self._apply(request, recall(*args, **kwargs)))

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> Any:
        """Async twin of :meth:`wrap_model_call`."""
        args, kwargs = self._recall_call(request)
        return await handler(self._apply(request, await arecall(*args, **kwargs)))

    # ------------------------------------------------------------------ tool calls
    def _trace(self, request: Any, scope: MemoryScope, started: float, result: Any = None,
               error: BaseException | None = None) -> ToolTrace:
        return trace_of(request, result, error, (time.perf_counter() - started) * 1000.0, scope.thread_id)

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the tool and record its trace (errors are recorded, then re-raised)."""
        scope, started = self._tool_scope(request), time.perf_counter()
        try:
            result = handler(request)
        except Exception as exc:
            record_traces(scope.memos, [self._trace(request, scope, started, error=exc)], scope.namespace,
                          owner=scope.user_id,
                          skip_tools=self.settings.untraced_tools)
            raise
        record_traces(scope.memos, [self._trace(request, scope, started, result)], scope.namespace,
                      owner=scope.user_id,
                          skip_tools=self.settings.untraced_tools)
        return result

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Async twin of :meth:`wrap_tool_call`."""
        scope, started = self._tool_scope(request), time.perf_counter()
        try:
            result = await handler(request)
        except Exception as exc:
            await arecord_traces(scope.memos, [self._trace(request, scope, started, error=exc)], scope.namespace,
                                 owner=scope.user_id,
                          skip_tools=self.settings.untraced_tools)
            raise
        await arecord_traces(scope.memos, [self._trace(request, scope, started, result)], scope.namespace,
                             owner=scope.user_id,
                          skip_tools=self.settings.untraced_tools)
        return result

    # ------------------------------------------------------------------ end of run
    def _after(self, state: Any, runtime: Any) -> None:
        scope = self._scope(runtime)
        messages = state_messages(state)
        remember_turns(scope.memos, messages, scope.namespace, user_id=scope.user_id, thread_id=scope.thread_id)
        if due_for_consolidation(messages, self.settings.consolidate_every):
            run_consolidation(runtime, scope)

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Remember the run's new turns; consolidate every ``consolidate_every`` human turns."""
        self._after(state, runtime)
        return None

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Async twin of :meth:`after_agent` (the storage work runs in a thread)."""
        await asyncio.to_thread(self._after, state, runtime)
        return None


__all__ = ["MemOSMiddleware", "trace_of"]
