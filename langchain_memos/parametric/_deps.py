"""Lazy imports of torch, transformers and peft, with a typed error that names the fix."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import ParametricDependencyError


def require(module: str) -> Any:
    """Import and return ``module`` (``"torch"``, ``"transformers"``, ``"peft"``).

    Raises :class:`ParametricDependencyError` naming the install command when it is missing.
    """
    try:
        return import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ParametricDependencyError(
            f"the parametric layer needs {module}; fix: pip install 'langchain-memos[parametric]'") from exc


__all__ = ["require"]
