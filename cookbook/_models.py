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
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

# The scripted model and the helpers scripts are written with live in the package.
from langchain_memos.integrations.scripted import (Script, ScriptedChatModel, call, last_human, memories_in,
                                                   system_text, tool_results)

MODEL_ENV = "MEMOS_CHAT_MODEL"

__all__ = ["MODEL_ENV", "PromptRecorder", "Script", "ScriptedChatModel", "add_memory_options", "call", "chat_model",
           "last_human", "memories_in", "open_memory", "system_text", "tool_results"]


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
