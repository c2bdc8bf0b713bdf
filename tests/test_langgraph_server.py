"""The repository's langgraph.json served by a real `langgraph dev`, driven through langgraph-sdk.

The server runs offline on 127.0.0.1 with the MemOS store factory of langgraph.json and the
scripted tool-calling model (``MEMOS_MODEL=scripted``, no API key); the ``langgraph_dev``
fixture (tests/conftest.py) stops it in every case.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.server

FACT = "my dog is called Biscuit"


def final_ai(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The last AI message of a run's output."""
    return [m for m in messages if m["type"] == "ai"][-1]


def model_inputs(client: Any, thread: dict[str, Any], user: str, text: str) -> list[list[dict[str, Any]]]:
    """Run ``react_memory`` streaming its events; the message lists every chat model call started with."""
    calls = []
    for part in client.runs.stream(thread["thread_id"], "react_memory", stream_mode="events", context={"user_id": user},
                                   input={"messages": [{"role": "user", "content": text}]}):
        if part.event == "events" and part.data.get("event") == "on_chat_model_start":
            calls.extend(part.data["data"]["input"]["messages"])
    return calls


def system_texts(call: list[dict[str, Any]]) -> str:
    """The system text one model call got."""
    return "\n".join(str(m.get("content")) for m in call if m.get("type") == "system")


def ask(client: Any, thread: dict[str, Any], user: str, text: str) -> list[dict[str, Any]]:
    """Run ``react_memory`` on ``thread`` for ``user``; the thread's messages after the run."""
    out = client.runs.wait(thread["thread_id"], "react_memory", input={"messages": [{"role": "user", "content": text}]},
                           context={"user_id": user})
    return out["messages"]


def test_memory_crosses_threads_of_one_user_and_never_users(langgraph_dev: Any) -> None:
    """A fact alice says in thread 1 answers her question in thread 2; bob's runs see none of it."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=langgraph_dev("scripted"))
    assert {a["graph_id"] for a in client.assistants.search()} >= {"react_memory", "plan_execute_memory",
                                                                   "consolidation"}
    thread_1, thread_2, thread_bob = (client.threads.create() for _ in range(3))

    told = ask(client, thread_1, "alice", f"Remember that {FACT}")
    [save] = [c for m in told if m["type"] == "ai" for c in m.get("tool_calls") or []]
    assert save["name"] == "save_memory" and save["args"] == {"content": FACT}
    [saved] = [m["content"] for m in told if m["type"] == "tool"]
    assert saved.startswith("Saved memory ")
    memory_id = saved.removeprefix("Saved memory ").rstrip(".")

    asked = ask(client, thread_2, "alice", "What is my dog called?")
    assert [m["type"] for m in asked] == ["human", "ai"]  # a fresh thread: nothing of thread 1 in its history
    answer = final_ai(asked)
    assert FACT in answer["response_metadata"]["memories_seen"]  # the memory reached the model's input
    assert answer["content"].startswith("From memory:") and "Biscuit" in answer["content"]

    bob = final_ai(ask(client, thread_bob, "bob", "What is my dog called?"))
    assert bob["response_metadata"]["memories_seen"] == []
    assert bob["content"] == "I don't know that yet."

    # the same memories, through the store endpoints (MemOSStore behind them)
    alice_items = client.store.search_items(["users", "alice"], query="dog", limit=20)["items"]
    assert memory_id in [item["key"] for item in alice_items]  # the saved memory, found by meaning
    assert client.store.get_item(["users", "alice"], memory_id)["value"] == {"thread_id": thread_1["thread_id"]}
    bob_items = client.store.search_items(["users", "bob"], limit=50)["items"]
    assert bob_items and {item["value"].get("thread_id") for item in bob_items} == {thread_bob["thread_id"]}
    assert "Biscuit" not in json.dumps(bob_items) and memory_id not in [item["key"] for item in bob_items]


def test_store_endpoints_on_memos_store(langgraph_dev: Any) -> None:
    """put_item / get_item / search_items / list_namespaces / delete_item answered by MemOSStore."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=langgraph_dev("scripted"))
    store = client.store
    store.put_item(["docs", "drinks"], "tea", {"text": "green tea with jasmine", "kind": "hot"})
    store.put_item(["docs", "drinks"], "soda", {"text": "cola with ice", "kind": "cold"})
    store.put_item(["docs", "food", "lunch"], "soup", {"text": "tomato soup", "kind": "hot"})

    item = store.get_item(["docs", "drinks"], "tea")
    assert item["value"] == {"text": "green tea with jasmine", "kind": "hot"}
    assert item["namespace"] == ["docs", "drinks"] and item["created_at"] and item["updated_at"]

    ranked = store.search_items(["docs"], query="jasmine tea")["items"]
    assert ranked[0]["key"] == "tea" and ranked[0]["score"] is not None
    hot = store.search_items(["docs"], filter={"kind": "hot"})["items"]
    assert sorted(i["key"] for i in hot) == ["soup", "tea"]
    assert len(store.search_items(["docs"], limit=1, offset=1)["items"]) == 1

    assert store.list_namespaces(prefix=["docs"])["namespaces"] == [["docs", "drinks"], ["docs", "food", "lunch"]]
    assert store.list_namespaces(prefix=["docs"], max_depth=2)["namespaces"] == [["docs", "drinks"],
                                                                                  ["docs", "food"]]
    assert store.list_namespaces(suffix=["lunch"])["namespaces"] == [["docs", "food", "lunch"]]

    store.put_item(["docs", "drinks"], "tea", {"text": "black tea", "kind": "hot"})  # overwrite
    assert store.get_item(["docs", "drinks"], "tea")["value"]["text"] == "black tea"

    store.delete_item(["docs", "drinks"], "tea")
    assert store.get_item(["docs", "drinks"], "tea") is None  # the API answers null for a missing item
    assert [i["key"] for i in store.search_items(["docs", "drinks"])["items"]] == ["soda"]


