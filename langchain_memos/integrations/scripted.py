"""A scripted tool-calling chat model: offline runs of the graphs (no API key) and tests.

:class:`ScriptedChatModel` replies with ``script(messages)`` and keeps every input it saw.
:func:`memory_script` is a small, deterministic behaviour for a memory agent, and
:func:`scripted_memory_model` the model the ``langgraph.json`` graphs run on when
``MEMOS_MODEL=scripted`` (or ``configurable={"model": "scripted"}``), for example under
``langgraph dev`` with no provider configured. Each reply of :func:`memory_script` carries the
memories its input held in ``response_metadata["memories_seen"]``, so a client of the server
can check what memory put in front of the model.

Example:
    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> model = scripted_memory_model()
    >>> model.invoke([HumanMessage("Remember that my dog is called Biscuit")]).tool_calls[0]["args"]
    {'content': 'my dog is called Biscuit'}
    >>> block = '<memory id="m1" type="plaintext" date="2025-01-01">my dog is called Biscuit</memory>'
    >>> model.invoke([SystemMessage(block), HumanMessage("What is my dog called?")]).content
    'From memory: my dog is called Biscuit'
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any, Callable, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

#: A scripted model's behaviour: the messages of one call -> the reply.
Script = Callable[[list[BaseMessage]], AIMessage]

#: The ``MEMOS_MODEL`` / ``configurable["model"]`` value that selects :func:`scripted_memory_model`.
SCRIPTED_MODEL_NAME = "scripted"

_MEMORY_LINE = re.compile(r'<memory id="[^"]*" type="([^"]*)" date="([^"]*)"[^>]*>(.*?)</memory>')
_REMEMBER = re.compile(r"^\s*(?:please\s+)?remember(?:\s+that)?\s*[:,-]?\s*(?P<fact>\S.*?)\s*[.!]?\s*$",
                       re.IGNORECASE | re.DOTALL)
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset({"the", "and", "what", "who", "how", "that", "this", "with", "you", "your", "was", "are",
                        "for", "did", "does", "tell", "about", "from", "have", "has"})


class ScriptedChatModel(BaseChatModel):
    """A tool-calling fake chat model: each reply is ``script(messages)``; ``inputs`` keeps what it was sent.

    ``bind_tools`` returns the model itself (the script decides on tool calls), so it drops into
    ``create_agent``, ``create_react_agent`` and custom graphs.

    Args:
        script: The behaviour (see :data:`Script`), or a list of replies given in turn.
    """

    _script: Any = PrivateAttr()
    _seen: list = PrivateAttr(default_factory=list)

    def __init__(self, script: Script | Sequence[AIMessage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if callable(script):
            self._script = script
        else:
            replies = iter(list(script))
            self._script = lambda _messages: next(replies)

    @property
    def _llm_type(self) -> str:
        return "memos-scripted"

    @property
    def inputs(self) -> list[list[BaseMessage]]:
        """Every message list the model was called with, in order."""
        return self._seen

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        """Tools are the script's business: the model itself."""
        return self

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        self._seen.append(list(messages))
        reply = self._script(list(messages))
        return ChatResult(generations=[ChatGeneration(message=reply.model_copy())])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._reply(messages)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._reply(messages)


# ------------------------------------------------------------------ helpers for scripts
def last_human(messages: Sequence[BaseMessage]) -> str:
    """The text of the last human message."""
    return next((m.text for m in reversed(list(messages)) if m.type == "human"), "")


def system_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the system messages of one call (instructions, memories, tool memory)."""
    return "\n".join(m.text for m in messages if m.type == "system")


def memories_in(text: str) -> list[tuple[str, str, str]]:
    """``(type, date, content)`` of each ``<memory>`` line in ``text`` (a system message, a tool result)."""
    return _MEMORY_LINE.findall(text)


def tool_results(messages: Sequence[BaseMessage]) -> list[str]:
    """Texts of the tool results answered since the last human message."""
    out: list[str] = []
    for message in reversed(list(messages)):
        if message.type == "human":
            break
        if message.type == "tool":
            out.insert(0, message.text)
    return out


def call(name: str, args: dict[str, Any]) -> AIMessage:
    """An AI message asking for one tool call.

    The id is random, as a provider's is: tool traces are keyed by it, so ids reused across
    threads (say, a counter) would make later calls look already recorded.
    """
    return AIMessage("", tool_calls=[{"name": name, "args": dict(args), "id": f"call_{uuid.uuid4().hex[:12]}"}])


def content_words(text: str) -> set[str]:
    """The lower-cased words of ``text`` that carry meaning (3+ letters, not a stop word)."""
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOPWORDS}


def best_memory(question: str, memories: Sequence[str]) -> str | None:
    """The memory sharing the most content words with ``question`` (first on ties); ``None`` when none shares one."""
    wanted = content_words(question)
    scored = [(len(wanted & content_words(m)), -i, m) for i, m in enumerate(memories)]
    best = max(scored, default=(0, 0, None))
    return best[2] if best[0] > 0 else None


# ------------------------------------------------------------------ the memory agent's behaviour
def memory_script(messages: list[BaseMessage]) -> AIMessage:
    """A memory agent's behaviour, deterministic.

    * A tool answered this turn: acknowledge it (``"Noted: <tool result>"``).
    * The user says ``remember (that) <fact>``: call ``save_memory`` with the fact.
    * Otherwise answer from the ``<memory>`` lines of the system message: the one sharing the
      most words with the question (``"From memory: <memory>"``), else ``"I don't know that yet."``.

    Every reply carries the memories the call was given in ``response_metadata["memories_seen"]``.
    """
    seen = [html.unescape(content) for _, _, content in memories_in(system_text(messages))]
    metadata = {"memories_seen": seen}
    results = tool_results(messages)
    if results:
        return AIMessage(f"Noted: {results[-1]}", response_metadata=metadata)
    question = last_human(messages)
    fact = _REMEMBER.match(question)
    if fact:
        return call("save_memory", {"content": fact.group("fact")}).model_copy(
            update={"response_metadata": metadata})
    answer = best_memory(question, seen)
    return AIMessage(f"From memory: {answer}" if answer else "I don't know that yet.", response_metadata=metadata)


def scripted_memory_model() -> ScriptedChatModel:
    """A :class:`ScriptedChatModel` running :func:`memory_script` (what ``MEMOS_MODEL=scripted`` selects)."""
    return ScriptedChatModel(memory_script)


__all__ = [
    "SCRIPTED_MODEL_NAME",
    "Script",
    "ScriptedChatModel",
    "best_memory",
    "call",
    "content_words",
    "last_human",
    "memories_in",
    "memory_script",
    "scripted_memory_model",
    "system_text",
    "tool_results",
]
