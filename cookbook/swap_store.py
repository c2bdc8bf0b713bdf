"""Recipe: a plain LangGraph graph that swaps ``InMemoryStore`` for ``MemOSStore`` in two lines.

The graph is ordinary LangGraph: one node saves what the user says about themselves
through ``runtime.store``, another recalls the most relevant notes for a question.
Run it with either store; with MemOSStore the notes survive a restart (they live in
``--path``), search is hybrid (BM25 + vectors, so exact words like "Lisbon" count), and
every item is a MemCube with history underneath.

    python -m cookbook.swap_store                 # both stores, side by side (offline)
    python -m cookbook.swap_store --store memos --path ./memos_data

The two lines that change::

    - store = InMemoryStore(index={"dims": 384, "embed": embeddings})
    + store = MemOSStore(path="./memos_data", index={"dims": 384, "embed": embeddings})
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Sequence, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore

from langchain_memos.embeddings import EMBEDDER_NAMES, embeddings_named
from langchain_memos.integrations import MemOSStore

NOTES = [
    "I'm flying to Lisbon on the 14th for a conference",
    "I can't eat shellfish",
    "My daughter Ines starts school in September",
    "I prefer aisle seats on long flights",
    "Our team standup moved to 9:30",
]
QUESTIONS = ["What should I order at the seafood place?", "When is my Lisbon trip?", "Which seat should I book?"]


@dataclass
class Context:
    """Who is talking (LangGraph passes it as ``runtime.context``)."""

    user_id: str


class State(TypedDict, total=False):
    notes: list[str]
    question: str
    recalled: list[str]


def save_notes(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Store each note under the user's namespace."""
    for note in state.get("notes", []):
        runtime.store.put(("users", runtime.context.user_id, "notes"), uuid.uuid5(uuid.NAMESPACE_URL, note).hex,
                          {"text": note})
    return {}


def recall(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The two most relevant notes for the question."""
    if not state.get("question"):
        return {"recalled": []}
    items = runtime.store.search(("users", runtime.context.user_id, "notes"), query=state["question"], limit=2)
    return {"recalled": [f"{item.value['text']} (score {item.score:.2f})" for item in items]}


def build_graph() -> StateGraph:
    """The graph: save the notes, then recall for the question."""
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("save_notes", save_notes)
    builder.add_node("recall", recall)
    builder.add_edge(START, "save_notes")
    builder.add_edge("save_notes", "recall")
    builder.add_edge("recall", END)
    return builder


def run(store: Any, name: str) -> dict[str, list[str]]:
    """Save the notes and ask every question with ``store``; returns question -> recalled notes."""
    graph = build_graph().compile(store=store)
    context = Context(user_id="rita")
    graph.invoke({"notes": NOTES}, context=context)
    answers = {}
    print(f"== {name}")
    for question in QUESTIONS:
        answers[question] = graph.invoke({"question": question}, context=context)["recalled"]
        print(f"Q: {question}\n   " + "\n   ".join(answers[question]))
    return answers


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Run the recipe; returns store name -> answers."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.swap_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["both", "memos", "inmemory"], default="both")
    parser.add_argument("--path", help="MemOSStore directory (default: a temporary one)")
    parser.add_argument("--embed", choices=EMBEDDER_NAMES, default="minilm",
                        help="offline MiniLM (default) or a cheap hashing embedder")
    args = parser.parse_args(argv)
    embeddings = embeddings_named(args.embed, hash_dims=384)
    index = {"dims": 384, "embed": embeddings, "fields": ["text"]}
    results = {}
    if args.store in ("both", "inmemory"):
        results["InMemoryStore"] = run(InMemoryStore(index=index), "InMemoryStore")
    if args.store in ("both", "memos"):
        path = args.path or tempfile.mkdtemp(prefix="memos-recipe-")
        with MemOSStore.from_path(path, index=index) as store:
            results["MemOSStore"] = run(store, f"MemOSStore at {path}")
        with MemOSStore.from_path(path, index=index) as reopened:  # a restart: the notes are still there
            count = len(reopened.search(("users", "rita", "notes"), limit=100))
            print(f"after reopening {path}: {count} notes remembered")
            results["reopened"] = {"notes": [str(count)]}
    return results


if __name__ == "__main__":
    main()
