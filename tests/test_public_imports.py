"""Guard: the package and the graphs use only LangGraph's and LangChain's public modules.

A private module (any dotted component starting with ``_``, such as ``langgraph._internal`` or
``langchain_core._api``) can change in any patch release, so importing one, statically or by
name (``importlib.import_module("langgraph._internal...")``), fails this test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "langchain_memos").rglob("*.py"), *(ROOT / "graphs").glob("*.py")])

_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def third_party_langchain(module: str) -> bool:
    """Whether ``module`` belongs to LangGraph or LangChain (not to this package)."""
    root = module.split(".")[0]
    return root != "langchain_memos" and (root in ("langgraph", "langchain") or
                                          root.startswith(("langgraph_", "langchain_")))


def private(module: str) -> bool:
    """Whether a dotted module path has a component starting with ``_``."""
    return any(part.startswith("_") for part in module.split("."))


def private_imports(source: str) -> list[str]:
    """The private LangGraph/LangChain modules (and names taken from their packages) ``source`` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if third_party_langchain(a.name) and private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                third_party_langchain(node.module):
            if private(node.module):
                found.append(node.module)
            else:  # from langgraph import _internal
                found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DOTTED_NAME.match(node.value) \
                and third_party_langchain(node.value) and private(node.value):
            found.append(node.value)  # importlib.import_module("langgraph._internal...")
    return found


def test_the_guard_sees_private_imports() -> None:
    source = ("import langgraph._internal._runnable\n"
              "from langgraph._internal._runnable import RunnableCallable\n"
              "from langchain_core import _api\n"
              "import importlib; importlib.import_module('langchain_core._api.deprecation')\n"
              "from langgraph.graph import StateGraph\n"
              "from ._scope import get_field\n"
              "from langchain_memos.integrations._scope import get_field\n")
    assert private_imports(source) == ["langgraph._internal._runnable", "langgraph._internal._runnable",
                                       "langchain_core._api", "langchain_core._api.deprecation"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_langgraph_or_langchain_module(path: Path) -> None:
    found = private_imports(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)} imports private modules {found}: use the public API instead"
