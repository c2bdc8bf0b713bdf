"""The SQLite engine's table layout and the fixed statements written from it (constants only).

Example:
    >>> CUBE_COLUMNS[:3]
    ('id', 'ns', 'key')
    >>> FTS_INSERT
    'INSERT INTO fts(rowid, body, context, next, date) VALUES (?, ?, ?, ?, ?)'
"""

from __future__ import annotations

from ..base import KEYWORD_COLUMNS

#: Version of the table layout, kept in ``meta.schema_version``.
SCHEMA_VERSION = "3"

#: Page cache of each connection, in KiB (SQLite's default is 2 MiB; the indexes of a
#: 100k-item store outgrow that, and every write then rereads index pages).
CACHE_KIB = 65536

#: WAL pages written before a checkpoint (SQLite's default is 1000, about 4 MiB): bulk writes
#: rewrite the same index pages, and fewer, larger checkpoints copy and sync each one fewer times.
WAL_CHECKPOINT_PAGES = 10000

#: Most values bound as separate parameters in one statement.
MAX_PARAMS = 500

#: Every table and index of the record store (idempotent statements, run by ``setup``).
SCHEMA = (
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
    # the rid of every keyword row written or dropped, in order (the index worker's keyword mirror follows it)
    "CREATE TABLE IF NOT EXISTS keyword_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, rid INTEGER NOT NULL)",
    # the content version: every write transaction but bookkeeping bumps it (see SQLiteConnection.change_token)
    "CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO changes(id, n) VALUES (1, 0)",
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

#: One ``metadata_fields`` row.
FIELDS_INSERT = "INSERT INTO metadata_fields(rid, key, type, atom) VALUES (?, ?, ?, ?)"
#: Fill ``metadata_fields`` for every stored cube (the schema 2 -> 3 migration).
FIELDS_BACKFILL = ("INSERT INTO metadata_fields(rid, key, type, atom) SELECT c.rid, j.key, j.type, j.atom "
                    "FROM cubes AS c, json_each(c.metadata) AS j WHERE json_type(c.metadata) = 'object' "
                    "AND j.type NOT IN ('object', 'array')")

#: One keyword row (rowid = the cube's rid, then :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS`).
FTS_INSERT = f"INSERT INTO fts(rowid, {', '.join(KEYWORD_COLUMNS)}) VALUES (?, {', '.join('?' * len(KEYWORD_COLUMNS))})"

#: Columns of ``cubes`` written from a cube (all but ``rid``), and the statements that write them.
CUBE_COLUMNS = (
    "id", "ns", "key", "content", "memory_type", "tier", "status", "created_at", "updated_at",
    "last_accessed_at", "valid_from", "valid_to", "expires_at", "access_count", "heat", "importance",
    "owner", "readers", "metadata", "data", "indexed", "has_vector", "thread", "position",
)
CUBE_INSERT = f"INSERT INTO cubes({', '.join(CUBE_COLUMNS)}) VALUES ({', '.join('?' * len(CUBE_COLUMNS))})"
CUBE_UPDATE = f"UPDATE cubes SET {', '.join(f'{c} = ?' for c in CUBE_COLUMNS[1:])} WHERE rid = ?"


#: One audit row (action, cube id, namespace key, epoch seconds, actor, reason, JSON detail).
AUDIT_INSERT = "INSERT INTO audit(action, cube_id, ns, at, actor, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"

#: Tables of the scheduler's working sets and co-access counts (created on first use).
LIFECYCLE_SCHEMA = (
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



__all__ = [
    "AUDIT_INSERT",
    "CACHE_KIB",
    "CUBE_COLUMNS",
    "CUBE_INSERT",
    "CUBE_UPDATE",
    "FIELDS_BACKFILL",
    "FIELDS_INSERT",
    "FTS_INSERT",
    "LIFECYCLE_SCHEMA",
    "MAX_PARAMS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "WAL_CHECKPOINT_PAGES",
]
