"""Lazy imports of torch, transformers and peft, with typed errors that name the fix."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .._extras import check_extra
from .errors import ParametricDependencyError


def require(module: str) -> Any:
    """Import and return ``module`` (``"torch"``, ``"transformers"``, ``"peft"``).

    Raises :class:`ParametricDependencyError` naming the install command when it is missing, and
    naming the pin that fixes it when the installed torch/transformers/peft cannot work together
    (see :mod:`langchain_memos._extras`).
    """
    check_extra("parametric", ParametricDependencyError)
    try:
        return import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ParametricDependencyError(
            f"the parametric layer needs {module}; fix: pip install 'langchain-memos[parametric]'") from exc


__all__ = ["require"]
