"""The package's shape: no module calls another's private names, shells reach storage only through
engine steps, no import cycle between scheduler, lifecycle and graph, the shells and the engine stay
small, shared helpers exist once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import langchain_memos

PACKAGE = Path(langchain_memos.__file__).parent

#: ``(module, private name)`` pairs allowed to cross modules, each with its reason.
ALLOWED_PRIVATE = {
    ("activation/chat_model.py", "_prepare"): "cached_generate(chat: ChatMemOSLocal) calls a private method of "
                                              "that module's own class (integrations/store.py has an unrelated "
                                              "_prepare)",
}

#: The most lines any module of the package may have.
MAX_MODULE_LINES = 600


def _modules() -> dict[str, ast.Module]:
    return {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(PACKAGE.rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_privates(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, assignments (``self._x = ...`` included)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if _private(n)}


def _module_name(relative: str) -> str:
    parts = relative[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["langchain_memos", *parts])


def _imported_module(relative: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(relative).split(".")
    if not relative.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def cross_module_privates(modules: dict[str, ast.Module]) -> list[str]:
    """Uses of a private name that another module of the package defines.

    ``x._name`` (``x`` not ``self``/``cls``) counts when some other module defines
    ``_name``, even if this one defines it too (``self.memos._commit`` in a module with its
    own ``_commit``); names only this module or a third-party library defines do not.
    ``from m import _name`` counts when ``m`` is another module of the package.
    """
    defined = {name: _defined_privates(tree) for name, tree in modules.items()}
    found: list[str] = []
    for name, tree in modules.items():
        elsewhere = set().union(*(names for other, names in defined.items() if other != name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr in elsewhere:
                receiver = node.value
                if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                    continue
                if (name, node.attr) not in ALLOWED_PRIVATE:
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                source = _imported_module(name, node)
                if not source.startswith("langchain_memos") or source == _module_name(name):
                    continue
                for alias in node.names:
                    if _private(alias.name) and (name, alias.name) not in ALLOWED_PRIVATE:
                        found.append(f"{name}:{node.lineno}: from {source} import {alias.name}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = cross_module_privates(_modules())
    assert not found, "private names used across modules (use or add a public step):\n" + "\n".join(found)


def test_the_guard_sees_cross_module_private_calls() -> None:
    modules = {
        "memos.py": ast.parse("class MemOS:\n    def _commit(self):\n        self._index()\n"
                              "    def _index(self):\n        pass\n"),
        "lifecycle/manager.py": ast.parse("from ..memos import _helper\nclass L:\n    def _commit(self):\n"
                                          "        return self.memos._commit()\n"),
        "own.py": ast.parse("class C:\n    def _own(self):\n        pass\ndef f(c):\n    return c._own(), c._lib\n"),
    }
    assert cross_module_privates(modules) == ["lifecycle/manager.py:1: from langchain_memos.memos import _helper",
                                              "lifecycle/manager.py:4: self.memos._commit"]


#: Packages that own the storage engines; every other module reaches them through engine steps.
STORAGE_OWNERS = ("engine/", "storage/")


def direct_storage_access(modules: dict[str, ast.Module]) -> list[str]:
    """``module:line: expression`` wherever a shell reaches ``records``/``vectors`` of a memory or engine."""
    found = []
    for name, tree in modules.items():
        if name.startswith(STORAGE_OWNERS):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("records", "vectors"):
                owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
                if owner in ("memos", "engine", "self"):
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found)


def test_shells_reach_storage_only_through_engine_steps() -> None:
    found = direct_storage_access(_modules())
    assert not found, "record store or vector index used outside the engine (call an engine step):\n" + "\n".join(found)


def test_the_storage_guard_sees_direct_access() -> None:
    modules = {"lifecycle/manager.py": ast.parse("def f(self, memos, report):\n    self.memos.records.touch([])\n"
                                                 "    memos.engine.vectors.search([], 1)\n    return report.records\n"),
               "engine/state.py": ast.parse("def f(self):\n    return self.records.get([])\n")}
    assert direct_storage_access(modules) == ["lifecycle/manager.py:2: self.memos.records",
                                              "lifecycle/manager.py:3: memos.engine.vectors"]


def test_scheduler_lifecycle_and_graph_do_not_import_each_other_in_a_cycle() -> None:
    packages = ("scheduler", "lifecycle", "graph")
    edges: dict[str, set[str]] = {p: set() for p in packages}
    for name, tree in _modules().items():
        owner = name.split("/")[0]
        if owner not in packages:
            continue
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                targets = [_imported_module(name, node)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                parts = target.split(".")
                if len(parts) > 1 and parts[0] == "langchain_memos" and parts[1] in packages and parts[1] != owner:
                    edges[owner].add(parts[1])
    for a in packages:
        for b in edges[a]:
            assert a not in edges[b], f"{a} and {b} import each other: {edges}"
    assert "lifecycle" not in edges["graph"] and "scheduler" not in edges["lifecycle"]


def test_every_module_stays_small() -> None:
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert "engine/core.py" in sizes and "storage/sqlite/store.py" in sizes and "memos.py" in sizes
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_shared_helpers_are_defined_once() -> None:
    definitions = [name for name, tree in _modules().items() for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name == "get_field"]
    assert definitions == ["lookup.py"]


def test_sync_and_async_operations_run_one_flow() -> None:
    tree = _modules()["memos.py"]
    bodies = {node.name: ast.unparse(node.body[-1]) for node in ast.walk(tree)
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for op in ("add", "update", "fuse", "search"):
        assert f"steps.{op}_flow(" in bodies[op] and f"steps.{op}_flow(" in bodies[f"a{op}"]
        assert bodies[op].startswith("return steps.run(") and bodies[f"a{op}"].startswith("return await steps.arun(")
