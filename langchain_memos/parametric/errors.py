"""Typed errors of the parametric layer. Each names what went wrong and how to fix it."""

from __future__ import annotations

from ..errors import EngineUnavailableError, InvalidInputError, MemOSError


class ParametricError(MemOSError):
    """Base class of the parametric layer's errors (distillation, adapter files, mounting)."""


class ParametricDependencyError(ParametricError, EngineUnavailableError):
    """torch, transformers or peft is missing.

    Fix: ``pip install 'langchain-memos[parametric]'``.
    """


class NoTrainingDataError(ParametricError, InvalidInputError):
    """A namespace has no cubes a LoRA adapter can be distilled from."""


class AdapterNotFoundError(ParametricError, KeyError):
    """No adapter (or no such version) is stored for a namespace."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "adapter not found"


class AdapterMismatchError(ParametricError, InvalidInputError):
    """An adapter was trained on another base model than the one it is mounted on."""


__all__ = [
    "AdapterMismatchError",
    "AdapterNotFoundError",
    "NoTrainingDataError",
    "ParametricDependencyError",
    "ParametricError",
]
