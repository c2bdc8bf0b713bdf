"""Memory as LangGraph nodes, each with a sync and an async path.

Every node reads ``runtime.store`` (a :class:`~langchain_memos.integrations.store.MemOSStore`)
or ``runtime.context`` for the MemOS, and ``runtime.context.user_id`` (falling back to
``config["configurable"]["user_id"]``) for the user; see :mod:`._scope`.

* ``retrieve_memories``: memories and past tool traces for the last human message, rendered
  into ``memos_context`` (the system text: instructions, byte-stable memory block, tool
  suggestions) with the cubes in ``memos_cubes``.
* ``capture_tool_traces``: the tool calls answered since the last human message become
  ``tool_trace`` cubes (tool, args, result or error, latency, outcome).
* ``write_memories``: the thread's new turns go into memory (:func:`._memory_ops.remember_turns`).
* ``consolidate``: a lifecycle pass over the user's namespace (background when the context
  carries a ``MemScheduler``).
* ``inject_kv_prefix``: hands ``memos_context`` to a local model's KV prefix cache
  (:class:`~langchain_memos.activation.ChatMemOSLocal`), so its prefill is reused.

Use the ready nodes (``from langchain_memos.integrations.nodes import retrieve_memories``) or
:class:`MemoryNodes` for other settings. Put :class:`MemoryState` keys in your state schema
to keep what the nodes write.

Example:
    >>> from langgraph.graph import StateGraph, START, END
    >>> from langchain_memos.integrations.nodes import MemoryState, retrieve_memories
    >>> builder = StateGraph(MemoryState)
    >>> _ = builder.add_node("retrieve", retrieve_memories)
    >>> _ = builder.add_edge(START, "retrieve")
    >>> _ = builder.add_edge("retrieve", END)
    >>> graph = builder.compile()  # compile with store=MemOSStore(...) to run it
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Sequence

from langchain_core.messages import AnyMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import MessagesState
from typing_extensions import NotRequired

from ..lookup import get_field
from ._memory_ops import Recall, aremember_turns, arecall, latest_human_text, message_type, recall, remember_turns
from ._scope import MemoryScope, current_runtime, resolve_lifecycle, resolve_scheduler, resolve_scope
from .settings import MemorySettings
from .tool_memory import arecord_traces, record_traces, traces_from_messages


class MemoryState(MessagesState):
    """``MessagesState`` plus the keys the memory nodes write.

    Attributes:
        memos_context: System text for the next model call (instructions, memory block,
            tool suggestions); empty when memory has nothing for the turn.
        memos_cubes: The retrieved cubes (``MemCube.to_dict`` without history).
        memos_tool_usage: Similar past tool calls and their tools' stats.
        memos_traces: Ids of the tool traces recorded by the last ``capture_tool_traces``.
        memos_remembered: Ids of the turns stored by the last ``write_memories``.
        memos_consolidation: The last consolidation report (or the scheduled job).
        memos_kv_prefix: What ``inject_kv_prefix`` cached.
    """

    memos_context: NotRequired[str]
    memos_cubes: NotRequired[list[dict[str, Any]]]
    memos_tool_usage: NotRequired[dict[str, Any]]
    memos_traces: NotRequired[list[str]]
    memos_remembered: NotRequired[list[str]]
    memos_consolidation: NotRequired[dict[str, Any]]
    memos_kv_prefix: NotRequired[dict[str, Any]]


# ------------------------------------------------------------------ pure steps
def state_messages(state: Any) -> list[Any]:
    """The ``messages`` of a state (dict or object); ``[]`` when it has none."""
    return list(get_field(state, "messages") or [])


def state_query(state: Any) -> str:
    """What a turn is about: the last human message, else a ``query``/``task`` key."""
    return latest_human_text(state_messages(state)) or str(get_field(state, "query") or get_field(state, "task") or "")


def current_turn(messages: Sequence[Any]) -> list[Any]:
    """The messages after the last human message (this turn's model and tool messages)."""
    for i in range(len(messages) - 1, -1, -1):
        if message_type(messages[i]) == "human":
            return list(messages[i + 1:])
    return list(messages)


def human_turns(messages: Sequence[Any]) -> int:
    """How many human messages a conversation has."""
    return sum(1 for m in messages if message_type(m) == "human")


def memory_messages(state: Any, instructions: str | None = None) -> list[AnyMessage]:
    """The messages a model node should send: the memory system message (when any), then the conversation.

    Nothing is written to the state: the memory stays out of the message history.
    """
    text = get_field(state, "memos_context") or instructions
    messages = [m for m in state_messages(state) if message_type(m) != "system"]
    return ([SystemMessage(text)] if text else []) + messages


def due_for_consolidation(messages: Sequence[Any], every: int) -> bool:
    """Whether the thread just completed its N-th human turn (N a multiple of ``every``)."""
    turns = human_turns(messages)
    return bool(every) and turns > 0 and turns % every == 0


def unwrap_model(model: Any) -> Any:
    """The chat model inside ``bind_tools``/``bind`` wrappers."""
    while hasattr(model, "bound") and not callable(getattr(model, "warm", None)):
        model = model.bound
    return model


def stamp_latency(message: Any, latency_ms: float) -> Any:
    """Record a tool call's latency on its ``ToolMessage`` (``response_metadata["memos_latency_ms"]``)."""
    if isinstance(message, ToolMessage):
        message.response_metadata = {**(message.response_metadata or {}), "memos_latency_ms": round(latency_ms, 3)}
    return message


def timed_tool_call(request: Any, handler: Callable[[Any], Any]) -> Any:
    """``ToolNode(wrap_tool_call=timed_tool_call)``: stamp each result with its latency for ``capture_tool_traces``."""
    started = time.perf_counter()
    result = handler(request)
    return stamp_latency(result, (time.perf_counter() - started) * 1000.0)


async def atimed_tool_call(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
    """Async twin of :func:`timed_tool_call` (``ToolNode(awrap_tool_call=...)``)."""
    started = time.perf_counter()
    result = await handler(request)
    return stamp_latency(result, (time.perf_counter() - started) * 1000.0)


# ----------------------------------------------------------------------- nodes
_NODE_DOCS = {
    "retrieve_memories": "Memories and tool suggestions for the last human message -> memos_context, memos_cubes.",
    "capture_tool_traces": "Tool calls answered since the last human message -> tool_trace cubes (memos_traces).",
    "write_memories": "The thread's new human/AI turns -> episode cubes of the user (memos_remembered).",
    "consolidate": "A lifecycle pass over the user's namespace, or a job for the context's MemScheduler.",
    "inject_kv_prefix": "Warm a local model's KV cache with memos_context (memos_kv_prefix).",
}


class MemoryNodes:
    """The memory nodes for one :class:`MemorySettings` (and, for ``inject_kv_prefix``, one model).

    Args:
        settings: Namespace template, k, tool suggestions, consolidation cadence...
        model: The local chat model whose KV prefix ``inject_kv_prefix`` warms (default:
            ``runtime.context.model``).

    Attributes:
        retrieve_memories / capture_tool_traces / write_memories / consolidate / inject_kv_prefix:
            The nodes (runnables with sync and async paths), ready for ``add_node``.
    """

    def __init__(self, settings: MemorySettings | None = None, *, model: Any = None) -> None:
        self.settings = settings or MemorySettings()
        self.model = model
        pairs = {
            "retrieve_memories": (self._retrieve, self._aretrieve),
            "capture_tool_traces": (self._capture, self._acapture),
            "write_memories": (self._write, self._awrite),
            "consolidate": (self._consolidate, self._aconsolidate),
            "inject_kv_prefix": (self._inject, self._ainject),
        }
        for name, (func, afunc) in pairs.items():
            node = RunnableLambda(func, afunc=afunc, name=name)
            node.__doc__ = _NODE_DOCS[name]
            setattr(self, name, node)

    def scope(self, config: RunnableConfig | None) -> MemoryScope:
        """The run's :class:`MemoryScope` (from the running graph's runtime and ``config``)."""
        return resolve_scope(current_runtime(), config, self.settings)

    # retrieve ---------------------------------------------------------------
    def _recall_args(self, state: Any, scope: MemoryScope) -> tuple[tuple, dict]:
        return ((scope.memos, state_query(state), scope.namespace, self.settings),
                {"user_id": scope.user_id, "thread_id": scope.thread_id})

    def _retrieve(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        args, kwargs = self._recall_args(state, self.scope(config))
        return recall(*args, **kwargs).to_state(self.settings.instructions)

    async def _aretrieve(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        args, kwargs = self._recall_args(state, self.scope(config))
        result: Recall = await arecall(*args, **kwargs)
        return result.to_state(self.settings.instructions)

    # traces -----------------------------------------------------------------
    def _traces(self, state: Any, scope: MemoryScope) -> list[Any]:
        messages = state_messages(state)
        return traces_from_messages(current_turn(messages), task=state_query(state), thread_id=scope.thread_id)

    def _capture(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        scope = self.scope(config)
        ids = record_traces(scope.memos, self._traces(state, scope), scope.namespace, owner=scope.user_id,
                            skip_tools=self.settings.untraced_tools)
        return {"memos_traces": ids}

    async def _acapture(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        scope = self.scope(config)
        ids = await arecord_traces(scope.memos, self._traces(state, scope), scope.namespace, owner=scope.user_id,
                                   skip_tools=self.settings.untraced_tools)
        return {"memos_traces": ids}

    # turns ------------------------------------------------------------------
    def _write(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        scope = self.scope(config)
        ids = remember_turns(scope.memos, state_messages(state), scope.namespace, user_id=scope.user_id,
                             thread_id=scope.thread_id)
        return {"memos_remembered": ids}

    async def _awrite(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        scope = self.scope(config)
        ids = await aremember_turns(scope.memos, state_messages(state), scope.namespace, user_id=scope.user_id,
                                    thread_id=scope.thread_id)
        return {"memos_remembered": ids}

    # consolidate ------------------------------------------------------------
    def _consolidate(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        return {"memos_consolidation": run_consolidation(current_runtime(), self.scope(config))}

    async def _aconsolidate(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        scope = self.scope(config)
        return {"memos_consolidation": await asyncio.to_thread(run_consolidation, current_runtime(), scope)}

    # activation -------------------------------------------------------------
    def _local_model(self, runtime: Any) -> Any:
        model = unwrap_model(self.model or get_field(get_field(runtime, "context"), "model"))
        return model if callable(getattr(model, "warm", None)) else None

    def _inject(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        return {"memos_kv_prefix": warm_prefix(self._local_model(current_runtime()),
                                               get_field(state, "memos_context") or "")}

    async def _ainject(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        text = get_field(state, "memos_context") or ""
        return {"memos_kv_prefix": await asyncio.to_thread(warm_prefix, self._local_model(current_runtime()), text)}


def run_consolidation(runtime: Any, scope: MemoryScope) -> dict[str, Any]:
    """Consolidate the user's namespace: submitted to the context's ``MemScheduler`` if there is one
    (returns ``{"scheduled": True, ...}``), else run now (returns the report)."""
    scheduler = resolve_scheduler(scope)
    if scheduler is not None and scheduler.lifecycle.memos is scope.memos:
        handle = scheduler.consolidate(scope.namespace)
        return {"scheduled": True, "namespace": list(scope.namespace), "job": repr(handle)}
    return resolve_lifecycle(runtime, scope).consolidate(scope.namespace).to_dict()


def warm_prefix(model: Any, system_text: str) -> dict[str, Any]:
    """Build (or find) the KV cache of ``system_text``'s prefix in a local model; a report dict."""
    if model is None or not system_text:
        return {"cached": False, "reason": "no local model" if model is None else "no memory context"}
    prefix = model.warm(system_text)
    if prefix is None:
        return {"cached": False, "reason": "model has no KV cache"}
    return {"cached": True, "model_id": prefix.model_id, "tokens": len(prefix.token_ids), "source": prefix.source}


_DEFAULT = MemoryNodes()

#: Ready nodes with the default :class:`MemorySettings`.
retrieve_memories = _DEFAULT.retrieve_memories
capture_tool_traces = _DEFAULT.capture_tool_traces
write_memories = _DEFAULT.write_memories
consolidate = _DEFAULT.consolidate
inject_kv_prefix = _DEFAULT.inject_kv_prefix

__all__ = [
    "MemoryNodes",
    "MemoryState",
    "atimed_tool_call",
    "capture_tool_traces",
    "consolidate",
    "current_turn",
    "due_for_consolidation",
    "inject_kv_prefix",
    "memory_messages",
    "retrieve_memories",
    "run_consolidation",
    "state_query",
    "timed_tool_call",
    "write_memories",
]
