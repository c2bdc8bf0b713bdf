"""Typed errors. Every error names what went wrong and how to fix it.

All errors derive from :class:`MemOSError`, so callers can catch one type. Errors
that reject caller input also derive from :class:`ValueError` (or :class:`KeyError`
for missing items), so code written against plain Python idioms still works.
"""

from __future__ import annotations


class MemOSError(Exception):
    """Base class of every error raised by langchain-memos."""


class InvalidInputError(MemOSError, ValueError):
    """The caller passed a value the API cannot accept."""


class InvalidNamespaceError(InvalidInputError):
    """A namespace is empty, has an empty label, a label with '.', or a non-string label.

    Example:
        >>> from langchain_memos.errors import InvalidNamespaceError
        >>> issubclass(InvalidNamespaceError, ValueError)
        True
    """


class NonJSONValueError(InvalidInputError):
    """A value (content metadata, a store item's value) cannot be stored as JSON."""


class ContentTooLargeError(InvalidInputError):
    """A cube's content is larger than ``MemOSConfig.max_content_chars``."""


class UnknownFilterOperatorError(InvalidInputError):
    """A filter used an operator other than ``$eq $ne $gt $gte $lt $lte $in $nin``."""


class EmbeddingDimensionError(InvalidInputError):
    """Embeddings have a different dimension from the one the store was created with."""


class CubeNotFoundError(MemOSError, KeyError):
    """No cube with the requested id exists (or it is not visible to the caller)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "cube not found"


class PermissionDeniedError(MemOSError, PermissionError):
    """The acting user is not allowed to read or write this cube."""


class StorageError(MemOSError):
    """A storage engine failed (disk full, database locked past the wait, server down)."""


class StoreLockedError(StorageError):
    """The SQLite database stayed locked longer than ``MemOSConfig.busy_timeout_s``."""


class EngineUnavailableError(StorageError):
    """An optional engine's package or server is missing."""


class GraphIngestError(StorageError):
    """Cubes were written but the graph engine failed while extracting them.

    Attributes:
        ids: The ids of the cubes that were written (nothing was lost: extract them again with
            ``MemOS.extract(ids)`` once the graph engine is back).
    """

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = list(ids)
