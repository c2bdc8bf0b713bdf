"""The memory operations every integration shares: remember turns, recall for a turn, compose the prompt.

Nodes, middleware, tools and the checkpointer are thin sync/async shells over these.
:func:`remember_turns` is the one place where conversation turns enter memory; an
extraction stage (facts from turns) plugs in here.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from langchain_core.messages import SystemMessage

from ..activation.prompts import memory_system_text
from ..cube import MemCube, MemoryType
from ..ingest import plan_items
from .settings import MemorySettings
from .tool_memory import ToolUsage, recall_tool_usage, render_tool_suggestions

#: Message types that are remembered as turns (tool results become traces instead).
TURN_TYPES = ("human", "ai")

TURN_KEY_PREFIX = "turn:"


def message_text(message: Any) -> str:
    """Plain text of a message object or ``{"role", "content"}`` dict."""
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") if isinstance(b, Mapping) else str(b)
                        for b in content if not isinstance(b, Mapping) or b.get("type", "text") == "text").strip()
    return "" if content is None else str(content)


def message_type(message: Any) -> str:
    """``human``/``ai``/``tool``/``system`` for a message object or dict."""
    if isinstance(message, Mapping):
        role = str(message.get("role") or message.get("type") or "")
        return {"user": "human", "assistant": "ai"}.get(role, role)
    return str(getattr(message, "type", ""))


def latest_human_text(messages: Sequence[Any]) -> str:
    """The text of the last human message ('' when there is none): the query of a turn."""
    for message in reversed(list(messages)):
        if message_type(message) == "human":
            return message_text(message)
    return ""


def turn_key(message: Any, thread_id: str | None, position: int) -> str:
    """A stable key for a turn: its message id, else a hash of its thread, position, role and text."""
    message_id = message.get("id") if isinstance(message, Mapping) else getattr(message, "id", None)
    if message_id:
        return f"{TURN_KEY_PREFIX}{thread_id or '-'}:{message_id}"
    digest = hashlib.sha1(f"{thread_id}|{position}|{message_type(message)}|{message_text(message)}".encode())
    return f"{TURN_KEY_PREFIX}{thread_id or '-'}:h{digest.hexdigest()[:16]}"


def rememberable(messages: Sequence[Any]) -> list[tuple[int, Any]]:
    """(position, message) of the human and AI messages with text (tool-call-only AI messages are skipped)."""
    return [(i, m) for i, m in enumerate(messages) if message_type(m) in TURN_TYPES and message_text(m).strip()]


def remember_turns(memos: Any, messages: Sequence[Any], namespace: Sequence[str], *, user_id: str | None = None,
                   thread_id: str | None = None, working: bool = False, lifecycle: Any = None) -> list[str]:
    """Store the new conversation turns of ``messages`` (the one entry point for turns into memory).

    Each human/AI message with text becomes an ``episode`` cube (``"speaker: text"``) owned
    by ``user_id``, keyed by its message id, so feeding the same messages again (from the
    checkpointer and from ``after_agent``) writes nothing twice. The user's turns then go
    through extraction (:meth:`MemOS.extract`: entities, facts, supersede); the assistant's
    do not, so an answer that restates memories never becomes a fact of its own.

    Args:
        memos: The MemOS.
        messages: The conversation (any order of old and new messages).
        namespace: The user's namespace.
        user_id: Owner of the new cubes.
        thread_id: The conversation thread (provenance and keys).
        working: Also admit the new cubes to the thread's working set (the working tier).
        lifecycle: The :class:`~langchain_memos.lifecycle.MemLifecycle` to admit with.

    Returns:
        Ids of the cubes written.
    """
    namespace = tuple(namespace)
    candidates = rememberable(messages)
    if not candidates:
        return []
    keys = [turn_key(m, thread_id, i) for i, m in candidates]
    present = {c.key for c in memos.engine.by_keys(namespace, keys) if c is not None}
    fresh = [(k, m) for k, (_, m) in zip(keys, candidates) if k not in present]
    if not fresh:
        return []
    # the user's turns are said by the user (``ann: I moved to Porto``), so facts name them
    said = [{"role": "user" if message_type(m) == "human" else "assistant", "content": message_text(m),
             "id": m.get("id") if isinstance(m, Mapping) else getattr(m, "id", None),
             **({"name": user_id} if user_id and message_type(m) == "human" else {})} for _, m in fresh]
    planned = plan_items(said, namespace, owner=user_id, thread_id=thread_id,
                         metadata={"thread_id": thread_id} if thread_id else {})
    cubes: list[MemCube] = []
    for (key, _), p in zip(fresh, planned):
        p.cube.key = key
        cubes.append(p.cube)
    ids = memos.add(cubes, namespace, extract=False)
    told = [cube_id for cube_id, cube in zip(ids, cubes) if cube.metadata.get("role") == "user"]
    if told and memos.graph is not None:
        memos.extract(told)  # facts come from what the user said, not from answers that echo memories
    if working and thread_id and ids:
        if lifecycle is None:
            from ..lifecycle import MemLifecycle

            lifecycle = MemLifecycle(memos)
        lifecycle.admit(ids, thread_id, namespace=namespace, reason="working: new turns")
    return ids


async def aremember_turns(memos: Any, messages: Sequence[Any], namespace: Sequence[str], **options: Any) -> list[str]:
    """Async twin of :func:`remember_turns`."""
    return await asyncio.to_thread(remember_turns, memos, list(messages), namespace, **options)


@dataclass(frozen=True)
class Recall:
    """What memory has for one turn.

    Attributes:
        query: The text searched for (the last human message).
        cubes: Memories (not tool traces; not this thread's own turns), best first.
        tool_usage: Similar past tool calls and their tools' stats.
    """

    query: str = ""
    cubes: list[MemCube] = field(default_factory=list)
    tool_usage: ToolUsage = field(default_factory=ToolUsage)

    def __bool__(self) -> bool:
        return bool(self.cubes) or bool(self.tool_usage)

    def system_text(self, instructions: str) -> str:
        """Instructions, the byte-stable memory block, then the tool suggestions (when any)."""
        text = memory_system_text(self.cubes, instructions)
        suggestions = render_tool_suggestions(self.tool_usage)
        return f"{text}\n\n{suggestions}" if suggestions else text

    def to_state(self, instructions: str) -> dict[str, Any]:
        """The state update of the ``retrieve_memories`` node (JSON-safe)."""
        return {"memos_context": self.system_text(instructions) if self else "",
                "memos_cubes": [c.to_dict(include_history=False) for c in self.cubes],
                "memos_tool_usage": self.tool_usage.to_dict()}


_FACT_TYPES = tuple(t for t in MemoryType if t is not MemoryType.TOOL_TRACE)


def recall(memos: Any, query: str, namespace: Sequence[str], settings: MemorySettings, *, user_id: str | None = None,
           thread_id: str | None = None) -> Recall:
    """Search the user's memories and tool traces for ``query``.

    Turns of the current thread are left out (they are in the conversation already).
    """
    if not query.strip():
        return Recall(query=query)
    cubes: list[MemCube] = []
    if settings.k:
        hits = memos.search(query, namespace, k=settings.k * 2, types=list(_FACT_TYPES), user=user_id)
        cubes = [h.cube for h in hits if not (thread_id and h.cube.thread_id == thread_id
                                               and h.cube.memory_type is MemoryType.EPISODE)][: settings.k]
    usage = ToolUsage()
    if settings.tool_suggestions and settings.trace_k:
        usage = recall_tool_usage(memos, query, namespace, k=settings.trace_k, user=user_id,
                                  stats_window=settings.stats_window)
    return Recall(query=query, cubes=cubes, tool_usage=usage)


async def arecall(memos: Any, query: str, namespace: Sequence[str], settings: MemorySettings, **options: Any) -> Recall:
    """Async twin of :func:`recall`."""
    return await asyncio.to_thread(recall, memos, query, namespace, settings, **options)


def memory_system_message(memory: Recall, system: SystemMessage | None, instructions: str) -> SystemMessage:
    """The system message a model call gets: its own system text (else ``instructions``), then the memory.

    The static text stays first and the byte-stable memory block follows it, before the
    conversation, so prompt caches keep hitting across turns.
    """
    own = system.text if system is not None else ""
    return SystemMessage(memory.system_text(own or instructions))
