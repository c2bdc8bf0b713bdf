"""Plan-and-execute with MemOS memory (``create_plan_execute_agent``), for ``langgraph.json``."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_memos.integrations.agents import create_plan_execute_agent, model_from_config, tools_from_config


def make_graph(config: RunnableConfig | None = None) -> Any:
    """The compiled plan-and-execute-with-memory graph."""
    return create_plan_execute_agent(model_from_config(config), tools_from_config(config))
