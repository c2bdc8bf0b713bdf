"""ReAct agent with MemOS memory (``create_memos_agent``), for ``langgraph.json``.

The memory comes from the store the server (or ``compile``) provides; the model and tools
from the run config (:func:`~langchain_memos.integrations.agents.model_from_config`).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_memos.integrations.agents import create_memos_agent, model_from_config, tools_from_config


def make_graph(config: RunnableConfig | None = None) -> Any:
    """The compiled ReAct-with-memory agent."""
    return create_memos_agent(model_from_config(config), tools_from_config(config), name="react_memory")
