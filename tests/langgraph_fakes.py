"""Test doubles for the LangGraph integration tests: a scripted tool-calling chat model that records its inputs."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

# The scripted model and its helpers live in the package (the langgraph.json graphs run on it offline).
from langchain_memos.integrations.scripted import Script, last_human, system_text
from langchain_memos.integrations.scripted import ScriptedChatModel as ScriptedToolModel

__all__ = ["Script", "ScriptedToolModel", "last_human", "system_text", "tool_then_answer"]


def tool_then_answer(tool: str, args: dict[str, Any], answer: str) -> Script:
    """Call ``tool`` once per turn (when the turn has no tool result yet), then answer ``answer``."""

    def script(messages: list[BaseMessage]) -> AIMessage:
        if messages and messages[-1].type == "tool":
            return AIMessage(answer)
        return AIMessage("", tool_calls=[{"name": tool, "args": dict(args), "id": f"call-{len(messages)}"}])

    return script
