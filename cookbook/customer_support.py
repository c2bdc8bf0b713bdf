"""Recipe: multi-turn customer support with tool memory (past tickets, which tool fixed what).

Dana's files stop syncing. In ticket 101 the agent follows the runbook: ``restart_sync``
fails, ``clear_sync_cache`` fixes it. ``MemOSMiddleware`` records each call as a
``tool_trace`` cube (tool, args, outcome, result or error, latency) and remembers the
ticket's turns. In ticket 102 (a new thread) Dana has the same problem. Before the first
model call, the middleware puts two things in the system message: the past ticket
(``<memories>``), and the past calls for similar tasks with each tool's success rate and
latency (``<tool_memory>``). The agent goes straight to the tool that worked.

    python -m cookbook.customer_support                     # offline: scripted model, MiniLM
    python -m cookbook.customer_support --embed hash --path ./memos_data
    MEMOS_CHAT_MODEL=openai:gpt-4o-mini python -m cookbook.customer_support    # any chat model
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver

from cookbook._models import PromptRecorder, add_memory_options, call, chat_model, open_memory, system_text
from langchain_memos import MemOS, MemoryType
from langchain_memos.integrations import create_memos_agent
from langchain_memos.integrations.tool_memory import all_tool_stats

CUSTOMER = "dana"
NAMESPACE = ("users", CUSTOMER)
SYSTEM_PROMPT = ("You are a support agent for a file-sync service. Fix the customer's problem with your tools; "
                 "prefer tools that worked before for similar problems.")
TICKETS = [
    ("ticket-101", "My files stopped syncing on my laptop."),
    ("ticket-102", "Sync is stuck again on my laptop, nothing uploads."),
]
#: The runbook order the agent follows when memory has nothing better.
RUNBOOK = ["restart_sync", "clear_sync_cache"]
_TRACE = re.compile(r'<tool_trace tool="([^"]+)" outcome="([^"]+)"(?: calls="(\d+)" success_rate="([\d.]+)")?')


@tool
def restart_sync(device: str) -> str:
    """Restart the sync service on the customer's device."""
    raise ToolException(f"sync service on {device} restarted but the upload queue is still stuck")


@tool
def clear_sync_cache(device: str) -> str:
    """Clear the sync cache on the customer's device and re-queue its files."""
    return f"cache cleared on {device}; 214 files re-queued, uploads resumed"


restart_sync.handle_tool_error = True  # a failed fix is an answer for the agent (and an "error" trace), not a crash


def support_script(messages: list[BaseMessage]) -> AIMessage:
    """The offline model: the tool memory's best tool first, else the runbook; stop at the first fix."""
    turn = messages[max(i for i, m in enumerate(messages) if m.type == "human"):]
    tried = [c["name"] for m in turn for c in (getattr(m, "tool_calls", None) or [])]
    if turn[-1].type == "tool" and turn[-1].status != "error":
        return AIMessage(f"Fixed with {tried[-1]}: {turn[-1].text}. Closing the ticket.")
    worked = sorted(((float(rate or 0), tool) for tool, outcome, _, rate in _TRACE.findall(system_text(messages))
                     if outcome == "success"), reverse=True)
    for name in [tool for _, tool in worked] + RUNBOOK:
        if name not in tried:
            return call(name, {"device": "laptop"})
    return AIMessage("None of my tools fixed it; escalating to an engineer.")


def explain_tools(memos: MemOS, question: str) -> list[str]:
    """Past tool calls similar to ``question``, with why they matched."""
    hits = memos.search(question, NAMESPACE, k=3, types=[MemoryType.TOOL_TRACE], user=CUSTOMER, min_score=0.0)
    return [f"{h.cube.metadata['tool']} -> {h.cube.metadata['outcome']}  <- {h.why}" for h in hits]


def run(memos: MemOS, model: Any) -> dict[str, Any]:
    """Handle both tickets; returns what each ticket's model calls saw, the traces and the tool stats."""
    agent = create_memos_agent(model, [restart_sync, clear_sync_cache], memory=memos, system_prompt=SYSTEM_PROMPT,
                               checkpointer=InMemorySaver())
    tickets: dict[str, dict[str, Any]] = {}
    for thread, question in TICKETS:
        recorder = PromptRecorder()
        print(f"\n== {thread}: {question}")
        print("   tool memory finds:\n     " + "\n     ".join(explain_tools(memos, question) or ["(nothing yet)"]))
        config = {"configurable": {"thread_id": thread, "user_id": CUSTOMER}, "callbacks": [recorder]}
        state = agent.invoke({"messages": [HumanMessage(question)]}, config)
        calls = [(m.name, m.status, m.text) for m in state["messages"] if m.type == "tool"]
        for name, status, text in calls:
            print(f"   {name}: {status}: {text}")
        print("   agent:", state["messages"][-1].text)
        tickets[thread] = {"answer": state["messages"][-1].text, "tool_calls": calls,
                           "model_inputs": [system_text(c) for c in recorder.calls]}
    traces = memos.list(NAMESPACE, types=[MemoryType.TOOL_TRACE], limit=100)
    stats = {name: s.to_dict() for name, s in all_tool_stats(memos, NAMESPACE).items()}
    print("\nper-tool stats:")
    for name, s in stats.items():
        print(f"   {name}: {s['calls']} calls, success rate {s['success_rate']:.2f}, p50 {s['latency_p50_ms']:.1f} ms")
    return {"tickets": tickets, "stats": stats,
            "traces": [{k: c.metadata[k] for k in ("tool", "outcome", "thread_id", "args")} for c in traces]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the recipe; returns :func:`run`'s result."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.customer_support", description=__doc__.split("\n\n")[0])
    add_memory_options(parser)
    args = parser.parse_args(argv)
    with open_memory(args) as memos:
        return run(memos, chat_model(support_script))


if __name__ == "__main__":
    main()
