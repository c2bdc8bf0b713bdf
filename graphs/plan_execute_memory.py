"""Plan-and-execute with MemOS memory (``create_plan_execute_agent``), for ``langgraph.json``."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_memos.integrations.agents import create_plan_execute_agent, model_from_config, tools_from_config


def build_graph(config: RunnableConfig | None = None) -> Any:
    """The compiled plan-and-execute-with-memory graph (loads the model: a local one reads its files)."""
    return create_plan_execute_agent(model_from_config(config), tools_from_config(config))


async def make_graph(config: RunnableConfig | None = None) -> Any:
    """The factory ``langgraph.json`` names: :func:`build_graph` in a worker thread.

    The LangGraph API server calls it for each run on its event loop, where reading a local
    model's files would block every other request (``langgraph dev`` refuses blocking calls).
    """
    return await asyncio.to_thread(build_graph, config)
