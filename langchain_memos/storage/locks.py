"""A cross-process guard for an index folder that several processes open at once.

Chroma's ``PersistentClient`` keeps its HNSW index in memory and writes it back to
disk: two processes that write the same folder overwrite each other's vectors, and a
process never sees what another one wrote until it reopens its client.
:class:`IndexLock` is what makes sharing safe:

* a lock file next to the folder, locked with ``flock`` (shared for reads, exclusive
  for writes; waiting with backoff up to a bound, then
  :class:`~langchain_memos.errors.StoreLockedError`), plus a thread lock so threads of
  one process take turns on the one file descriptor;
* a **change token** kept in the lock file: every write replaces it, so a holder that
  finds a token other than the one it last saw knows another process (or another
  instance) wrote and reopens its client before it reads or writes.

A single process that alone writes never sees a foreign token and never reopens.

Example:
    >>> import tempfile, pathlib
    >>> lock = IndexLock(pathlib.Path(tempfile.mkdtemp()) / "index.lock")
    >>> with lock.hold(exclusive=True) as held:
    ...     token = lock.bump()
    >>> held, lock.token() == token
    (True, True)
    >>> lock.close()
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

from ..errors import StorageError, StoreLockedError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads of one process are still serialised
    fcntl = None  # type: ignore[assignment]

#: Bytes of the change token kept at the start of the lock file.
TOKEN_BYTES = 32


class IndexLock:
    """A re-entrant shared/exclusive lock across threads and processes, with a change token.

    Args:
        path: The lock file (created when missing; its folder must exist or be creatable).
        timeout_s: How long :meth:`hold` waits for another process before raising
            :class:`~langchain_memos.errors.StoreLockedError`.
    """

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self._thread = threading.RLock()
        self._depth = 0
        self._mode: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the index lock file {self.path} ({exc}); "
                               "make the data directory writable by this process") from exc

    def __repr__(self) -> str:
        return f"IndexLock({str(self.path)!r})"

    # ------------------------------------------------------------ locking
    def _flock(self, mode: int, wait: bool) -> bool:
        if fcntl is None:
            return True
        deadline = time.monotonic() + self.timeout_s
        delay = 0.001
        while True:
            try:
                fcntl.flock(self._file(), mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if not wait:
                return False
            if remaining <= 0:
                raise StoreLockedError(
                    f"the vector index lock {self.path} stayed held by another process for more than "
                    f"{self.timeout_s:g}s; wait for it to finish, stop stale processes using this directory, "
                    "or raise MemOSConfig.busy_timeout_s")
            time.sleep(min(remaining, delay * (0.5 + random.random())))
            delay = min(delay * 2, 0.05)

    @contextlib.contextmanager
    def hold(self, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        """Hold the lock (re-entrant; a nested exclusive hold upgrades a shared one).

        Args:
            exclusive: Exclusive (writers) or shared (readers).
            wait: Wait up to ``timeout_s`` (``True``), or give up at once when another
                thread or process holds it (``False``).

        Yields:
            Whether the lock is held (always ``True`` when ``wait``).

        Raises:
            StoreLockedError: ``wait`` and the lock stayed taken past ``timeout_s``.
        """
        if not self._thread.acquire(blocking=wait, timeout=self.timeout_s if wait else -1):
            if wait:
                raise StoreLockedError(f"the vector index lock {self.path} stayed held by another thread for more "
                                       f"than {self.timeout_s:g}s; raise MemOSConfig.busy_timeout_s")
            yield False
            return
        previous = self._mode
        try:
            if fcntl is not None:
                wanted = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
                if previous is None or (wanted == fcntl.LOCK_EX and previous != fcntl.LOCK_EX):
                    if not self._flock(wanted, wait):
                        yield False
                        return
                    self._mode = wanted
            self._depth += 1
            try:
                yield True
            finally:
                self._depth -= 1
                if fcntl is not None and self._mode is not None:
                    if previous is None:
                        fcntl.flock(self._file(), fcntl.LOCK_UN)
                        self._mode = None
                    elif previous != self._mode:
                        fcntl.flock(self._file(), previous)  # back to the outer shared hold
                        self._mode = previous
        finally:
            self._thread.release()

    # ------------------------------------------------------------ change token
    def token(self) -> str:
        """The current change token (``""`` before the first write); call while holding the lock."""
        return os.pread(self._file(), TOKEN_BYTES, 0).decode("ascii", "replace").strip()

    def bump(self) -> str:
        """Write a new change token and return it; call while holding the lock exclusively."""
        token = uuid.uuid4().hex[:TOKEN_BYTES]
        os.pwrite(self._file(), token.encode("ascii").ljust(TOKEN_BYTES), 0)
        return token

    def _file(self) -> int:
        if self._fd is None:
            raise StorageError(f"the index lock {self.path} is closed; open the index again")
        return self._fd

    def close(self) -> None:
        """Close the lock file (releases any lock still held); idempotent."""
        with self._thread:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


__all__ = ["IndexLock"]