def test_model_input_streamed_as_events_holds_the_memory(langgraph_dev: Any) -> None:
    """The memory block is in the system message of the model call (seen in the server's event stream)."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=langgraph_dev("scripted"))
    ask(client, client.threads.create(), "carol", "Remember that my locker code is 4512")
    [call] = model_inputs(client, client.threads.create(), "carol", "What is my locker code?")
    assert "<memories" in system_texts(call) and "my locker code is 4512" in system_texts(call)
    [other] = model_inputs(client, client.threads.create(), "dave", "What is my locker code?")
    assert "4512" not in system_texts(other)


def test_readme_server_example_runs(langgraph_dev: Any) -> None:
    """The README's `langgraph dev` client example, as written, against the test server."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Serving with `langgraph dev`"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "http://127.0.0.1:2024" in code
    namespace: dict[str, Any] = {}
    exec(compile(code.replace("http://127.0.0.1:2024", langgraph_dev("scripted")), "README.md", "exec"), namespace)
    assert namespace["memories"], "the README example found no memory of alice's"


@pytest.mark.slow
def test_react_memory_on_local_smollm2_through_the_server(smollm2_installed: Path, langgraph_dev: Any) -> None:
    """The same flow on the local SmolLM2-135M (``MEMOS_MODEL=smollm2``): memory reaches its prompt, per user."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=langgraph_dev("smollm2"), timeout=600)
    told = ask(client, client.threads.create(), "alice", "My dog is called Biscuit.")
    assert isinstance(final_ai(told)["content"], str)
    calls = model_inputs(client, client.threads.create(), "alice", "What is my dog called?")
    assert calls and "Biscuit" in system_texts(calls[0])  # thread 1's memory in thread 2's first prompt
    assert "<memories" in system_texts(calls[0])
    bob_calls = model_inputs(client, client.threads.create(), "bob", "What is my dog called?")
    assert bob_calls and all("Biscuit" not in system_texts(call) for call in bob_calls)
