"""Lazy imports of the heavy dependencies, with typed errors that name the fix."""

from __future__ import annotations

from typing import Any

from .._extras import check_extra
from .errors import ActivationDependencyError

_FIX = "pip install 'langchain-memos[activation]'"


def require_torch() -> Any:
    """Import and return ``torch``; :class:`ActivationDependencyError` if it is missing or conflicts."""
    check_extra("activation", ActivationDependencyError)
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ActivationDependencyError(f"the activation layer needs torch; fix: {_FIX}") from exc
    return torch


def require_transformers() -> Any:
    """Import and return ``transformers``; :class:`ActivationDependencyError` if it is missing or conflicts."""
    check_extra("activation", ActivationDependencyError)
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ActivationDependencyError(f"the activation layer needs transformers>=4.45; fix: {_FIX}") from exc
    return transformers


def require_safetensors() -> Any:
    """Import and return ``safetensors.torch``; :class:`ActivationDependencyError` if it is missing."""
    try:
        import safetensors.torch as st
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ActivationDependencyError(f"saving KV caches needs safetensors; fix: {_FIX}") from exc
    return st


def dynamic_cache_classes() -> tuple[Any, Any, Any]:
    """``(DynamicCache, DynamicLayer, DynamicSlidingWindowLayer)`` from transformers' cache_utils."""
    require_transformers()
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer
    except ImportError as exc:  # pragma: no cover - transformers < 4.56 has no cache layers
        raise ActivationDependencyError(
            f"the KV prefix cache needs transformers with cache layers (>=4.56); fix: pip install -U transformers"
        ) from exc
    return DynamicCache, DynamicLayer, DynamicSlidingWindowLayer
