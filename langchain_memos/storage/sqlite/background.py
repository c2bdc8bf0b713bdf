"""Reads nobody waits for: one thread with a SQLite connection of its own.

:class:`BackgroundReads` runs a read inside its own transaction on a connection that
neither the main connection nor the side connection (the keyword search's) shares, so
the read never holds up a search; the caller gets nothing back and learns of the result
through what ``fn`` stores. Used by
:meth:`~langchain_memos.storage.sqlite.connection.SQLiteConnection.kept_in_background`.

Example:
    >>> import sqlite3, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "db.sqlite3"
    >>> reads, got = BackgroundReads(lambda: sqlite3.connect(path, check_same_thread=False)), []
    >>> reads.submit(lambda conn: got.append(conn.execute("SELECT 1").fetchone()[0]))
    >>> reads.wait(), got
    (True, [1])
    >>> reads.close()
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable

log = logging.getLogger(__name__)


class BackgroundReads:
    """One thread and one connection (opened on first use) for reads that run while the caller goes on.

    Args:
        connect: Opens the connection (called in the reading thread, once).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._conn: sqlite3.Connection | None = None
        self._pending: set[Future[None]] = set()
        self._closed = False

    def submit(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``fn(conn)`` in one read transaction in the reading thread; a failure is logged and dropped."""
        with self._lock:
            if self._closed:
                return
            if self._pool is None or self._pid != os.getpid():  # a forked child starts its own thread
                self._pool, self._pid, self._conn, self._pending = (
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="memos-kept"), os.getpid(), None, set())
            future = self._pool.submit(self._run, fn)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    def _run(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.execute("BEGIN")
            try:
                fn(self._conn)
            finally:
                self._conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - nobody waits for it: the read is simply not kept
            log.debug("langchain-memos: a background read failed (%s)", exc)

    def idle(self) -> bool:
        """Whether no read is running or waiting."""
        with self._lock:
            return not self._pending or self._pid != os.getpid()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the reads submitted so far; return whether they all finished within ``timeout``."""
        with self._lock:
            pending = set(self._pending) if self._pid == os.getpid() else set()
        return not wait(pending, timeout=timeout).not_done

    def close(self) -> None:
        """Finish the running read, drop the queued ones and close the connection; idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            mine = self._pid == os.getpid()
        if pool is not None and mine:
            pool.shutdown(wait=True, cancel_futures=True)
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
        self._conn = None


__all__ = ["BackgroundReads"]
