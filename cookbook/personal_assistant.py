"""Recipe: a personal assistant that remembers a user across threads and days.

Maya talked to her assistant three weeks ago and last week (those chats are imported
with their session dates as ``created_at``). Today, in three new threads:

1. she states preferences; the agent saves them with its ``save_memory`` tool;
2. she asks for a dinner table on Friday: ``MemOSMiddleware`` puts the preference saved
   in thread 1 and last week's news (her sister visits on Friday) into this model call's
   system message;
3. she asks "what did I tell you last week?": the agent's ``recall_period`` tool turns
   the phrase into a date range and searches with ``time_range`` (older and newer
   memories are left out). ``RetrievalConfig(time_boost=...)`` also favours memories of
   the period a question names in the automatic recall.

Every step prints what was retrieved and why.

    python -m cookbook.personal_assistant                    # offline: scripted model, MiniLM
    python -m cookbook.personal_assistant --embed hash --path ./memos_data
    MEMOS_CHAT_MODEL=openai:gpt-4o-mini python -m cookbook.personal_assistant   # any chat model
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import Any, Sequence

from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver

from cookbook._models import (PromptRecorder, add_memory_options, call, chat_model, last_human, memories_in,
                             open_memory, system_text, tool_results)
from langchain_memos import MemOS, MemoryType, RetrievalConfig, render_memory_block
from langchain_memos.cube import utcnow
from langchain_memos.integrations import create_memos_agent
from langchain_memos.retrieval.query import analyze_query

USER = "maya"
NAMESPACE = ("users", USER)
SYSTEM_PROMPT = "You are Maya's personal assistant. Use what you remember about her."

#: Earlier chats: (days before this week's Monday, what was said): three weeks ago, and last Wednesday.
PAST_SESSIONS = [
    (19, ["I'm training for the Lisbon half marathon in March.", "Great goal! I'll keep it in mind."]),
    (5, ["My sister Ana is visiting from Porto this Friday.", "Lovely, I'll remember Ana's visit."]),
    (5, ["I switched to decaf after 4pm, coffee keeps me awake.", "Noted: decaf in the afternoon."]),
]
TODAY = [
    ("today-1", "Please remember that I'm vegetarian and I prefer window tables."),
    ("today-2", "Book me a table for dinner on Friday."),
    ("today-3", "What did I tell you last week?"),
]
_PERIOD = re.compile(r"last (?:week|month|year)|yesterday|today|\d+ (?:day|week)s? ago", re.IGNORECASE)


def session_date(days_before_monday: int, now: datetime) -> datetime:
    """A session's date: ``days_before_monday`` days before this week's Monday, at 18:00 UTC."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=18, minute=0, second=0, microsecond=0)
    return monday - timedelta(days=days_before_monday)


def import_past_sessions(memos: MemOS, now: datetime) -> list[str]:
    """Store the earlier chats as episodes dated by their session (what a chat-history import does).

    Each turn is keyed by thread and position, so importing again replaces instead of duplicating.
    """
    ids = []
    for number, (days, (said, answered)) in enumerate(PAST_SESSIONS):
        when, thread = session_date(days, now), f"past-{number}"
        for position, message in enumerate([HumanMessage(said), AIMessage(answered)]):
            ids += memos.add(message, NAMESPACE, key=f"{thread}:{position}", owner=USER, thread_id=thread,
                             created_at=when + timedelta(minutes=position),
                             metadata={"thread_id": thread, "session_date": when.date().isoformat()})
    return ids


