"""The SQLite record store class (see :mod:`langchain_memos.storage.sqlite` for the engine's design)."""

from __future__ import annotations

import json
import math
import random
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ...cube import HistoryEntry, MemCube, Status, Tier, to_utc, utcnow
from ...errors import (
    EmbeddingDimensionError,
    InvalidInputError,
    InvalidNamespaceError,
    StorageError,
    StoreLockedError,
)
from ..base import KEYWORD_COLUMNS, NS_SEP, AuditRecord, CubeQuery, KeywordDoc, ScoredId, ns_from_key, ns_key
from ..base import TierMove
from .compiler import bm25_weights, compile_query, fts_match, keyword_search_sql, order_sql, page_params, prefix_sql
from .values import dumps, epoch, from_epoch, json_list

T = TypeVar("T")

#: Version of the table layout, kept in ``meta.schema_version``.
SCHEMA_VERSION = "3"

#: Page cache of each connection, in KiB (SQLite's default is 2 MiB; the indexes of a
#: 100k-item store outgrow that, and every write then rereads index pages).
CACHE_KIB = 65536

#: WAL pages written before a checkpoint (SQLite's default is 1000, about 4 MiB): bulk writes
#: rewrite the same index pages, and fewer, larger checkpoints copy and sync each one fewer times.
WAL_CHECKPOINT_PAGES = 10000

