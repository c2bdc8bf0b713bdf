"""Lazy public names for package ``__init__`` modules (no import cost until a name is used).

Example:
    >>> from langchain_memos._lazy import lazy_exports
    >>> getattr_, dir_ = lazy_exports("pkg", {"sqrt": "math"}, {})
    >>> getattr_("sqrt")(9.0)
    3.0
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping, MutableMapping


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: MutableMapping[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a module's ``__getattr__`` and ``__dir__`` for ``exports`` (name -> defining module).

    A name is imported on first access and cached in ``namespace`` (the module's ``globals()``).
    """
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__
