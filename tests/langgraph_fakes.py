"""Test doubles for the LangGraph integration tests: a scripted tool-calling chat model that records its inputs."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

Script = Callable[[list[BaseMessage]], AIMessage]


class ScriptedToolModel(BaseChatModel):
    """A chat model whose replies come from a function of its input; it keeps every input it saw.

    ``bind_tools`` returns the model itself (LangChain's fakes lack it), so it drops into
    ``create_agent``, ``create_react_agent`` and custom graphs.
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
        return "scripted-tool-model"

    @property
    def inputs(self) -> list[list[BaseMessage]]:
        """Every message list the model was called with, in order."""
        return self._seen

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedToolModel":
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


def system_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the system messages a model call got."""
    return "\n".join(m.text for m in messages if m.type == "system")


def last_human(messages: Sequence[BaseMessage]) -> str:
    """The last human message's text."""
    return next((m.text for m in reversed(list(messages)) if m.type == "human"), "")


def tool_then_answer(tool: str, args: dict[str, Any], answer: str) -> Script:
    """Call ``tool`` once per turn (when the turn has no tool result yet), then answer ``answer``."""

    def script(messages: list[BaseMessage]) -> AIMessage:
        if messages and messages[-1].type == "tool":
            return AIMessage(answer)
        return AIMessage("", tool_calls=[{"name": tool, "args": dict(args), "id": f"call-{len(messages)}"}])

    return script
