"""Prebuilt agents with MemOS memory.

* :func:`create_memos_agent`: ``langchain.agents.create_agent`` with :class:`MemOSMiddleware`,
  the memory tools (search, save, forget, recall tool usage) and a ``MemOSStore``.
* :func:`create_memos_react_agent`: the legacy ``langgraph.prebuilt.create_react_agent`` path;
  memory goes in through ``pre_model_hook`` (``llm_input_messages``, so nothing is persisted),
  tool traces are captured before each model call and turns are remembered by ``post_model_hook``.
* :func:`create_plan_execute_agent`: plan-and-execute with memory: the planner reads memories and
  past tool traces, the executor's tool calls are recorded as traces, a final step consolidates.
* :func:`create_consolidation_graph`: one lifecycle pass over a user's namespace as a graph.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from typing_extensions import NotRequired

from ..lookup import get_field
from ..memos import MemOS
from ._memory_ops import message_text
from .errors import InvalidPlanError
from .middleware import MemOSMiddleware
from .scripted import SCRIPTED_MODEL_NAME, scripted_memory_model
from .nodes import (
    MemoryNodes,
    MemoryState,
    atimed_tool_call,
    due_for_consolidation,
    memory_messages,
    state_messages,
    timed_tool_call,
)
from .settings import MemorySettings
from .store import MemOSStore
from .tools import memory_tools


#: The ``MEMOS_MODEL`` / ``configurable["model"]`` value that selects the local SmolLM2-135M (also the default).
SMOLLM2_MODEL_NAME = "smollm2"


def _memory_parts(memory: MemOS | MemOSStore | None, settings: MemorySettings | None,
                  store: Any) -> tuple[MemorySettings, Any]:
    """Settings bound to ``memory`` (when given) and the store the graph is compiled with."""
    settings = settings or MemorySettings()
    if isinstance(memory, MemOSStore):
        store = store if store is not None else memory
        memory = memory.memos
    if isinstance(memory, MemOS):
        settings = replace(settings, memos=memory)
        # the store embeds with the MemOS's own embedder, so store items are found by meaning too
        store = store if store is not None else MemOSStore(memory, index={"embed": memory.embeddings})
    return settings, store


def create_memos_agent(model: Any, tools: Sequence[Any] = (), *, memory: MemOS | MemOSStore | None = None,
                       settings: MemorySettings | None = None, with_memory_tools: bool = True,
                       middleware: Sequence[Any] = (), store: Any = None, checkpointer: Any = None,
                       system_prompt: str | None = None, **kwargs: Any) -> Any:
    """A ``create_agent`` agent with MemOS memory.

    Args:
        model: A chat model (or a ``provider:model`` string) that supports tool calling.
        tools: The agent's own tools (their calls are recorded as tool traces).
        memory: The MemOS (or a ``MemOSStore`` over one); ``None``: the store passed at
            compile time / in the context is used at run time.
        settings: :class:`MemorySettings` (namespace template, k, suggestions, cadence).
        with_memory_tools: Add ``search_memory``, ``save_memory``, ``forget_memory`` and
            ``recall_tool_usage``.
        middleware: More middleware (after the memory middleware).
        store / checkpointer: As in ``create_agent`` (``store`` defaults to a ``MemOSStore``
            over ``memory``).
        system_prompt: The static system prompt (memory is appended after it per call).
        **kwargs: Passed to ``langchain.agents.create_agent`` (``context_schema``, ``name``...).

    Returns:
        The compiled agent graph. Run it with ``context={"user_id": ...}`` or
        ``config={"configurable": {"user_id": ..., "thread_id": ...}}``.
    """
    from langchain.agents import create_agent

    settings, store = _memory_parts(memory, settings, store)
    all_tools = [*tools, *(memory_tools(settings) if with_memory_tools else [])]
    return create_agent(model, tools=all_tools, system_prompt=system_prompt,
                        middleware=[MemOSMiddleware(settings), *middleware], store=store, checkpointer=checkpointer,
                        **kwargs)


class _ReactMemoryHooks:
    """The legacy agent's hooks over :class:`MemoryNodes` (sync and async)."""

    def __init__(self, nodes: MemoryNodes) -> None:
        self.nodes = nodes

    def _inputs(self, state: Any, update: dict[str, Any]) -> dict[str, Any]:
        return {"llm_input_messages": memory_messages({**dict(state), **update}, None), **update}

    def pre(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        self.nodes.capture_tool_traces.invoke(state, config)
        return self._inputs(state, self.nodes.retrieve_memories.invoke(state, config))

    async def apre(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        await self.nodes.capture_tool_traces.ainvoke(state, config)
        return self._inputs(state, await self.nodes.retrieve_memories.ainvoke(state, config))

    def _final(self, state: Any) -> bool:
        messages = state_messages(state)
        return bool(messages) and not getattr(messages[-1], "tool_calls", None)

    def post(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        if not self._final(state):
            return {}
        update = self.nodes.write_memories.invoke(state, config)
        if due_for_consolidation(state_messages(state), self.nodes.settings.consolidate_every):
            update.update(self.nodes.consolidate.invoke(state, config))
        return update

    async def apost(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        if not self._final(state):
            return {}
        update = await self.nodes.write_memories.ainvoke(state, config)
        if due_for_consolidation(state_messages(state), self.nodes.settings.consolidate_every):
            update.update(await self.nodes.consolidate.ainvoke(state, config))
        return update


class ReactMemoryState(MemoryState):
    """State of :func:`create_memos_react_agent` (``MemoryState`` plus what the prebuilt agent needs)."""

    remaining_steps: NotRequired[int]


def create_memos_react_agent(model: Any, tools: Sequence[Any] = (), *, memory: MemOS | MemOSStore | None = None,
                             settings: MemorySettings | None = None, with_memory_tools: bool = True,
                             store: Any = None, checkpointer: Any = None, **kwargs: Any) -> Any:
    """The legacy path: ``langgraph.prebuilt.create_react_agent`` with memory hooks.

    ``pre_model_hook`` records the tool calls answered since the last model call as traces,
    retrieves memories and tool suggestions and hands the model ``llm_input_messages``
    (memory system message + conversation; the history is not changed). ``post_model_hook``
    remembers the turns once the model answers without tool calls and consolidates every
    ``consolidate_every`` human turns. Arguments are those of :func:`create_memos_agent`.
    """
    import warnings

    from langgraph.prebuilt import create_react_agent

    settings, store = _memory_parts(memory, settings, store)
    hooks = _ReactMemoryHooks(MemoryNodes(settings))
    all_tools = [*tools, *(memory_tools(settings) if with_memory_tools else [])]
    tool_node = ToolNode(all_tools, wrap_tool_call=timed_tool_call, awrap_tool_call=atimed_tool_call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(
            model, tool_node, state_schema=kwargs.pop("state_schema", ReactMemoryState),
            pre_model_hook=RunnableLambda(hooks.pre, afunc=hooks.apre, name="memos_pre_model"),
            post_model_hook=RunnableLambda(hooks.post, afunc=hooks.apost, name="memos_post_model"),
            store=store, checkpointer=checkpointer, **kwargs)


# ------------------------------------------------------------------ plan and execute
def _keep_last(_: Any, new: Any) -> Any:
    return new


class PlanExecuteState(MemoryState):
    """State of the plan-and-execute graph.

    Attributes:
        plan: The planner's steps.
        step: Index of the step being executed.
        results: What each finished step produced.
        response: The final answer.
    """

    plan: NotRequired[list[str]]
    step: NotRequired[int]
    results: NotRequired[Annotated[list[str], _keep_last]]
    response: NotRequired[str]


PLANNER_PROMPT = ("Make a short plan for the task below: one step per line, numbered 1., 2., ... "
                  "Use the memories and past tool calls above when they help.\n\nTask: {task}")
EXECUTOR_PROMPT = "Carry out step {number} of the plan: {step}\nUse a tool if it helps, then answer briefly."

_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+(.*\S)\s*$")


def parse_plan(text: str, max_steps: int) -> list[str]:
    """The steps of a numbered or bulleted plan (one unstructured line counts as one step).

    Raises:
        InvalidPlanError: The text holds no step.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    steps = [m.group(1) for m in (_STEP.match(line) for line in lines) if m]
    if not steps and lines:
        steps = [" ".join(" ".join(lines).split())]
    if not steps:
        raise InvalidPlanError(f"the planner returned no steps ({text[:80]!r}); give it clearer instructions")
    return steps[:max_steps]


class _PlanExecute:
    """The planner and executor steps: pure message building and state updates, sync and async model calls."""

    def __init__(self, model: Any, tools: Sequence[Any], settings: MemorySettings, max_steps: int) -> None:
        self.model = model
        self.executor_model = model.bind_tools(list(tools)) if tools else model
        self.settings = settings
        self.max_steps = max_steps

    def _system(self, state: Any) -> SystemMessage:
        return SystemMessage(get_field(state, "memos_context") or self.settings.instructions)

    def planner_input(self, state: Any) -> list[AnyMessage]:
        task = next((message_text(m) for m in reversed(state_messages(state)) if m.type == "human"), "")
        return [self._system(state), HumanMessage(PLANNER_PROMPT.format(task=task))]

    def planned(self, reply: AIMessage) -> dict[str, Any]:
        steps = parse_plan(message_text(reply), self.max_steps)
        plan = AIMessage("Plan:\n" + "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps)))
        return {"plan": steps, "step": 0, "results": [], "messages": [plan]}

    def executor_input(self, state: Any) -> list[AnyMessage]:
        step = int(get_field(state, "step") or 0)
        plan = list(get_field(state, "plan") or [])
        conversation = [m for m in state_messages(state) if m.type != "system"]
        return [self._system(state), *conversation,
                HumanMessage(EXECUTOR_PROMPT.format(number=step + 1, step=plan[step]))]

    def executed(self, state: Any, reply: AIMessage) -> dict[str, Any]:
        if getattr(reply, "tool_calls", None):
            return {"messages": [reply]}
        results = [*(get_field(state, "results") or []), message_text(reply)]
        return {"messages": [reply], "step": int(get_field(state, "step") or 0) + 1, "results": results}

    def plan(self, state: Any) -> dict[str, Any]:
        return self.planned(self.model.invoke(self.planner_input(state)))

    async def aplan(self, state: Any) -> dict[str, Any]:
        return self.planned(await self.model.ainvoke(self.planner_input(state)))

    def execute(self, state: Any) -> dict[str, Any]:
        return self.executed(state, self.executor_model.invoke(self.executor_input(state)))

    async def aexecute(self, state: Any) -> dict[str, Any]:
        return self.executed(state, await self.executor_model.ainvoke(self.executor_input(state)))

    @staticmethod
    def finish(state: Any) -> dict[str, Any]:
        results = list(get_field(state, "results") or [])
        return {"response": results[-1] if results else ""}

    @staticmethod
    def route(state: Any) -> str:
        messages = state_messages(state)
        if messages and getattr(messages[-1], "tool_calls", None):
            return "tools"
        return "executor" if int(get_field(state, "step") or 0) < len(get_field(state, "plan") or []) else "finish"


def create_plan_execute_agent(model: Any, tools: Sequence[Any] = (), *, memory: MemOS | MemOSStore | None = None,
                              settings: MemorySettings | None = None, max_steps: int = 5, store: Any = None,
                              checkpointer: Any = None, consolidate: bool = True) -> Any:
    """A plan-and-execute graph with memory.

    ``retrieve`` (memories and past tool traces for the task) -> ``planner`` (numbered plan) ->
    ``executor`` (one step at a time, with tools) <-> ``tools`` -> ``capture`` (tool traces)
    -> ... -> ``finish`` -> ``remember`` (turns) -> ``consolidate`` (lifecycle pass) -> END.

    Args:
        model: A chat model with ``bind_tools``.
        tools: The executor's tools.
        memory / settings / store / checkpointer: As in :func:`create_memos_agent`.
        max_steps: Most plan steps executed.
        consolidate: End with a lifecycle pass (``False``: skip it).
    """
    settings, store = _memory_parts(memory, settings, store)
    nodes = MemoryNodes(settings)
    steps = _PlanExecute(model, tools, settings, max_steps)
    builder = StateGraph(PlanExecuteState)
    builder.add_node("retrieve", nodes.retrieve_memories)
    builder.add_node("planner", RunnableLambda(steps.plan, afunc=steps.aplan, name="planner"))
    builder.add_node("executor", RunnableLambda(steps.execute, afunc=steps.aexecute, name="executor"))
    builder.add_node("tools", ToolNode(list(tools), wrap_tool_call=timed_tool_call, awrap_tool_call=atimed_tool_call))
    builder.add_node("capture", nodes.capture_tool_traces)
    builder.add_node("finish", steps.finish)
    builder.add_node("remember", nodes.write_memories)
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "planner")
    builder.add_edge("planner", "executor")
    builder.add_conditional_edges("executor", steps.route, ["tools", "executor", "finish"])
    builder.add_edge("tools", "capture")
    builder.add_edge("capture", "executor")
    builder.add_edge("finish", "remember")
    if consolidate:
        builder.add_node("consolidate", nodes.consolidate)
        builder.add_edge("remember", "consolidate")
        builder.add_edge("consolidate", END)
    else:
        builder.add_edge("remember", END)
    return builder.compile(store=store, checkpointer=checkpointer, name="plan_execute_memory")


def model_from_config(config: Any) -> Any:
    """The chat model a ``langgraph.json`` graph factory uses.

    ``config["configurable"]["model"]`` (a chat model, or a ``provider:model`` string for
    ``init_chat_model``), else the ``MEMOS_MODEL`` environment variable, else the local
    SmolLM2-135M (:meth:`~langchain_memos.activation.ChatMemOSLocal.from_smollm2`).
    The name ``"scripted"`` selects :func:`~langchain_memos.integrations.scripted.scripted_memory_model`,
    a deterministic offline tool-calling model (no API key), and ``"smollm2"`` the local SmolLM2.
    """
    import os

    choice = (get_field(config, "configurable") or {}).get("model") or os.environ.get("MEMOS_MODEL")
    if choice is None or choice == SMOLLM2_MODEL_NAME:
        from ..activation import ChatMemOSLocal

        return ChatMemOSLocal.from_smollm2(max_new_tokens=128)
    if choice == SCRIPTED_MODEL_NAME:
        return scripted_memory_model()
    if isinstance(choice, str):
        from langchain.chat_models import init_chat_model

        return init_chat_model(choice)
    return choice


def tools_from_config(config: Any) -> list[Any]:
    """``config["configurable"]["tools"]`` (a list of tools), else none."""
    return list((get_field(config, "configurable") or {}).get("tools") or [])


def create_consolidation_graph(*, memory: MemOS | MemOSStore | None = None, settings: MemorySettings | None = None,
                               store: Any = None, checkpointer: Any = None) -> Any:
    """One lifecycle pass (dedup, conflicts, tiers, summaries, archive, forget) over the run's user namespace."""
    settings, store = _memory_parts(memory, settings, store)
    builder = StateGraph(MemoryState)
    builder.add_node("consolidate", MemoryNodes(settings).consolidate)
    builder.add_edge(START, "consolidate")
    builder.add_edge("consolidate", END)
    return builder.compile(store=store, checkpointer=checkpointer, name="memos_consolidation")


__all__ = [
    "PlanExecuteState",
    "ReactMemoryState",
    "SMOLLM2_MODEL_NAME",
    "create_consolidation_graph",
    "create_memos_agent",
    "create_memos_react_agent",
    "create_plan_execute_agent",
    "model_from_config",
    "parse_plan",
    "tools_from_config",
]
