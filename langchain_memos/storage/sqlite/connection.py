"""The SQLite engine's connection: opening, busy-retrying transactions, setup, settings (:class:`StoreAdmin`).

:class:`SQLiteConnection` holds one connection guarded by a re-entrant lock (threads
of one process take turns; processes coordinate through SQLite's file locks).
File databases run in WAL mode with ``synchronous=NORMAL`` and foreign keys on.
Every write is one ``BEGIN IMMEDIATE`` transaction, retried with backoff while
the database is busy, up to ``busy_timeout_s``; after that
:class:`~langchain_memos.errors.StoreLockedError` is raised. The other parts of
the engine (records, keyword index, tiers...) are mixins over this class and
run their statements through :meth:`SQLiteConnection.write_transaction` and
:meth:`SQLiteConnection.read_transaction`.

Example:
    >>> db = SQLiteConnection(None)
    >>> db.set_meta("model", "m1")
    >>> db.read_transaction(lambda conn: conn.execute("SELECT value FROM meta WHERE name = 'model'").fetchone())
    ('m1',)
    >>> db.close()
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, TypeVar

from ...errors import InvalidInputError, StorageError, StoreLockedError
from .background import BackgroundReads
from .schema import CACHE_KIB, FIELDS_BACKFILL, SCHEMA, SCHEMA_VERSION, WAL_CHECKPOINT_PAGES

T = TypeVar("T")
S = TypeVar("S", bound="SQLiteConnection")

#: Bumps the content version that :meth:`SQLiteConnection.change_token` reads (every counted write runs it first).
BUMP_CHANGES = "UPDATE changes SET n = n + 1 WHERE id = 1"

#: How many read results :meth:`SQLiteConnection.kept_read` keeps.
KEPT_READS = 32

#: What :meth:`SQLiteConnection.kept_in_background` keeps for a key asked for at a change token but not read
#: yet, and for one whose value was read and not worth keeping (``None`` until the database changes).
_ASKED = object()
_REFUSED = object()
_READING = object()  # the read runs in the background


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says another connection holds the database (worth a retry)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)



class SQLiteConnection:
    """One SQLite database (a file, or private in memory) behind a re-entrant lock: the engine's plumbing.

    Args:
        path: The database file (parent folders are created), or ``None`` /
            ``":memory:"`` for a private in-memory database (tests).
        busy_timeout_s: How long a call waits for another writer (thread or
            process) before raising :class:`~langchain_memos.errors.StoreLockedError`.

    The constructor opens the database and runs :meth:`setup`.
    """

    def __init__(self, path: str | Path | None, *, busy_timeout_s: float = 30.0) -> None:
        if busy_timeout_s < 0:
            raise InvalidInputError(f"busy_timeout_s must be >= 0, got {busy_timeout_s}")
        self._memory = path is None or str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path).expanduser()  # type: ignore[arg-type]
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._side_lock = threading.Lock()
        self._side: sqlite3.Connection | None = None
        self._writes = 0  # write transactions run on this object's connection (see change_token)
        self._kept: OrderedDict[Any, tuple[tuple[int, int], Any]] = OrderedDict()  # see kept_read
        self._background = BackgroundReads(self._connect)  # see kept_in_background
        self._closed = False
        self._open()
        self.setup()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path) if self.path else ':memory:'!r})"

    def _open(self) -> None:
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the database (the private in-memory one for ``path=None``)."""
        target = ":memory:"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder for {self.path} ({exc}); "
                                   "pass a path in a writable folder") from exc
            target = str(self.path)
        try:
            conn = sqlite3.connect(target, timeout=min(self.busy_timeout_s, 1.0), isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {target} ({exc}); "
                               "check the path and its permissions") from exc
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed or self._conn is None:
            raise StorageError(f"this {type(self).__name__} is closed; open a new one to keep using the database")
        return self._conn

    def _locked_error(self, exc: BaseException) -> StoreLockedError:
        where = str(self.path) if self.path else ":memory:"
        return StoreLockedError(
            f"SQLite database {where} stayed locked for more than {self.busy_timeout_s:g}s ({exc}); "
            "another process or thread holds a long write transaction. Wait for it to finish, "
            "close stale processes using this file, or raise MemOSConfig.busy_timeout_s"
        )

    def _retry(self, fn: Callable[[sqlite3.Connection], T], *, begin: str | None, counted: bool = False) -> T:
        """Run ``fn`` in one transaction (``begin``: ``"BEGIN IMMEDIATE"``, ``"BEGIN"`` or ``None``;
        ``counted``: a write :meth:`change_token` counts).

        Busy/locked errors roll back and retry with jittered exponential backoff
        until ``busy_timeout_s`` has passed.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.005
        while True:
            with self._lock:
                conn = self._connection()
                if counted:
                    self._writes += 1  # under the lock, before the first statement: no read sees it under an old token
                try:
                    if begin:
                        conn.execute(begin)
                    if counted:
                        conn.execute(BUMP_CHANGES)
                    result = fn(conn)
                    if begin:
                        conn.execute("COMMIT")
                    return result
                except sqlite3.Error as exc:
                    self._rollback(conn)
                    if not _is_busy(exc):
                        raise self._storage_error(exc) from exc
                    last: BaseException = exc
                except UnicodeEncodeError as exc:  # binding a parameter: SQLite stores UTF-8 only
                    self._rollback(conn)
                    raise InvalidInputError(
                        f"a key, namespace, filter or query holds text that is not valid Unicode ({exc}); "
                        "remove unpaired surrogate characters") from exc
                except BaseException:
                    self._rollback(conn)
                    raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._locked_error(last) from last
            time.sleep(min(remaining, delay * (0.5 + random.random())))
            delay = min(delay * 2, 0.25)

    def _storage_error(self, exc: sqlite3.Error) -> StorageError:
        where = str(self.path) if self.path else ":memory:"
        text = str(exc).lower()
        if "not a database" in text or "malformed" in text:
            fix = "the file is not a valid SQLite database; point the store at a new file or restore a backup"
        elif "readonly" in text or "read-only" in text or "unable to open" in text:
            fix = "make the database file and its folder writable by this process"
        elif "disk" in text or "full" in text:
            fix = "free disk space on the volume holding the database"
        else:
            fix = "check the database file; if it persists, report it with this message"
        return StorageError(f"SQLite error on {where}: {exc} ({fix})")

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def write_transaction(self, fn: Callable[[sqlite3.Connection], T], *, bookkeeping: bool = False) -> T:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction (retried while the database is busy).

        ``bookkeeping=True`` marks a write of access counts, heat and access times only: it does not
        count as a change for :meth:`kept_read` (whose reads never depend on those columns).
        """
        return self._retry(fn, begin="BEGIN IMMEDIATE", counted=not bookkeeping)

    def read_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one read transaction (a consistent snapshot; retried while busy)."""
        return self._retry(fn, begin="BEGIN")

    def change_token(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """A value that differs whenever the database may have changed since it was last read: the content
        version in the ``changes`` table, which every write transaction of every connection (other
        processes included) bumps, bookkeeping writes left out, and the count of this object's own write
        transactions. Read it on the main connection inside :meth:`read_transaction`, beside the
        statement whose result it labels.

        Not SQLite's ``data_version``: that moves with every commit of another connection, and the
        access counting of every search is one, so a second process (the index worker) kept nothing."""
        return conn.execute("SELECT n FROM changes WHERE id = 1").fetchone()[0], self._writes

    def kept_read(self, key: Any, fn: Callable[[sqlite3.Connection], T], *,
                  keep: Callable[[T], bool] = lambda value: True) -> T:
        """:meth:`read_transaction` of ``fn``, or the value it gave for ``key`` before if the database has
        not changed since (:meth:`change_token`): for reads that searches repeat (the last
        :data:`KEPT_READS` keys are kept; ``keep`` says whether a value is worth keeping).

        ``fn``'s value must depend only on the database (not on the time), not on access counts, heat or
        access times (see ``bookkeeping`` in :meth:`write_transaction`), and callers must not change it.
        An unhashable ``key`` is read without keeping.
        """
        try:
            hash(key)
        except TypeError:
            return self.read_transaction(fn)
        return self.read_transaction(lambda conn: self._kept_value(conn, key, fn, keep, background=False))

    def kept_in_background(self, key: Any, fn: Callable[[sqlite3.Connection], T], *,
                           keep: Callable[[T], bool] = lambda value: True) -> T | None:
        """:meth:`kept_read` for reads that no caller should wait for: ``None`` until ``fn`` has been read in
        the background (on a connection of its own, :class:`~.background.BackgroundReads`, one read at a
        time: an ask while another read runs is noted, and the next ask starts it), then its value while
        the database stays at that :meth:`change_token` (``None`` for one that ``keep`` refuses). A private
        in-memory database has one connection only: there the second ask at a token reads, and waits.
        """
        return self.read_transaction(lambda conn: self._kept_value(conn, key, fn, keep, background=True))

    def _kept_value(self, conn: sqlite3.Connection, key: Any, fn: Callable[[sqlite3.Connection], T],
                    keep: Callable[[T], bool], *, background: bool) -> Any:
        """The body of :meth:`kept_read` and :meth:`kept_in_background`, inside their read transaction."""
        token = self.change_token(conn)
        kept = self._kept.get(key)
        state = kept[1] if kept is not None and kept[0] == token else None  # what is kept at this token
        if state is not None and state is not _ASKED and state is not _READING:
            self._kept.move_to_end(key)
            return None if state is _REFUSED else state
        if background and state is _READING:
            return None
        if background and not self._memory:
            stored: Any = _READING if self._background.idle() else _ASKED
            if stored is _READING:
                self._background.submit(lambda other: self._keep_read(other, key, fn, keep, token))
            value: Any = None
        elif background and state is None:
            value, stored = None, _ASKED  # in memory, the first ask at this token: noted, nothing read
        else:
            value = stored = fn(conn)
            if not keep(value):
                if not background:
                    return value
                stored = _REFUSED  # read once, not worth keeping: not read again at this token
        self._kept[key] = (token, stored)
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_READS:
            self._kept.popitem(last=False)
        return value

    def _keep_read(self, conn: sqlite3.Connection, key: Any, fn: Callable[[sqlite3.Connection], T],
                   keep: Callable[[T], bool], token: tuple[int, int]) -> None:
        """A background read of :meth:`kept_in_background` (in its own transaction on ``conn``): kept when the
        database is still at ``token`` and nothing replaced the entry meanwhile."""
        if self.change_token(conn) != token:
            return
        value = fn(conn)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == token and kept[1] is _READING:
                self._kept[key] = (token, value if keep(value) else _REFUSED)

    def wait_background_reads(self, timeout: float | None = None) -> bool:
        """Wait for the reads :meth:`kept_in_background` started; return whether they finished within ``timeout``."""
        return self._background.wait(timeout)

    def side_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the read ``fn(conn)`` on a second connection, so it can run beside the main one's statements.

        A file database opens that connection on first use (WAL lets both read at
        once, and it sees every committed write); a private in-memory database has
        only one connection, so there this is :meth:`read_transaction`. Reads here
        take turns with each other, not with the main connection.
        """
        if self._memory:
            return self.read_transaction(fn)
        with self._side_lock:
            if self._side is None:
                self._connection()  # raises once closed
                self._side = self._connect()
                self._side.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            try:
                return fn(self._side)
            except sqlite3.Error as exc:
                if _is_busy(exc):  # a reader is only blocked by a checkpoint or recovery: retry on the main path
                    return self.read_transaction(fn)
                raise self._storage_error(exc) from exc

    def without_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` outside any transaction (``PRAGMA`` statements), retried while busy."""
        return self._retry(fn, begin=None)

    @property
    def in_memory(self) -> bool:
        """Whether the database is a private in-memory one (no file, no WAL)."""
        return self._memory

    # ------------------------------------------------------------ StoreAdmin
    def setup(self) -> None:
        """Create tables and indexes; idempotent and safe when processes call it concurrently."""

        def pragmas(conn: sqlite3.Connection) -> None:
            if not self._memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StorageError(f"could not switch {self.path} to WAL mode (got {mode!r}); "
                                       "put the database on a local file system that supports shared memory")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            if not self._memory:
                conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")

        def schema(conn: sqlite3.Connection) -> None:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            version = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0]
            if int(version) < 3:  # schema 2 -> 3: fill metadata_fields for the cubes already stored
                conn.execute("DELETE FROM metadata_fields")
                conn.execute(FIELDS_BACKFILL)
                conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION,))
            conn.execute(BUMP_CHANGES)  # a migration may have changed what kept reads hold

        self.without_transaction(pragmas)
        self._retry(schema, begin="BEGIN IMMEDIATE")  # bumps the version itself: the table may not exist before

    def close(self) -> None:
        """Close the connection; idempotent."""
        self._background.close()  # outside the lock: a background read takes it to keep its value
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn, self._conn = self._conn, None
            with self._side_lock:
                side, self._side = self._side, None
            for each in (conn, side):
                if each is not None:
                    try:
                        each.close()
                    except sqlite3.Error:
                        pass

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_meta(self, name: str) -> str | None:
        """A store-level setting, or ``None``."""
        row = self.read_transaction(
            lambda conn: conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone())
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        """Set a store-level setting."""
        self.write_transaction(lambda conn: conn.execute(
            "INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, str(value))))

    def write_lock(self) -> "threading.RLock":
        """The store's re-entrant lock: while held, other threads of this process wait for the store."""
        return self._lock


__all__ = ["SQLiteConnection"]