#: Most values bound as separate parameters in one statement.
_MAX_PARAMS = 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cubes (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        content TEXT NOT NULL,
        memory_type TEXT NOT NULL,
        tier TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL,
        updated_at REAL,
        last_accessed_at REAL,
        valid_from REAL,
        valid_to REAL,
        expires_at REAL,
        access_count INTEGER NOT NULL DEFAULT 0,
        heat REAL NOT NULL DEFAULT 0,
        importance REAL NOT NULL DEFAULT 0.5,
        owner TEXT,
        readers TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        data TEXT NOT NULL,
        indexed INTEGER NOT NULL DEFAULT 1,
        has_vector INTEGER NOT NULL DEFAULT 0,
        thread TEXT,
        position INTEGER,
        UNIQUE (ns, key)
    )""",
    """CREATE TABLE IF NOT EXISTS history (
        cube_id TEXT NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        version INTEGER NOT NULL,
        entry TEXT NOT NULL,
        PRIMARY KEY (cube_id, pos)
    )""",
    """CREATE TABLE IF NOT EXISTS vectors (
        id TEXT PRIMARY KEY REFERENCES cubes(id) ON DELETE CASCADE,
        dim INTEGER NOT NULL,
        vec BLOB NOT NULL
    )""",
    # rowid = cubes.rid (an INTEGER PRIMARY KEY, so VACUUM keeps it stable).
    """CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
        body, context, next, date, tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        cube_id TEXT,
        ns TEXT NOT NULL,
        at REAL NOT NULL,
        actor TEXT,
        reason TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Top-level scalar metadata of each cube, exactly as json_each(cubes.metadata) yields it (schema 3).
    """CREATE TABLE IF NOT EXISTS metadata_fields (
        rid INTEGER NOT NULL,
        key TEXT NOT NULL,
        type TEXT NOT NULL,
        atom,
        PRIMARY KEY (rid, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS metadata_fields_value ON metadata_fields(key, type, atom)",
    # (ns) and (ns, key) lookups use the UNIQUE (ns, key) index; schema 2 had two copies of it
    "DROP INDEX IF EXISTS cubes_ns",
    "DROP INDEX IF EXISTS cubes_ns_key",
    "CREATE INDEX IF NOT EXISTS cubes_tier ON cubes(tier)",
    "CREATE INDEX IF NOT EXISTS cubes_updated ON cubes(updated_at)",
    "CREATE INDEX IF NOT EXISTS cubes_created ON cubes(created_at)",
    "CREATE INDEX IF NOT EXISTS cubes_unindexed ON cubes(id) WHERE has_vector = 1 AND indexed = 0",
    "CREATE INDEX IF NOT EXISTS audit_cube ON audit(cube_id)",
    "CREATE INDEX IF NOT EXISTS cubes_thread ON cubes(ns, thread, position) WHERE thread IS NOT NULL",
)

_FIELDS_INSERT = "INSERT INTO metadata_fields(rid, key, type, atom) VALUES (?, ?, ?, ?)"
#: Fill ``metadata_fields`` for every stored cube (the schema 2 -> 3 migration).
_FIELDS_BACKFILL = ("INSERT INTO metadata_fields(rid, key, type, atom) SELECT c.rid, j.key, j.type, j.atom "
                    "FROM cubes AS c, json_each(c.metadata) AS j WHERE json_type(c.metadata) = 'object' "
                    "AND j.type NOT IN ('object', 'array')")

_FTS_INSERT = f"INSERT INTO fts(rowid, {', '.join(KEYWORD_COLUMNS)}) VALUES (?, {', '.join('?' * len(KEYWORD_COLUMNS))})"

_CUBE_COLUMNS = (
    "id", "ns", "key", "content", "memory_type", "tier", "status", "created_at", "updated_at",
    "last_accessed_at", "valid_from", "valid_to", "expires_at", "access_count", "heat", "importance",
    "owner", "readers", "metadata", "data", "indexed", "has_vector", "thread", "position",
)
_CUBE_INSERT = f"INSERT INTO cubes({', '.join(_CUBE_COLUMNS)}) VALUES ({', '.join('?' * len(_CUBE_COLUMNS))})"
_CUBE_UPDATE = f"UPDATE cubes SET {', '.join(f'{c} = ?' for c in _CUBE_COLUMNS[1:])} WHERE rid = ?"


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _validate_embedding(vec: Sequence[float], where: str) -> bytes:
    """Check one embedding and return it as little-endian float32 bytes."""
    import numpy as np

    try:
        arr = np.asarray(vec, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where} must be a sequence of numbers ({exc})") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"{where} must be a non-empty flat list of numbers, got shape {arr.shape}")
    as32 = arr.astype("<f4")
    if not (np.isfinite(arr).all() and np.isfinite(as32).all()):
        raise InvalidInputError(f"{where} contains NaN or infinite values (or values beyond float32 range); "
                                "check the embedding model's output")
    return as32.tobytes()


def _metadata_fields(metadata: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """``(key, type, atom)`` of each top-level scalar of ``metadata``, as ``json_each`` reports them.

    Example:
        >>> _metadata_fields({"a": True, "b": 2**70, "c": [1], "d": None, "e": "x", "f": 1.5})
        [('a', 'true', 1), ('b', 'integer', 1.1805916207174113e+21), ('d', 'null', None), ('e', 'text', 'x'), \
('f', 'real', 1.5)]
    """
    out: list[tuple[str, str, Any]] = []
    for key, value in metadata.items():
        if value is None:
            out.append((key, "null", None))
        elif value is True or value is False:
            out.append((key, "true" if value else "false", int(value)))
        elif isinstance(value, int):
            # like SQLite's JSON parser: integers beyond 64 bits keep type "integer" with a real atom
            out.append((key, "integer", value if -(2**63) <= value < 2**63 else float(value)))
        elif isinstance(value, float):
            out.append((key, "real", value))
        elif isinstance(value, str):
            out.append((key, "text", value))
    return out


def _embedding_blobs(embeddings: Sequence[Sequence[float] | None]) -> list[bytes | None] | None:
    """A batch of embeddings as float32 bytes each (``None`` stays ``None``), checked as one array.

    Returns ``None`` when the batch is not a rectangular, finite array of numbers;
    the caller then checks each embedding with :func:`_validate_embedding`, which
    names the offending cube.
    """
    import numpy as np

    present = [i for i, e in enumerate(embeddings) if e is not None]
    out: list[bytes | None] = [None] * len(embeddings)
    if not present:
        return out
    try:
        arr = np.asarray([embeddings[i] for i in present], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[1] == 0:
        return None
    as32 = arr.astype("<f4")
    if not (np.isfinite(arr).all() and np.isfinite(as32).all()):
        return None
    for i, row in zip(present, as32):
        out[i] = row.tobytes()
    return out


def _keyword_row(doc: KeywordDoc | None, where: str) -> tuple[str, ...] | None:
    """Validate a keyword document and return its column values in :data:`KEYWORD_COLUMNS` order."""
    if doc is None:
        return None
    if isinstance(doc, str):
        doc = {"body": doc}
    if not isinstance(doc, Mapping):
        raise InvalidInputError(f"{where} must be a string, a mapping of keyword columns, or None")
    unknown = set(doc) - set(KEYWORD_COLUMNS)
    if unknown:
        raise InvalidInputError(f"{where} has unknown keyword columns {sorted(unknown)}; use {KEYWORD_COLUMNS}")
    values = tuple(doc.get(c) or "" for c in KEYWORD_COLUMNS)
    if not all(isinstance(v, str) for v in values):
        raise InvalidInputError(f"{where} columns must be strings")
    return values


# --------------------------------------------------------------------------- the store
class SQLiteRecordStore:
    """A :class:`~langchain_memos.storage.base.RecordStore` on one SQLite file (or in memory).

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
        self._closed = False
        self._open()
        self.setup()

    # ------------------------------------------------------------ plumbing
    def __repr__(self) -> str:
        return f"SQLiteRecordStore({str(self.path) if self.path else ':memory:'!r})"

    def _open(self) -> None:
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
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed or self._conn is None:
            raise StorageError("this SQLiteRecordStore is closed; open a new one to keep using the database")
        return self._conn

    def _locked_error(self, exc: BaseException) -> StoreLockedError:
        where = str(self.path) if self.path else ":memory:"
        return StoreLockedError(
            f"SQLite database {where} stayed locked for more than {self.busy_timeout_s:g}s ({exc}); "
            "another process or thread holds a long write transaction. Wait for it to finish, "
            "close stale processes using this file, or raise MemOSConfig.busy_timeout_s"
        )

    def _retry(self, fn: Callable[[sqlite3.Connection], T], *, begin: str | None) -> T:
        """Run ``fn`` in one transaction (``begin``: ``"BEGIN IMMEDIATE"``, ``"BEGIN"`` or ``None``).

        Busy/locked errors roll back and retry with jittered exponential backoff
        until ``busy_timeout_s`` has passed.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.005
        while True:
            with self._lock:
                conn = self._connection()
                try:
                    if begin:
                        conn.execute(begin)
                    result = fn(conn)
                    if begin:
                        conn.execute("COMMIT")
                    return result
                except sqlite3.Error as exc:
                    self._rollback(conn)
                    if not _is_busy(exc):
                        raise self._storage_error(exc) from exc
                    last: BaseException = exc
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

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._retry(fn, begin="BEGIN IMMEDIATE")

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._retry(fn, begin="BEGIN")

    # ------------------------------------------------------------ lifecycle
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
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            version = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0]
            if int(version) < 3:  # schema 2 -> 3: fill metadata_fields for the cubes already stored
                conn.execute("DELETE FROM metadata_fields")
                conn.execute(_FIELDS_BACKFILL)
                conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION,))

        self._retry(pragmas, begin=None)
        self._write(schema)

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass

    def __enter__(self) -> "SQLiteRecordStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes
    def write(self, cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None],
              keyword_docs: Sequence[KeywordDoc | None], *,
              keyword_updates: Mapping[str, KeywordDoc] | None = None) -> list[str]:
        """Insert or replace cubes (by id) with embeddings and keyword documents, in one transaction.

        Args:
            cubes: The cubes; their ``history`` is stored as given.
            embeddings: One per cube; ``None`` = not vector-indexed.
            keyword_docs: One per cube; its keyword document (columns of
                :data:`KEYWORD_COLUMNS`, or a string for the body), ``None`` = not keyword-indexed.
            keyword_updates: New keyword documents for other stored cubes (by id);
                unknown ids are ignored.

        Returns:
            Ids of other cubes replaced because of a ``(namespace, key)`` clash.

        Raises:
            InvalidInputError: Lengths differ, an embedding has NaN/inf, or a value is not JSON.
            EmbeddingDimensionError: An embedding's dimension differs from the store's.
        """
        if not (len(cubes) == len(embeddings) == len(keyword_docs)):
            raise InvalidInputError(f"write() needs one embedding and one keyword doc per cube; got {len(cubes)} "
                                    f"cubes, {len(embeddings)} embeddings, {len(keyword_docs)} keyword docs")
        blobs = _embedding_blobs(embeddings)
        try:
            rows = [self._cube_row(cube, emb if blobs is None else blobs[i], doc, i, checked=blobs is not None)
                    for i, (cube, emb, doc) in enumerate(zip(cubes, embeddings, keyword_docs))]
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"a cube has a field of the wrong type ({type(exc).__name__}: {exc}); "
                                    "build cubes with the types MemCube declares (metadata a dict, numbers "
                                    "for importance/heat, datetimes for times)") from exc
        updates = [(cube_id, _keyword_row(doc, f"keyword update of {cube_id}"))
                   for cube_id, doc in (keyword_updates or {}).items()]
        dims = {row["dim"] for row in rows if row["dim"] is not None}
        if len(dims) > 1:
            raise EmbeddingDimensionError(f"one write() got embeddings of dimensions {sorted(dims)}; "
                                          "embed every cube with the same model")
        if not rows and not updates:
            return []

        def tx(conn: sqlite3.Connection) -> list[str]:
            for cube_id, values in updates:
                self._replace_keywords(conn, cube_id, values)
            if dims:
                self._check_dim(conn, next(iter(dims)))
            replaced: list[str] = []
            alive: set[str] = set()
            for row in rows:
                for gone in self._write_row(conn, row):
                    alive.discard(gone)
                    replaced.append(gone)
                alive.add(row["cube"]["id"])
            # A cube replaced within this batch and written again later is not "replaced".
            return list(dict.fromkeys(r for r in replaced if r not in alive))

        return self._write(tx)

    def _cube_row(self, cube: MemCube, embedding: Any, doc: KeywordDoc | None, i: int, *,
                  checked: bool = False) -> dict[str, Any]:
        """Validate one cube and build the values of its rows (no database access).

        ``checked``: ``embedding`` is already float32 bytes from :func:`_embedding_blobs`.
        """
        if not isinstance(cube, MemCube):
            raise InvalidInputError(f"write() takes MemCube objects, got {type(cube).__name__} at position {i}")
        if not isinstance(cube.id, str) or not cube.id or "\x00" in cube.id:
            raise InvalidInputError(f"cube id {cube.id!r} must be a non-empty string without NUL characters; "
                                    "leave id unset to get a generated one")
        for label in cube.namespace:
            if not isinstance(label, str) or NS_SEP in label:
                raise InvalidNamespaceError(f"namespace label {label!r} of cube {cube.id} must be a string without "
                                            "the \\x1f separator; remove that character from the label")
        text = _keyword_row(doc, f"keyword doc of cube {cube.id}")
        vec = embedding if checked or embedding is None else _validate_embedding(embedding,
                                                                                 f"embedding of cube {cube.id}")
        data = cube.to_dict(include_history=False)
        readers = cube.permissions.readers
        values = {
            "id": cube.id, "ns": ns_key(cube.namespace), "key": cube.key, "content": cube.content,
            "memory_type": cube.memory_type.value, "tier": cube.tier.value, "status": cube.status.value,
            "created_at": epoch(cube.created_at), "updated_at": epoch(cube.updated_at),
            "last_accessed_at": epoch(cube.last_accessed_at), "valid_from": epoch(cube.valid_from),
            "valid_to": epoch(cube.valid_to), "expires_at": epoch(cube.expires_at),
            "access_count": int(cube.access_count), "heat": float(cube.heat), "importance": float(cube.importance),
            "owner": cube.owner,
            "readers": dumps(list(readers), "permissions.readers of cube", cube.id) if readers else "[]",
            "metadata": dumps(cube.metadata, "metadata of cube", cube.id),
            "data": dumps(data, "cube", cube.id),
            # an archived cube stays out of the vector index: nothing is pending for it
            "indexed": 0 if vec is not None and cube.tier is not Tier.ARCHIVE else 1,
            "has_vector": 1 if vec is not None else 0,
            "thread": cube.thread_id if cube.position is not None else None,
            "position": cube.position if cube.thread_id is not None else None,
        }
        history = [(pos, h.version, dumps(h.to_dict(), "history of cube", cube.id))
                   for pos, h in enumerate(cube.history)]
        self._check_text(values, text, cube.id)
        return {"cube": values, "history": history, "vec": vec, "fields": _metadata_fields(cube.metadata),
                "dim": None if vec is None else len(vec) // 4, "text": text}

    @staticmethod
    def _check_text(values: dict[str, Any], text: tuple[str, ...] | None, cube_id: str) -> None:
        """Reject strings SQLite cannot store (unpaired surrogates) before the transaction starts."""
        strings = [value for value in (*values.values(), *(text or ())) if isinstance(value, str)]
        try:
            "".join(strings).encode("utf-8")  # one pass over every string (pairs never form across them)
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"cube {cube_id} contains text that is not valid Unicode ({exc}); "
                                    "remove unpaired surrogate characters") from exc

    def _check_dim(self, conn: sqlite3.Connection, dim: int) -> None:
        row = conn.execute("SELECT value FROM meta WHERE name = 'embedding_dim'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta(name, value) VALUES ('embedding_dim', ?)", (str(dim),))
        elif int(row[0]) != dim:
            raise EmbeddingDimensionError(
                f"this store holds {row[0]}-dimensional embeddings but got {dim}-dimensional ones; "
                "use the embedding model the store was built with, or open a new store (a new path) "
                "for the new model"
            )

    def _write_row(self, conn: sqlite3.Connection, row: dict[str, Any]) -> list[str]:
        """Write one cube's rows inside the caller's transaction; return ids it displaced.

        One lookup finds both the cube's own row (same id) and a row holding its
        ``(namespace, key)`` under another id; a new cube skips every delete.
        """
        values = row["cube"]
        replaced: list[str] = []
        existing = None
        for rid_, id_ in conn.execute("SELECT rid, id FROM cubes WHERE id = ? OR (ns = ? AND key = ?)",
                                      (values["id"], values["ns"], values["key"])).fetchall():
            if id_ == values["id"]:
                existing = rid_
            else:
                self._delete_rows(conn, rid_, id_)
                replaced.append(id_)
        cols = _CUBE_COLUMNS
        if existing is None:
            cur = conn.execute(_CUBE_INSERT, [values[c] for c in cols])
            rid = cur.lastrowid
        else:
            rid = existing
            conn.execute(_CUBE_UPDATE, [values[c] for c in cols[1:]] + [rid])
            conn.execute("DELETE FROM fts WHERE rowid = ?", (rid,))
            conn.execute("DELETE FROM history WHERE cube_id = ?", (values["id"],))
            conn.execute("DELETE FROM metadata_fields WHERE rid = ?", (rid,))
        if row["history"]:
            conn.executemany("INSERT INTO history(cube_id, pos, version, entry) VALUES (?, ?, ?, ?)",
                             [(values["id"], *h) for h in row["history"]])
        if row["vec"] is None:
            if existing is not None:
                conn.execute("DELETE FROM vectors WHERE id = ?", (values["id"],))
        else:
            conn.execute("INSERT INTO vectors(id, dim, vec) VALUES (?, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET dim = excluded.dim, vec = excluded.vec",
                         (values["id"], row["dim"], row["vec"]))
        if row["text"] is not None:
            conn.execute(_FTS_INSERT, (rid, *row["text"]))
        if row["fields"]:
            conn.executemany(_FIELDS_INSERT, [(rid, *f) for f in row["fields"]])
        return replaced

    @staticmethod
    def _replace_keywords(conn: sqlite3.Connection, cube_id: str, values: tuple[str, ...] | None) -> None:
        """Replace (or drop, for ``None``) the keyword row of a stored cube."""
        found = conn.execute("SELECT rid FROM cubes WHERE id = ?", (cube_id,)).fetchone()
        if found is None:
            return
        conn.execute("DELETE FROM fts WHERE rowid = ?", (found[0],))
        if values is not None:
            conn.execute(_FTS_INSERT, (found[0], *values))

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, rid: int, cube_id: str) -> None:
        conn.execute("DELETE FROM fts WHERE rowid = ?", (rid,))
        conn.execute("DELETE FROM metadata_fields WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM history WHERE cube_id = ?", (cube_id,))
        conn.execute("DELETE FROM vectors WHERE id = ?", (cube_id,))
        conn.execute("DELETE FROM cubes WHERE rid = ?", (rid,))

    def delete(self, ids: Sequence[str], *, reason: str, actor: str | None = None) -> list[str]:
        """Delete cubes with their history, embedding and keyword rows; audit each deletion.

        Each audit record (action ``"delete"``) keeps the last content, key and
        version in ``detail`` so deletions stay auditable after history is gone.

        Returns:
            The ids that existed and were deleted, in input order.
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        at = utcnow().timestamp()

        def tx(conn: sqlite3.Connection) -> list[str]:
            deleted: list[str] = []
            for cube_id in wanted:
                row = conn.execute("SELECT rid, ns, key, content, data FROM cubes WHERE id = ?", (cube_id,)).fetchone()
                if row is None:
                    continue
                rid, ns, key, content, data = row
                n_hist = conn.execute("SELECT COUNT(*) FROM history WHERE cube_id = ?", (cube_id,)).fetchone()[0]
                detail = {"key": key, "content": content, "version": json.loads(data).get("version"),
                          "history_versions": n_hist}
                self._delete_rows(conn, rid, cube_id)
                conn.execute("INSERT INTO audit(action, cube_id, ns, at, actor, reason, detail) "
                             "VALUES ('delete', ?, ?, ?, ?, ?, ?)",
                             (cube_id, ns, at, actor, reason, dumps(detail, "audit detail")))
                deleted.append(cube_id)
            return deleted

        return self._write(tx)

    def erase(self, ids: Sequence[str], *, namespaces: Sequence[Sequence[str]] = (),
              actors: Sequence[str] = ()) -> list[str]:
        """Delete cubes leaving no copy of their data (right to be forgotten); return the ids erased.

        Unlike :meth:`delete`, nothing of them is kept: rows, history, embeddings,
        keyword rows and metadata go, audit records of these cubes or under
        ``namespaces`` (prefixes) or by one of ``actors`` lose their namespace, reason
        and detail (content), and the actor's name. Freed pages
        are zeroed (``secure_delete``), the keyword index is merged so no deleted term
        survives in it, and the WAL is checkpointed. One audit record ``"erase"`` with
        the count is added.
        """
        wanted = list(dict.fromkeys(ids))
        prefixes = [tuple(ns) for ns in namespaces]
        at = utcnow().timestamp()

        def tx(conn: sqlite3.Connection) -> list[str]:
            erased: list[str] = []
            for cube_id in wanted:
                row = conn.execute("SELECT rid FROM cubes WHERE id = ?", (cube_id,)).fetchone()
                if row is not None:
                    self._delete_rows(conn, row[0], cube_id)
                    erased.append(cube_id)
            scrub = "UPDATE audit SET ns = '', reason = 'erased', detail = '{\"erased\": true}'"
            conn.execute(f"{scrub} WHERE cube_id IN (SELECT value FROM json_each(?))", (json_list(wanted),))
            for prefix in prefixes:
                where, params = prefix_sql("ns", prefix)
                conn.execute(f"{scrub} WHERE {where}", params)
            for actor in actors:
                conn.execute(f"{scrub}, actor = NULL WHERE actor = ?", (actor,))
            conn.execute("INSERT INTO audit(action, cube_id, ns, at, actor, reason, detail) "
                         "VALUES ('erase', NULL, '', ?, NULL, 'erase', ?)", (at, dumps({"cubes": len(erased)}, "audit")))
            return erased

        with self._lock:
            self._retry(lambda conn: conn.execute("PRAGMA secure_delete=ON"), begin=None)
            try:
                erased = self._write(tx)
                self._write(lambda conn: conn.execute("INSERT INTO fts(fts) VALUES ('optimize')"))
            finally:
                self._retry(lambda conn: conn.execute("PRAGMA secure_delete=OFF"), begin=None)
            if not self._memory:
                self._retry(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall(), begin=None)
        return erased

    def mark_indexed(self, ids: Sequence[str], indexed: bool = True) -> None:
        """Record that these ids' embeddings are in the vector index (``indexed=False``: that they must be re-indexed)."""
        if not ids:
            return
        self._write(lambda conn: conn.execute(
            "UPDATE cubes SET indexed = ? WHERE id IN (SELECT value FROM json_each(?))",
            (1 if indexed else 0, json_list(ids))))

    def unindexed_embeddings(self, limit: int) -> list[tuple[str, tuple[str, ...], Tier, Any | None]]:
        """Up to ``limit`` cubes waiting for the vector index: ``(id, namespace, tier, float32 embedding)``.

        Archived cubes are listed too (the caller leaves them out of the hot index and
        confirms them all the same). Nothing is changed: see :meth:`confirm_indexed`.
        """
        import numpy as np

        rows = self._read(lambda conn: conn.execute(
            "SELECT c.id, c.ns, c.tier, v.vec FROM cubes AS c LEFT JOIN vectors AS v ON v.id = c.id "
            "WHERE c.has_vector = 1 AND c.indexed = 0 LIMIT ?", (int(limit),)).fetchall())
        return [(cube_id, ns_from_key(ns), Tier(tier), None if vec is None else np.frombuffer(vec, dtype="<f4"))
                for cube_id, ns, tier, vec in rows]

    def confirm_indexed(self, entries: Sequence[tuple[str, tuple[str, ...], Tier, Any | None]]) -> int:
        """Flag cubes as indexed if they still have the namespace, tier and embedding given; return how many.

        ``entries`` are rows of :meth:`unindexed_embeddings` after the index took them.
        A cube written again in between (new embedding, tier or namespace) keeps
        waiting, so the index always ends up with the last version, and a crash
        between the index write and this call leaves the rows waiting (indexed again
        by the next writer or ``MemOS.check()``), never flagged with a stale vector.
        """
        import numpy as np

        rows = [(cube_id, ns_key(ns), Tier(tier).value, None if vec is None else np.asarray(vec, dtype="<f4").tobytes())
                for cube_id, ns, tier, vec in entries]
        if not rows:
            return 0
        sql = ("UPDATE cubes SET indexed = 1 WHERE id = ? AND ns = ? AND tier = ? AND indexed = 0 "
               "AND (SELECT v.vec FROM vectors AS v WHERE v.id = cubes.id) IS ?")
        return self._write(lambda conn: conn.executemany(sql, [(i, ns, t, v) for i, ns, t, v in rows]).rowcount)

    def touch(self, ids: Sequence[str], at: datetime, heat_delta: float = 0.0) -> None:
        """Count one access per id (an id listed twice counts twice), set ``last_accessed_at``, add heat.

        Unknown ids are ignored.
        """
        if not ids:
            return
        when = to_utc(at)
        if when is None or not math.isfinite(heat_delta):
            raise InvalidInputError("touch() needs a datetime `at` and a finite heat_delta")
        iso, epoch = when.isoformat(), when.timestamp()

        def tx(conn: sqlite3.Connection) -> None:
            for cube_id in ids:
                row = conn.execute("SELECT data FROM cubes WHERE id = ?", (cube_id,)).fetchone()
                if row is None:
                    continue
                data = json.loads(row[0])
                data["access_count"] = int(data.get("access_count", 0)) + 1
                data["heat"] = float(data.get("heat", 0.0)) + float(heat_delta)
                data["last_accessed_at"] = iso
                conn.execute("UPDATE cubes SET access_count = ?, heat = ?, last_accessed_at = ?, data = ? "
                             "WHERE id = ?",
                             (data["access_count"], data["heat"], epoch, dumps(data, "cube"), cube_id))

        self._write(tx)

    def refresh_expiry(self, ids: Sequence[str], at: datetime) -> None:
        """Move ``expires_at`` to ``at + ttl_minutes`` for the ids that have a sliding TTL."""
        if not ids:
            return
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("refresh_expiry() needs a datetime `at`")

        def tx(conn: sqlite3.Connection) -> None:
            rows = conn.execute("SELECT id, data FROM cubes WHERE id IN (SELECT value FROM json_each(?)) "
                                "AND json_extract(data, '$.ttl_minutes') IS NOT NULL", (json_list(ids),)).fetchall()
            for cube_id, raw in rows:
                data = json.loads(raw)
                expires = when + timedelta(minutes=float(data["ttl_minutes"]))
                data["expires_at"] = expires.isoformat()
                conn.execute("UPDATE cubes SET expires_at = ?, data = ? WHERE id = ?",
                             (expires.timestamp(), dumps(data, "cube"), cube_id))

        self._write(tx)

    def expired_ids(self, at: datetime, limit: int | None = None) -> list[str]:
        """Ids whose ``expires_at`` is at or before ``at`` (oldest expiry first)."""
        rows = self._read(lambda conn: conn.execute(
            "SELECT id FROM cubes WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (epoch(at), -1 if limit is None else int(limit))).fetchall())
        return [r[0] for r in rows]

    def audit(self, records: Iterable[AuditRecord]) -> None:
        """Append records to the audit log (one transaction)."""
        rows = []
        for rec in records:
            at = to_utc(rec.at)
            if at is None:
                raise InvalidInputError("an AuditRecord needs a datetime `at`")
            rows.append((rec.action, rec.cube_id, ns_key(rec.namespace), at.timestamp(), rec.actor, rec.reason,
                         dumps(rec.detail or {}, "audit detail")))
        if rows:
            self._write(lambda conn: conn.executemany(
                "INSERT INTO audit(action, cube_id, ns, at, actor, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows))

    def set_meta(self, name: str, value: str) -> None:
        """Set a store-level setting."""
        self._write(lambda conn: conn.execute(
            "INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, str(value))))

    # ------------------------------------------------------------ reads
    def _load(self, conn: sqlite3.Connection, rows: list[tuple[str, str]], *,
              with_history: bool = True) -> dict[str, MemCube]:
        """Build cubes (with history unless ``with_history=False``) from ``(id, data)`` rows."""
        if not rows:
            return {}
        history: dict[str, list[HistoryEntry]] = {}
        for cube_id, entry in [] if not with_history else conn.execute(
                "SELECT cube_id, entry FROM history WHERE cube_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY cube_id, pos", (json_list(r[0] for r in rows),)):
            history.setdefault(cube_id, []).append(HistoryEntry.from_dict(json.loads(entry)))
        cubes = {}
        for cube_id, data in rows:
            cube = MemCube.from_dict(json.loads(data))
            cube.history = history.get(cube_id, [])
            cubes[cube_id] = cube
        return cubes

    def get(self, ids: Sequence[str]) -> list[MemCube | None]:
        """Cubes by id, in input order (``None`` where missing), with history."""
        if not ids:
            return []

        def tx(conn: sqlite3.Connection) -> dict[str, MemCube]:
            rows = conn.execute("SELECT id, data FROM cubes WHERE id IN (SELECT value FROM json_each(?))",
                                (json_list(ids),)).fetchall()
            return self._load(conn, rows)

        found = self._read(tx)
        return [found.get(i) for i in ids]

    def get_by_keys(self, namespace: Sequence[str], keys: Sequence[str]) -> list[MemCube | None]:
        """Cubes by ``(namespace, key)``, in input order (``None`` where missing)."""
        if not keys:
            return []
        ns = ns_key(tuple(namespace))

        wanted = list(dict.fromkeys(keys))

        def tx(conn: sqlite3.Connection) -> dict[str, MemCube]:
            # keys are bound one parameter each (not as a JSON list): SQLite's JSON functions cut text at a NUL
            rows = []
            for start in range(0, len(wanted), _MAX_PARAMS):
                part = wanted[start:start + _MAX_PARAMS]
                rows.extend(conn.execute(f"SELECT key, id, data FROM cubes WHERE ns = ? AND key IN "
                                         f"({', '.join('?' * len(part))})", (ns, *part)).fetchall())
            by_id = self._load(conn, [(r[1], r[2]) for r in rows])
            return {r[0]: by_id[r[1]] for r in rows}

        found = self._read(tx)
        return [found.get(k) for k in keys]

    def query(self, query: CubeQuery, *, limit: int | None = None, offset: int = 0,
              order_by: str = "updated_at DESC", with_history: bool = True) -> list[MemCube]:
        """Cubes matching ``query``.

        Args:
            query: The structural query.
            limit: Most cubes to return (``None`` = all).
            offset: Cubes to skip first.
            order_by: One of :data:`ORDERINGS` (ties are broken by id).
            with_history: Load version history too (``False`` is faster; ``history`` is then empty).

        Raises:
            InvalidInputError: Unknown ``order_by`` or a negative limit/offset.
        """
        order = order_sql(order_by)
        page = page_params(limit, offset)
        where, params = compile_query(query)
        sql = f"SELECT c.id, c.data FROM cubes AS c WHERE {where}{order} LIMIT ? OFFSET ?"
        params = [*params, *page]

        def tx(conn: sqlite3.Connection) -> list[MemCube]:
            rows = conn.execute(sql, params).fetchall()
            loaded = self._load(conn, rows, with_history=with_history)
            return [loaded[r[0]] for r in rows]

        return self._read(tx)

    def query_ids(self, query: CubeQuery, *, limit: int | None = None, offset: int = 0,
                  order_by: str | None = "updated_at DESC") -> list[str]:
        """Ids of the cubes matching ``query``, without loading them (no JSON is parsed).

        Args:
            query: The structural query.
            limit: Most ids to return (``None`` = all).
            offset: Ids to skip first.
            order_by: One of :data:`ORDERINGS`, or ``None`` for storage order (cheapest:
                with a ``limit`` the scan stops as soon as enough ids are found).

        Raises:
            InvalidInputError: Unknown ``order_by`` or a negative limit/offset.
        """
        order = order_sql(order_by, allow_none=True)
        page = page_params(limit, offset)
        where, params = compile_query(query)
        sql = f"SELECT c.id FROM cubes AS c WHERE {where}{order} LIMIT ? OFFSET ?"
        params = [*params, *page]
        return [r[0] for r in self._read(lambda conn: conn.execute(sql, params).fetchall())]

    def count(self, query: CubeQuery) -> int:
        """How many cubes match ``query``."""
        where, params = compile_query(query)
        return self._read(lambda conn: conn.execute(
            f"SELECT COUNT(*) FROM cubes AS c WHERE {where}", params).fetchone()[0])

    def keyword_search(self, terms: Sequence[str], query: CubeQuery, k: int, *,
                       column_weights: Sequence[float] | None = None) -> list[ScoredId]:
        """BM25 search for any of ``terms``, best first (score = ``-bm25``, larger is better).

        Args:
            terms: Plain words (see :func:`fts_match`; FTS5 syntax in them is inert).
            query: Restricts the cubes searched.
            k: How many results.
            column_weights: BM25 weights of :data:`KEYWORD_COLUMNS` (default: all 1.0).
        """
        match = fts_match(terms)
        if match is None or k <= 0:
            return []
        weights = bm25_weights(column_weights)
        sql, params = keyword_search_sql(match, query, k, weights)
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [ScoredId(cube_id, float(score)) for cube_id, score in rows]

    def next_in_thread(self, ids: Sequence[str]) -> dict[str, str]:
        """For each id with a thread and position, the id of the next cube of its thread."""
        if not ids:
            return {}
        sql = ("SELECT c.id, (SELECT n.id FROM cubes AS n WHERE n.ns = c.ns AND n.thread = c.thread "
               "AND n.position > c.position ORDER BY n.position LIMIT 1) FROM cubes AS c "
               "WHERE c.id IN (SELECT value FROM json_each(?)) AND c.thread IS NOT NULL")
        rows = self._read(lambda conn: conn.execute(sql, (json_list(ids),)).fetchall())
        return {cube_id: nxt for cube_id, nxt in rows if nxt is not None}

    def thread_units(self, namespace: Sequence[str], thread: str, lo: int, hi: int) -> list[MemCube]:
        """Cubes of one thread with ``lo <= position <= hi``, ordered by position (without history)."""
        sql = ("SELECT id, data FROM cubes WHERE ns = ? AND thread = ? AND position BETWEEN ? AND ? "
               "ORDER BY position")

        def tx(conn: sqlite3.Connection) -> list[MemCube]:
            rows = conn.execute(sql, (ns_key(tuple(namespace)), thread, int(lo), int(hi))).fetchall()
            loaded = self._load(conn, rows, with_history=False)
            return [loaded[r[0]] for r in rows]

        return self._read(tx)

    def thread_max_position(self, namespace: Sequence[str], thread: str) -> int | None:
        """The largest position used in a thread, or ``None`` for a new thread."""
        row = self._read(lambda conn: conn.execute(
            "SELECT MAX(position) FROM cubes WHERE ns = ? AND thread = ?",
            (ns_key(tuple(namespace)), thread)).fetchone())
        return None if row is None or row[0] is None else int(row[0])

    def distinct_metadata(self, query: CubeQuery, field: str, limit: int = 100) -> list[Any]:
        """Distinct scalar values of the top-level metadata ``field`` among cubes matching ``query``."""
        where, params = compile_query(query)
        # metadata_fields holds the top-level scalars (what json_each yields, objects and arrays left
        # out), indexed by key: cubes without the field are never visited
        sql = (f"SELECT DISTINCT f.atom FROM metadata_fields AS f JOIN cubes AS c ON c.rid = f.rid "
               f"WHERE f.key = ? AND {where} ORDER BY f.atom LIMIT ?")

        def tx(conn: sqlite3.Connection) -> list[Any]:
            # one index probe answers the common case (no cube has the field) without compiling the filters
            if conn.execute("SELECT 1 FROM metadata_fields WHERE key = ? LIMIT 1", (field,)).fetchone() is None:
                return []
            return conn.execute(sql, [field, *params, int(limit)]).fetchall()

        return [r[0] for r in self._read(tx)]

    def embeddings(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """Stored embeddings of these ids as read-only float32 numpy arrays; absent ids are left out."""
        import numpy as np

        if not ids:
            return {}
        rows = self._read(lambda conn: conn.execute(
            "SELECT id, vec FROM vectors WHERE id IN (SELECT value FROM json_each(?))", (json_list(ids),)).fetchall())
        return {cube_id: np.frombuffer(blob, dtype="<f4") for cube_id, blob in rows}

    def unindexed_ids(self, limit: int | None = None) -> list[str]:
        """Ids with an embedding not yet confirmed in the vector index (sorted)."""
        lim = -1 if limit is None else int(limit)
        rows = self._read(lambda conn: conn.execute(
            "SELECT id FROM cubes WHERE has_vector = 1 AND indexed = 0 ORDER BY id LIMIT ?", (lim,)).fetchall())
        return [r[0] for r in rows]

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces (sorted) that start with ``prefix`` and hold a cube that has not expired."""
        where, params = prefix_sql("ns", tuple(prefix))
        live = "(expires_at IS NULL OR expires_at > ?) AND status != ?"
        rows = self._read(lambda conn: conn.execute(
            f"SELECT DISTINCT ns FROM cubes WHERE {where} AND {live}",
            [*params, utcnow().timestamp(), Status.EXPIRED.value]).fetchall())
        return sorted(ns_from_key(r[0]) for r in rows)

    def audit_log(self, cube_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest-first audit records, optionally for one cube."""
        sql = "SELECT action, cube_id, ns, at, actor, reason, detail FROM audit"
        params: list[Any] = []
        if cube_id is not None:
            sql += " WHERE cube_id = ?"
            params.append(cube_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [AuditRecord(action=a, cube_id=c, namespace=ns_from_key(ns), at=from_epoch(at), actor=actor,
                            reason=reason, detail=json.loads(detail)) for a, c, ns, at, actor, reason, detail in rows]

    def get_meta(self, name: str) -> str | None:
        """A store-level setting, or ``None``."""
        row = self._read(lambda conn: conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone())
        return None if row is None else row[0]

    # ------------------------------------------------------------ lifecycle (scheduler) support
    def _ensure_lifecycle_tables(self) -> None:
        """Create the working-set and co-access tables on first use (idempotent, cheap after the first call)."""
        if getattr(self, "_lifecycle_tables", False):
            return

        def tx(conn: sqlite3.Connection) -> None:
            for statement in _LIFECYCLE_SCHEMA:
                conn.execute(statement)

        self._write(tx)
        self._lifecycle_tables = True

    def move_tiers(self, moves: Sequence[TierMove], at: datetime, *, actor: str | None = None) -> list[str]:
        """Apply tier moves and working-set joins/leaves in one transaction; return ids whose tier changed.

        See :meth:`langchain_memos.storage.base.RecordStore.move_tiers`. Only the ``tier``
        and ``status`` columns (and the same fields of the stored cube) change; each
        change writes an audit record (action ``"tier_move"``) in the same transaction.
        """
        if not moves:
            return []
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("move_tiers() needs a datetime `at`")
        self._ensure_lifecycle_tables()
        epoch = when.timestamp()
        hot = {t.value for t in Tier if t is not Tier.ARCHIVE}

        def tx(conn: sqlite3.Connection) -> list[str]:
            moved: list[str] = []
            for m in moves:
                target = Tier(m.tier)
                row = conn.execute("SELECT rid, ns, tier, status, has_vector, json_extract(data, '$.version'), heat "
                                   "FROM cubes WHERE id = ?", (m.id,)).fetchone()
                if row is None:
                    continue
                rid, ns, tier, status, has_vector, version, heat = row
                if m.expected_version is not None and int(version or 0) != int(m.expected_version):
                    continue
                if m.expected_tier is not None and tier != Tier(m.expected_tier).value:
                    continue
                if target is Tier.WORKING:
                    if m.thread is not None:
                        conn.execute("INSERT INTO working_set(ns, thread, cube_id, joined_at) VALUES (?, ?, ?, ?) "
                                     "ON CONFLICT(ns, thread, cube_id) DO UPDATE SET joined_at = excluded.joined_at",
                                     (ns, m.thread, m.id, epoch))
                elif m.thread is not None:
                    conn.execute("DELETE FROM working_set WHERE ns = ? AND thread = ? AND cube_id = ?",
                                 (ns, m.thread, m.id))
                    if tier == Tier.WORKING.value and conn.execute(
                            "SELECT 1 FROM working_set WHERE cube_id = ? LIMIT 1", (m.id,)).fetchone():
                        continue  # another thread still holds it in its working set
                else:
                    conn.execute("DELETE FROM working_set WHERE cube_id = ?", (m.id,))
                new_status = _moved_status(Status(status), target, m.status)
                if target.value == tier and new_status.value == status:
                    continue
                reindex = bool(has_vector) and target.value in hot and target.value != tier
                conn.execute("UPDATE cubes SET tier = ?, status = ?, indexed = CASE WHEN ? THEN 0 ELSE indexed END, "
                             "data = json_set(data, '$.tier', ?, '$.status', ?) WHERE rid = ?",
                             (target.value, new_status.value, 1 if reindex else 0, target.value, new_status.value,
                              rid))
                detail = {"from": tier, "to": target.value, "status": new_status.value, "heat": heat,
                          **({"thread": m.thread} if m.thread is not None else {}), **(m.detail or {})}
                conn.execute("INSERT INTO audit(action, cube_id, ns, at, actor, reason, detail) "
                             "VALUES ('tier_move', ?, ?, ?, ?, ?, ?)",
                             (m.id, ns, epoch, actor, m.reason, dumps(detail, "audit detail")))
                moved.append(m.id)
            return moved

        return self._write(tx)

    def working_set(self, namespace_prefix: Sequence[str],
                    thread: str | None = None) -> list[tuple[str, str, datetime]]:
        """``(thread, cube id, joined at)`` of working-set members under a namespace prefix, oldest join first.

        ``thread`` restricts to one thread. Only cubes still in the ``WORKING`` tier are listed.
        """
        self._ensure_lifecycle_tables()
        where, params = prefix_sql("w.ns", tuple(namespace_prefix))
        if thread is not None:
            where, params = f"{where} AND w.thread = ?", [*params, thread]
        sql = (f"SELECT w.thread, w.cube_id, w.joined_at FROM working_set AS w JOIN cubes AS c ON c.id = w.cube_id "
               f"WHERE c.tier = ? AND {where} ORDER BY w.joined_at, w.thread, w.cube_id")
        rows = self._read(lambda conn: conn.execute(sql, [Tier.WORKING.value, *params]).fetchall())
        return [(t, cube_id, from_epoch(at)) for t, cube_id, at in rows]

    def set_heat(self, heats: Mapping[str, float]) -> None:
        """Store computed heat scores (column and stored cube); unknown ids are ignored."""
        rows = []
        for cube_id, value in heats.items():
            value = float(value)
            if not math.isfinite(value):
                raise InvalidInputError(f"heat of cube {cube_id} must be finite, got {value}")
            rows.append((value, value, cube_id))
        if rows:
            self._write(lambda conn: conn.executemany(
                "UPDATE cubes SET heat = ?, data = json_set(data, '$.heat', ?) WHERE id = ?", rows))

    def record_coaccess(self, groups: Sequence[Sequence[str]], at: datetime) -> None:
        """Count each pair of ids retrieved together in a group, in both directions (unknown ids ignored)."""
        when = to_utc(at)
        if when is None:
            raise InvalidInputError("record_coaccess() needs a datetime `at`")
        pairs = []
        for group in groups:
            ids = list(dict.fromkeys(group))
            pairs.extend((a, b, when.timestamp(), a, b) for a in ids for b in ids if a != b)
        if not pairs:
            return
        self._ensure_lifecycle_tables()
        self._write(lambda conn: conn.executemany(
            "INSERT INTO coaccess(a, b, n, last_at) SELECT ?, ?, 1, ? WHERE EXISTS (SELECT 1 FROM cubes WHERE id = ?) "
            "AND EXISTS (SELECT 1 FROM cubes WHERE id = ?) "
            "ON CONFLICT(a, b) DO UPDATE SET n = n + 1, last_at = excluded.last_at", pairs))

    def coaccessed(self, ids: Sequence[str], limit: int = 20) -> list[ScoredId]:
        """Cubes most often retrieved together with ``ids`` (excluding ``ids``), best first."""
        if not ids or limit <= 0:
            return []
        self._ensure_lifecycle_tables()
        listed = json_list(ids)
        rows = self._read(lambda conn: conn.execute(
            "SELECT b, SUM(n) AS s FROM coaccess WHERE a IN (SELECT value FROM json_each(?)) "
            "AND b NOT IN (SELECT value FROM json_each(?)) GROUP BY b ORDER BY s DESC, b LIMIT ?",
            (listed, listed, int(limit))).fetchall())
        return [ScoredId(b, float(s)) for b, s in rows]

    def write_lock(self) -> "threading.RLock":
        """The store's re-entrant lock: while held, other threads of this process wait for the store."""
        return self._lock


#: Tables of the scheduler's working sets and co-access counts (created on first use).
_LIFECYCLE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS working_set (
        ns TEXT NOT NULL,
        thread TEXT NOT NULL,
        cube_id TEXT NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
        joined_at REAL NOT NULL,
        PRIMARY KEY (ns, thread, cube_id)
    )""",
    "CREATE INDEX IF NOT EXISTS working_set_cube ON working_set(cube_id)",
    """CREATE TABLE IF NOT EXISTS coaccess (
        a TEXT NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
        b TEXT NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
        n REAL NOT NULL,
        last_at REAL NOT NULL,
        PRIMARY KEY (a, b)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS coaccess_b ON coaccess(b)",
)


def _moved_status(current: Status, target: Tier, wanted: Status | None) -> Status:
    """The status a cube gets when it moves to ``target`` (see ``TierMove.status``)."""
    if wanted is not None:
        return Status(wanted)
    if current in (Status.FUSED, Status.EXPIRED):
        return current
    if target is Tier.ARCHIVE:
        return Status.ARCHIVED
    if target in (Tier.WORKING, Tier.ACTIVATION):
        return Status.ACTIVATED
    if current in (Status.ARCHIVED, Status.ACTIVATED):
        return Status.GENERATED
    return current


__all__ = ["SCHEMA_VERSION", "SQLiteRecordStore"]
