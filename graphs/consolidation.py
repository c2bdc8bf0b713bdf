"""The consolidation graph (one lifecycle pass over the run's user namespace), for ``langgraph.json``.

Run it on a schedule (a cron in LangGraph Platform) with ``context={"user_id": ...}``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_memos.integrations.agents import create_consolidation_graph


def make_graph(config: RunnableConfig | None = None) -> Any:
    """The compiled consolidation graph (needs no model)."""
    return create_consolidation_graph()


#: The compiled graph, for loaders that take a graph object.
graph = make_graph()
