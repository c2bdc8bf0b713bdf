"""Ready LangGraph graphs with MemOS memory, declared in the repository's ``langgraph.json``.

* :mod:`graphs.react_memory`: a ReAct agent (``create_agent`` + ``MemOSMiddleware`` + memory tools).
* :mod:`graphs.plan_execute_memory`: plan-and-execute with memory and tool traces.
* :mod:`graphs.consolidation`: one lifecycle pass over a user's namespace.

Each module exposes ``make_graph(config)`` (the factory ``langgraph.json`` names); the model
comes from ``config["configurable"]["model"]`` (a chat model or a ``provider:model`` string),
else the ``MEMOS_MODEL`` environment variable, else the local SmolLM2-135M. The store is the
one ``langgraph.json`` declares (``langchain_memos.integrations.store:make_store``); runs pass
``user_id`` in the context or the configurable.
"""
