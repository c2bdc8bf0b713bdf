"""The chat model the recipes run on, and a recorder of what each model call saw.

Offline (the default) the recipes run on :class:`ScriptedChatModel`: a tool-calling fake
whose replies come from a small function of its input, written per recipe to behave
plausibly (call a tool when the request needs one, answer from the memory block it was
given). Set ``MEMOS_CHAT_MODEL=provider:model`` (for example ``openai:gpt-4o-mini``, with
that provider's package and key) and :func:`chat_model` returns that model instead,
through ``langchain.chat_models.init_chat_model``.

:class:`PromptRecorder` is a callback handler: it keeps every message list a chat model
was called with, whichever model it is, so a recipe can print (and a test can check)
what memory put in front of the model.

:func:`add_memory_options` / :func:`open_memory` give every recipe the same ``--path`` and
``--embed`` options and open its memory the same way.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Callable, Sequence

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

#: A scripted model's behaviour: the messages of one call -> the reply.
Script = Callable[[list[BaseMessage]], AIMessage]

MODEL_ENV = "MEMOS_CHAT_MODEL"

_MEMORY_LINE = re.compile(r'<memory id="[^"]*" type="([^"]*)" date="([^"]*)"[^>]*>(.*?)</memory>')


class ScriptedChatModel(BaseChatModel):
    """A tool-calling fake chat model: each reply is ``script(messages)``.

    ``bind_tools`` returns the model itself, so it drops into ``create_agent`` and any graph.

    Args:
        script: The behaviour (see :data:`Script`).
    """

    _script: Any = PrivateAttr()

    def __init__(self, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._script = script

    @property
    def _llm_type(self) -> str:
        return "memos-cookbook-scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        """Tools are the script's business: the model itself."""
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._script(list(messages)))])


def chat_model(script: Script) -> BaseChatModel:
    """``init_chat_model($MEMOS_CHAT_MODEL)`` when that variable is set, else ``ScriptedChatModel(script)``."""
    name = os.environ.get(MODEL_ENV)
    if name:
        from langchain.chat_models import init_chat_model

        return init_chat_model(name)
    return ScriptedChatModel(script)


class PromptRecorder(BaseCallbackHandler):
    """Keeps the messages of every chat model call (``calls``), in order."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.extend(list(batch) for batch in messages)


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


def add_memory_options(parser: Any, *, path_help: str = "MemOS directory (default: in memory)") -> None:
    """The recipes' ``--path`` and ``--embed`` options."""
    from langchain_memos.embeddings import EMBEDDER_NAMES

    parser.add_argument("--path", help=path_help)
    parser.add_argument("--embed", choices=EMBEDDER_NAMES, default="minilm",
                        help="offline MiniLM (default) or a cheap hashing embedder")


def open_memory(args: Any, **options: Any) -> Any:
    """A :class:`~langchain_memos.MemOS` in ``args.path`` (in memory without one), embedding as ``args.embed``
    says; ``options`` go to the constructor (``retrieval=...``)."""
    from langchain_memos import MemOS
    from langchain_memos.embeddings import embeddings_named

    embeddings = embeddings_named(args.embed)
    if args.path:
        return MemOS(args.path, embeddings=embeddings, **options)
    return MemOS.ephemeral(embeddings=embeddings, **options)
