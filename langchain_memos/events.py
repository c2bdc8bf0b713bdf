"""Change events: small, generic callbacks that run after MemOS commits a write or a delete.

:meth:`MemOS.on_change <langchain_memos.memos.MemOS.on_change>` registers a listener; every
committed write (add, update, fuse, promote, tier moves and the lifecycle's commits such as
supersede) and every delete (delete, expire, the lifecycle's forget) then calls it with one
:class:`MemChange`. Listeners run on the writing thread, after the commit, so they must be
quick (queue slow work, e.g. on a :class:`~langchain_memos.scheduler.MemScheduler`). A
listener that raises never undoes or breaks the write: the error is counted in
:attr:`ChangeListeners.errors` and kept in :attr:`ChangeListeners.last_error`.

Example:
    >>> seen = []
    >>> listeners = ChangeListeners()
    >>> unsubscribe = listeners.add(seen.append)
    >>> listeners.emit(MemChange(removed=("c1",), reason="delete"))
    >>> seen[0].removed, seen[0].touched_ids
    (('c1',), ('c1',))
    >>> unsubscribe()
    >>> listeners.emit(MemChange(removed=("c2",), reason="delete"))
    >>> len(seen)
    1
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from .cube import MemCube


@dataclass(frozen=True)
class MemChange:
    """What one committed MemOS operation changed.

    Attributes:
        written: The cubes as they are now stored (new cubes and new versions).
        removed: Ids of cubes that are gone (deleted, forgotten, expired, or replaced
            by a write with the same ``(namespace, key)``).
        reason: Why (``"add"``, ``"update"``, ``"supersede"``, ``"tier_move"``, ``"delete"``, ``"ttl expired"``...).
    """

    written: tuple[MemCube, ...] = ()
    removed: tuple[str, ...] = ()
    reason: str = ""

    @property
    def touched_ids(self) -> tuple[str, ...]:
        """Ids of every written or removed cube."""
        return tuple(c.id for c in self.written) + self.removed


Listener = Callable[[MemChange], Any]


class ChangeListeners:
    """A thread-safe list of :class:`MemChange` listeners (one per MemOS instance)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.errors = 0
        self.last_error: str | None = None

    def add(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unregisters it (idempotent)."""
        if not callable(listener):
            raise TypeError("a change listener must be callable with one MemChange")
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def emit(self, change: MemChange) -> None:
        """Call every listener with ``change``; errors are counted, never raised."""
        if not change.written and not change.removed:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(change)
            except Exception as exc:  # a listener never breaks a committed write
                with self._lock:
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"


__all__ = ["ChangeListeners", "Listener", "MemChange"]
