"""The README's code blocks run as written (with a scripted model and a cheap embedder swapped in)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"## {title}"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list]:
    """Run in an empty folder with a model that records its inputs (the default offline MiniLM embeds)."""
    import langchain.chat_models

    from cookbook._models import ScriptedChatModel
    seen: list[list] = []

    def fake_init_chat_model(name: str, **kwargs):
        return ScriptedChatModel(lambda messages: (seen.append(list(messages)), AIMessage("Noted."))[1])

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(langchain.chat_models, "init_chat_model", fake_init_chat_model)
    return seen


def test_langgraph_quickstart_runs_and_remembers_across_threads(offline: list[list], capsys) -> None:
    namespace: dict = {}
    exec(compile(_block("Quickstart for LangGraph users"), "README.md", "exec"), namespace)
    thread_2_input = "\n".join(str(m.content) for m in offline[-1])
    assert "I moved to Denver last month" in thread_2_input  # thread 1's memory reached thread 2's model call
    assert "lives_in" in capsys.readouterr().out
    namespace["memos"].close()


def test_memos_quickstart_runs(offline: list[list], capsys) -> None:
    exec(compile(_block("Quickstart: the MemOS API"), "README.md", "exec"), {})
    assert "peanuts" in capsys.readouterr().out


def test_graph_example_supersedes(offline: list[list]) -> None:
    code = _block("Long-term memory graph").replace("    memos.facts(ns)", "    now = memos.facts(ns)")
    code = code.replace('    memos.facts(ns, as_of="2022-06-01T00:00:00")', '    then = memos.facts(ns, as_of="2022-06-01T00:00:00")')
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert [f.text for f in namespace["now"]] and "Denver" in namespace["now"][0].text
    assert "Boston" in namespace["then"][0].text