def recall_period_tool(memos: MemOS) -> BaseTool:
    """The ``recall_period`` tool: what the user said in a period, by date range (not by similarity)."""

    @tool
    def recall_period(period: str, runtime: ToolRuntime) -> str:
        """What the user told you in a period: "last week", "yesterday", "3 days ago", "in May 2026"."""
        window = analyze_query(period, now=utcnow()).time_range
        if window is None:
            return f"No date range in {period!r}; try 'last week', 'yesterday' or '3 days ago'."
        user = runtime.config["configurable"]["user_id"]
        hits = memos.search("", ("users", user), k=20, time_range=window, user=user,
                            filters={"role": "user"}, types=[MemoryType.EPISODE])
        return render_memory_block([h.cube for h in hits], stable_order=True) if hits else "Nothing in that period."

    return recall_period


def assistant_script(messages: list[BaseMessage]) -> AIMessage:
    """The offline model: save preferences, look up periods, else answer from the memories it was given."""
    question, results = last_human(messages), tool_results(messages)
    if results and results[-1].startswith("Saved memory"):
        return AIMessage("Noted, I'll remember that.")
    if results:
        said = [content for _, date, content in memories_in(results[-1])]
        return AIMessage("You told me: " + " / ".join(said) if said else results[-1])
    wish = re.search(r"remember that (.+?)\.?$", question, re.IGNORECASE)
    if wish:
        return call("save_memory", {"content": f"Maya says: {wish.group(1)}", "kind": "preference"})
    period = _PERIOD.search(question)
    if period:
        return call("recall_period", {"period": period.group(0)})
    known = [f"{content} ({date})" for _, date, content in memories_in(system_text(messages))]
    return AIMessage("Keeping in mind: " + "; ".join(known) if known else "Tell me more about yourself!")


def explain(memos: MemOS, question: str, k: int = 6) -> list[str]:
    """The memories the automatic recall finds for ``question``, each with its date and why it matched."""
    hits = memos.search(question, NAMESPACE, k=k, user=USER,
                        types=[t for t in MemoryType if t is not MemoryType.TOOL_TRACE])
    return [f"{h.cube.created_at.date()} [{h.cube.memory_type.value}] {h.cube.content}  <- {h.why}" for h in hits]


def run(memos: MemOS, model: Any) -> dict[str, Any]:
    """Import the past sessions, then run today's three threads; returns what each thread saw and stored."""
    now = utcnow()
    imported = import_past_sessions(memos, now)
    agent = create_memos_agent(model, [recall_period_tool(memos)], memory=memos, system_prompt=SYSTEM_PROMPT,
                               checkpointer=InMemorySaver())
    threads: dict[str, dict[str, Any]] = {}
    for thread, question in TODAY:
        recorder = PromptRecorder()
        print(f"\n== thread {thread}: {question}")
        print("   recall finds:\n     " + "\n     ".join(explain(memos, question) or ["(nothing yet)"]))
        config = {"configurable": {"thread_id": thread, "user_id": USER}, "callbacks": [recorder]}
        state = agent.invoke({"messages": [HumanMessage(question)]}, config)
        tools = [m.text for m in state["messages"] if m.type == "tool"]
        for text in tools:
            print("   tool returned:", text.replace("\n", "\n     "))
        print("   assistant:", state["messages"][-1].text)
        threads[thread] = {"question": question, "answer": state["messages"][-1].text, "tool_results": tools,
                           "model_inputs": [system_text(c) for c in recorder.calls]}
    preferences = [c.content for c in memos.list(NAMESPACE, types=[MemoryType.PREFERENCE])]
    print("\nsaved preferences:", preferences)
    return {"imported": imported, "threads": threads, "preferences": preferences,
            "session_dates": {f"past-{i}": session_date(d, now).date().isoformat()
                              for i, (d, _) in enumerate(PAST_SESSIONS)}}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the recipe; returns :func:`run`'s result."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.personal_assistant",
                                     description=__doc__.split("\n\n")[0])
    add_memory_options(parser)
    args = parser.parse_args(argv)
    # favour memories from the period a question names
    with open_memory(args, retrieval=RetrievalConfig(time_boost=0.5)) as memos:
        return run(memos, chat_model(assistant_script))


if __name__ == "__main__":
    main()
