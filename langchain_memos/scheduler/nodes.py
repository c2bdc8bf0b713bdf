"""The scheduler's jobs as LangGraph nodes: ``consolidate`` and ``preload`` as graph steps.

Each node is a function ``(state, runtime)``. It finds the memory in this order:
``runtime.context`` (a ``MemLifecycle``, a ``MemScheduler``, a ``MemOS``, or an
object/dict with one of them under ``lifecycle``/``scheduler``/``memos``), then
``runtime.store`` when it is a ``MemOSStore`` (its ``.memos``). The namespace comes
from the context or the state (``namespace`` / ``memos_namespace``), the thread
from the context, the state (``thread_id``) or the run's ``configurable.thread_id``.

The nodes return one state key (``memos_consolidation`` / ``memos_preload``); a
graph whose state lacks that key simply ignores it.

Example:
    >>> from langgraph.graph import StateGraph, MessagesState, START, END  # doctest: +SKIP
    >>> builder = StateGraph(MessagesState)                                # doctest: +SKIP
    >>> builder.add_node("preload", preload_node)                          # doctest: +SKIP
    >>> builder.add_edge(START, "preload")                                 # doctest: +SKIP
    >>> graph = builder.compile(store=memos_store)                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..lookup import get_field


def resolve_lifecycle(runtime: Any) -> Any:
    """The :class:`~langchain_memos.lifecycle.MemLifecycle` a node should use (see the module docstring).

    Raises:
        LookupError: Neither the context nor the store leads to a MemOS.
    """
    from ..lifecycle import MemLifecycle
    from ..memos import MemOS
    from .background import MemScheduler

    context = get_field(runtime, "context")
    for candidate in (context, get_field(context, "lifecycle"), get_field(context, "scheduler"), get_field(context, "memos"),
                      get_field(get_field(runtime, "store"), "memos")):
        if isinstance(candidate, MemLifecycle):
            return candidate
        if isinstance(candidate, MemScheduler):
            return candidate.lifecycle
        if isinstance(candidate, MemOS):
            return MemLifecycle(candidate)
    raise LookupError("no MemOS found for this node: compile the graph with store=MemOSStore(...), or pass "
                      "context=<MemOS | MemLifecycle | MemScheduler> (or a context with a `memos` attribute)")


def _namespace(state: Any, runtime: Any) -> tuple[str, ...]:
    context = get_field(runtime, "context")
    for value in (get_field(context, "namespace"), get_field(state, "memos_namespace"), get_field(state, "namespace")):
        if value:
            return tuple(value)
    return ()


def _thread(state: Any, runtime: Any) -> str:
    value = get_field(get_field(runtime, "context"), "thread_id") or get_field(state, "thread_id")
    if value:
        return str(value)
    try:
        from langgraph.config import get_config

        value = (get_config().get("configurable") or {}).get("thread_id")
    except Exception:  # outside a run
        value = None
    return str(value) if value else "default"


def _text(message: Any) -> str:
    content = get_field(message, "content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") if isinstance(b, Mapping) else str(b) for b in content)
    return "" if content is None else str(content)


def _messages(state: Any) -> Sequence[Any]:
    messages = get_field(state, "messages")
    return list(messages) if messages else []


def consolidate_node(state: Any, runtime: Any) -> dict[str, Any]:
    """A lifecycle pass (dedup, conflicts, tiers, summaries, archive, forget) as a graph step."""
    lifecycle = resolve_lifecycle(runtime)
    report = lifecycle.consolidate(_namespace(state, runtime))
    return {"memos_consolidation": report.to_dict()}


def preload_node(state: Any, runtime: Any) -> dict[str, Any]:
    """Predict what the next model call needs and pull it into the thread's working set.

    The query is the last human message (else the last message); the recent turns
    are the messages before it.
    """
    lifecycle = resolve_lifecycle(runtime)
    messages = _messages(state)
    human = [m for m in messages if get_field(m, "type") == "human" or get_field(m, "role") == "user"]
    last = human[-1] if human else (messages[-1] if messages else None)
    query = _text(last) if last is not None else (get_field(state, "query") or "")
    recent = [_text(m) for m in messages if m is not last][-lifecycle.config.preload.recent_turns:]
    result = lifecycle.preload(_namespace(state, runtime), _thread(state, runtime), query=query or None,
                               recent=recent)
    return {"memos_preload": result.to_dict()}


__all__ = ["consolidate_node", "preload_node", "resolve_lifecycle"]
