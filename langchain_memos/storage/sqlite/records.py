"""Cubes and their version history in SQLite: the engine's :class:`~langchain_memos.storage.base.CubeRecords`.

A write validates everything first (:mod:`.rows`), then writes each cube's row,
history, metadata fields, vector (:mod:`.vectors`) and keyword row
(:mod:`.keyword`) in one ``BEGIN IMMEDIATE`` transaction. Conditions on a
top-level metadata field run on ``metadata_fields``, an indexed copy of each
cube's top-level scalar metadata ``(rid, key, type, atom)`` written from the same
values ``json_each`` yields, in the same transaction as the cube (so a filter
like ``{"category": "books"}`` is an index lookup, not a JSON scan of every row).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Container, Mapping, Sequence

from ...cube import CubeView, HistoryEntry, MemCube, MemoryType, Status, utcnow
from ...errors import EmbeddingDimensionError, InvalidInputError
from ..base import CubeQuery, KeywordDoc, ns_from_key, ns_key
from .audit import append_audit, scrub_audit
from .compiler import (SMALL_SCOPE, bound_statements, compile_query, expiry_cutoff, filter_rids_sql, order_sql,
                       page_params, prefix_sql, small_scope_sql)
from .connection import SQLiteConnection
from .keyword import drop_keyword_row, merge_keyword_index, put_keyword_row, replace_keywords
from .rows import cube_row, embedding_blobs, keyword_row
from .schema import CUBE_COLUMNS, CUBE_INSERT, CUBE_UPDATE, FIELDS_INSERT, MAX_PARAMS
from .values import from_epoch, json_list
from .vectors import check_dim, drop_vector, put_vector


#: The most matching ids :meth:`SQLiteCubeRecords.kept_matches` keeps for one query (32,768 ids are ~4 MB).
MATCHES_KEPT = 32768

#: The most matching rids :meth:`SQLiteCubeRecords.kept_match_rids` keeps for one query (as many as
#: :data:`MATCHES_KEPT`: reading more matching rows costs the background reader more than it saves).
MATCH_RIDS_KEPT = 32768


@dataclass(frozen=True)
class KeptIds:
    """The ids of the cubes matching a query, kept between searches, and the expiry (epoch seconds) of
    those that expire."""

    ids: frozenset[str]
    expiring: Mapping[str, float]

    def live(self, cutoff: float | None) -> Container[str]:
        """The ids live at ``cutoff`` (an epoch; ``None``: all of them)."""
        return self.ids if cutoff is None or not self.expiring else _LiveIds(self, cutoff)


@dataclass(frozen=True)
class _LiveIds:
    """:meth:`KeptIds.live` of ids some of which expire: membership tests each id's expiry."""

    kept: KeptIds
    cutoff: float

    def __contains__(self, cube_id: object) -> bool:
        if cube_id not in self.kept.ids:
            return False
        expires = self.kept.expiring.get(cube_id)  # type: ignore[call-overload]
        return expires is None or expires > self.cutoff


def load_cubes(conn: sqlite3.Connection, rows: list[tuple[str, str]], *,
               with_history: bool = True) -> dict[str, MemCube]:
    """Build cubes (with history unless ``with_history=False``) from ``(id, data)`` rows, by id."""
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


#: The columns a :class:`~langchain_memos.cube.CubeView` is read from (``c`` is ``cubes``). The ``thread``
#: column holds a cube's thread only beside a position; otherwise it comes from the stored provenance, whose JSON
#: is parsed only where it names a ``thread_id`` at all (a byte search; parsing every candidate's cube took ~0.8 ms
#: a search of 70 candidates).
VIEW_COLUMNS = ("c.id, c.content, c.memory_type, c.metadata, c.created_at, c.updated_at, c.valid_from, c.valid_to, "
                "c.position, COALESCE(c.thread, CASE WHEN instr(c.data, '\"thread_id\"') > 0 THEN "
                "(SELECT json_extract(p.value, '$.thread_id') FROM json_each(c.data, '$.provenance') AS p "
                "WHERE json_extract(p.value, '$.thread_id') <> '' LIMIT 1) END)")


@lru_cache(maxsize=8192)
def cube_view(row: tuple[Any, ...]) -> CubeView:
    """The :class:`~langchain_memos.cube.CubeView` of a row of :data:`VIEW_COLUMNS` (times from the epoch columns,
    which hold them to the microsecond).

    Memoised by the row's values (the last 8,192 distinct rows): searches read the same candidates query
    after query. Equal rows give the same view, so its readers must not change it (its metadata included).
    """
    cube_id, content, memory_type, metadata, created, updated, valid_from, valid_to, position, thread = row
    return CubeView(id=cube_id, content=content, memory_type=MemoryType(memory_type), metadata=json.loads(metadata),
                    created_at=from_epoch(created), updated_at=from_epoch(updated), valid_from=from_epoch(valid_from),
                    valid_to=from_epoch(valid_to), thread_id=thread, position=position)


def sorted_unique(values: Any) -> Any:
    """``values`` (a 1-d numpy array) sorted, each value once: as it is where it already is (an ``$eq`` range of the
    metadata index lists its rids in order), else sorted (numpy's ``unique`` hashes: ~1 ms for 10,000 sorted
    rids, against ~6 us to see that they are).

    Example:
        >>> import numpy as np
        >>> sorted_unique(np.array([3, 1, 3, 2])).tolist(), sorted_unique(np.array([1, 2, 5])).tolist()
        ([1, 2, 3], [1, 2, 5])
    """
    import numpy as np

    if len(values) < 2 or bool((values[1:] > values[:-1]).all()):
        return values
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def delete_rows(conn: sqlite3.Connection, rid: int, cube_id: str) -> None:
    """Delete every row of one cube (keyword, metadata fields, history, vector, the cube), in the caller's tx."""
    drop_keyword_row(conn, rid)
    conn.execute("DELETE FROM metadata_fields WHERE rid = ?", (rid,))
    conn.execute("DELETE FROM history WHERE cube_id = ?", (cube_id,))
    drop_vector(conn, cube_id)
    conn.execute("DELETE FROM cubes WHERE rid = ?", (rid,))


class SQLiteCubeRecords(SQLiteConnection):
    """:class:`~langchain_memos.storage.base.CubeRecords` on the engine's connection (a mixin of the record store)."""

    def write(self, cubes: Sequence[MemCube], embeddings: Sequence[Sequence[float] | None],
              keyword_docs: Sequence[KeywordDoc | None], *,
              keyword_updates: Mapping[str, KeywordDoc] | None = None) -> list[str]:
        """Insert or replace cubes (by id) with embeddings and keyword documents, in one transaction.

        Args:
            cubes: The cubes; their ``history`` is stored as given.
            embeddings: One per cube; ``None`` = not vector-indexed.
            keyword_docs: One per cube; its keyword document (columns of
                :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS`, or a string for the
                body), ``None`` = not keyword-indexed.
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
        blobs = embedding_blobs(embeddings)
        try:
            rows = [cube_row(cube, emb if blobs is None else blobs[i], doc, i, checked=blobs is not None)
                    for i, (cube, emb, doc) in enumerate(zip(cubes, embeddings, keyword_docs))]
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"a cube has a field of the wrong type ({type(exc).__name__}: {exc}); "
                                    "build cubes with the types MemCube declares (metadata a dict, numbers "
                                    "for importance/heat, datetimes for times)") from exc
        updates = [(cube_id, keyword_row(doc, f"keyword update of {cube_id}"))
                   for cube_id, doc in (keyword_updates or {}).items()]
        dims = {row["dim"] for row in rows if row["dim"] is not None}
        if len(dims) > 1:
            raise EmbeddingDimensionError(f"one write() got embeddings of dimensions {sorted(dims)}; "
                                          "embed every cube with the same model")
        if not rows and not updates:
            return []

        def tx(conn: sqlite3.Connection) -> list[str]:
            for cube_id, values in updates:
                replace_keywords(conn, cube_id, values)
            if dims:
                check_dim(conn, next(iter(dims)))
            replaced: list[str] = []
            alive: set[str] = set()
            for row in rows:
                for gone in self._write_row(conn, row):
                    alive.discard(gone)
                    replaced.append(gone)
                alive.add(row["cube"]["id"])
            # A cube replaced within this batch and written again later is not "replaced".
            return list(dict.fromkeys(r for r in replaced if r not in alive))

        return self.write_transaction(tx)

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
                delete_rows(conn, rid_, id_)
                replaced.append(id_)
        cols = CUBE_COLUMNS
        if existing is None:
            cur = conn.execute(CUBE_INSERT, [values[c] for c in cols])
            rid = cur.lastrowid
        else:
            rid = existing
            conn.execute(CUBE_UPDATE, [values[c] for c in cols[1:]] + [rid])
            drop_keyword_row(conn, rid)
            conn.execute("DELETE FROM history WHERE cube_id = ?", (values["id"],))
            conn.execute("DELETE FROM metadata_fields WHERE rid = ?", (rid,))
        if row["history"]:
            conn.executemany("INSERT INTO history(cube_id, pos, version, entry) VALUES (?, ?, ?, ?)",
                             [(values["id"], *h) for h in row["history"]])
        if row["vec"] is None:
            if existing is not None:
                drop_vector(conn, values["id"])
        else:
            put_vector(conn, values["id"], row["dim"], row["vec"])
        if row["text"] is not None:
            put_keyword_row(conn, rid, row["text"])
        if row["fields"]:
            conn.executemany(FIELDS_INSERT, [(rid, *f) for f in row["fields"]])
        return replaced

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
                delete_rows(conn, rid, cube_id)
                append_audit(conn, "delete", cube_id, ns, at, actor, reason, detail)
                deleted.append(cube_id)
            return deleted

        return self.write_transaction(tx)

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
                    delete_rows(conn, row[0], cube_id)
                    erased.append(cube_id)
            scrub_audit(conn, wanted, prefixes, actors)
            append_audit(conn, "erase", None, "", at, None, "erase", {"cubes": len(erased)})
            return erased

        with self.write_lock():
            self.without_transaction(lambda conn: conn.execute("PRAGMA secure_delete=ON"))
            try:
                erased = self.write_transaction(tx)
                self.write_transaction(merge_keyword_index)
            finally:
                self.without_transaction(lambda conn: conn.execute("PRAGMA secure_delete=OFF"))
            if not self.in_memory:
                self.without_transaction(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        return erased

    def get(self, ids: Sequence[str]) -> list[MemCube | None]:
        """Cubes by id, in input order (``None`` where missing), with history."""
        if not ids:
            return []

        def tx(conn: sqlite3.Connection) -> dict[str, MemCube]:
            rows = conn.execute("SELECT id, data FROM cubes WHERE id IN (SELECT value FROM json_each(?))",
                                (json_list(ids),)).fetchall()
            return load_cubes(conn, rows)

        found = self.read_transaction(tx)
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
            for start in range(0, len(wanted), MAX_PARAMS):
                part = wanted[start:start + MAX_PARAMS]
                rows.extend(conn.execute(f"SELECT key, id, data FROM cubes WHERE ns = ? AND key IN "
                                         f"({', '.join('?' * len(part))})", (ns, *part)).fetchall())
            by_id = load_cubes(conn, [(r[1], r[2]) for r in rows])
            return {r[0]: by_id[r[1]] for r in rows}

        found = self.read_transaction(tx)
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
            loaded = load_cubes(conn, rows, with_history=with_history)
            return [loaded[r[0]] for r in rows]

        return self.read_transaction(tx)

    def candidates(self, query: CubeQuery) -> list[CubeView]:
        """Views of the cubes matching ``query`` (newest change first), for ranking: read from the row's
        columns (:data:`VIEW_COLUMNS`), without parsing the stored cube."""
        where, params = compile_query(query)
        sql = f"SELECT {VIEW_COLUMNS} FROM cubes AS c WHERE {where}{order_sql('updated_at DESC')}"
        return [cube_view(r) for r in self.read_transaction(lambda conn: conn.execute(sql, params).fetchall())]

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
        return [r[0] for r in self.read_transaction(lambda conn: conn.execute(sql, params).fetchall())]

    def count(self, query: CubeQuery) -> int:
        """How many cubes match ``query``."""
        where, params = compile_query(query)
        return self.read_transaction(lambda conn: conn.execute(
            f"SELECT COUNT(*) FROM cubes AS c WHERE {where}", params).fetchone()[0])

    def match_bound(self, query: CubeQuery, cap: int) -> tuple[int, int]:
        """``(at_most, total)``: a bound on how many cubes match ``query`` from capped index-range counts
        (:func:`~.compiler.bound_statements`), and ``max(rid)``, a bound on all cubes stored.

        Each range read stops after ``min(cap, bound so far) + 1`` entries: past that it cannot tighten the bound.
        The bound is kept for the next call with the same query while the database is unchanged
        (:meth:`~.connection.SQLiteConnection.kept_read`).
        """
        statements = bound_statements(query)

        def tx(conn: sqlite3.Connection) -> tuple[int, int]:
            total = conn.execute("SELECT max(rid) FROM cubes").fetchone()[0] or 0
            at_most = total if query.ids is None else min(total, len(query.ids))
            for sql, params in statements:
                limit = min(int(cap), at_most)
                n = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, limit + 1]).fetchone()[0]
                if n <= limit:  # the whole range was read: a bound
                    at_most = n
            return at_most, total

        return self.kept_read(("match_bound", int(cap), -1 if query.ids is None else len(query.ids),
                               *(x for sql, params in statements for x in (sql, *params))), tx)

    def kept_matches(self, query: CubeQuery) -> Container[str] | None:
        """The ids of every cube matching ``query``, when this store keeps them: once a background read of them
        has finished while the database is unchanged (:meth:`~.connection.SQLiteConnection.kept_in_background`;
        the first call starts it), for at most :data:`MATCHES_KEPT` matches and no ``ids`` or
        ``cube_conditions``; ``None`` otherwise.

        The ids are kept with the expiry of those that expire, and the time passing is applied to them.
        """
        if query.ids is not None or query.cube_conditions:  # (those may test access counts)
            return None
        where, params = compile_query(replace(query, include_expired=True, now=None))  # expiry: applied below
        sql = f"SELECT c.id, c.expires_at FROM cubes AS c WHERE {where} LIMIT ?"

        def read(conn: sqlite3.Connection) -> KeptIds | None:
            rows = conn.execute(sql, [*params, MATCHES_KEPT + 1]).fetchall()
            if len(rows) > MATCHES_KEPT:
                return None
            return KeptIds(frozenset(r[0] for r in rows), {r[0]: r[1] for r in rows if r[1] is not None})

        kept = self.kept_in_background(("kept_matches", where, *params), read, keep=lambda value: value is not None)
        return None if kept is None else kept.live(expiry_cutoff(query))

    def kept_match_rids(self, query: CubeQuery) -> Any | None:
        """The rids (a sorted numpy int64 array) of every cube matching ``query``, when this store keeps them: once
        a background read of them has finished while the database is unchanged
        (:meth:`~.connection.SQLiteConnection.kept_in_background`; the first call starts it), for at most
        :data:`MATCH_RIDS_KEPT` matches, none of which expires (the time passing would change them), and no
        ``ids`` or ``cube_conditions``; ``None`` otherwise. The same array is given while the database is
        unchanged.

        Cheaper to read and to keep than :meth:`kept_matches` (the rids come as one text from SQLite), for an
        index that searches by rids. Not read where the query's conditions alone pass more cubes than the cap
        (:meth:`condition_rids`): the read would visit every one of their rows (a second per filter at 1M
        cubes) only to be refused, while the searches wait for the disk beside it.
        """
        if query.ids is not None or query.cube_conditions:  # (those may test access counts)
            return None
        passing = self.condition_rids(query) if query.conditions else None
        if passing is not None and len(passing) > MATCH_RIDS_KEPT:
            return None
        where, params = compile_query(replace(query, include_expired=True, now=None))  # expiring cubes: refused
        sql = (f"SELECT group_concat(rid), max(expires_at IS NOT NULL), count(*) FROM "
               f"(SELECT c.rid, c.expires_at FROM cubes AS c WHERE {where} LIMIT ?)")

        def read(conn: sqlite3.Connection) -> Any | None:
            import numpy as np

            listed, expiring, count = conn.execute(sql, [*params, MATCH_RIDS_KEPT + 1]).fetchone()
            if expiring or count > MATCH_RIDS_KEPT:
                return None
            return sorted_unique(np.fromstring(listed or "", dtype=np.int64, sep=","))

        return self.kept_in_background(("kept_match_rids", where, *params), read, keep=lambda value: value is not None)

    def condition_rids(self, query: CubeQuery) -> Any | None:
        """The rids (a sorted numpy int64 array) of every cube whose metadata passes each of ``query``'s
        conditions, read from the ``metadata_fields`` index alone and kept while the database is unchanged
        (:meth:`~.connection.SQLiteConnection.kept_read`). Scope, status and expiry are not applied: the
        cubes :meth:`query_ids` gives are among them. ``None`` for a query without conditions, with ``ids``
        or ``cube_conditions``, or with a condition on a nested path or a negated operator (``$ne``, ``$nin``).
        """
        conditions = query.conditions
        if (not conditions or query.ids is not None or query.cube_conditions
                or any(len(c.path) != 1 or c.op in ("$ne", "$nin") for c in conditions)):
            return None
        statements = [filter_rids_sql(c) for c in conditions]

        def read(conn: sqlite3.Connection) -> Any:
            import numpy as np

            found: Any = None
            for sql, params in statements:  # one text per range, parsed by numpy: a third of the time of rows
                listed = conn.execute(f"SELECT group_concat(rid) FROM ({sql})", params).fetchone()[0]
                rids = sorted_unique(np.fromstring(listed or "", dtype=np.int64, sep=","))
                found = rids if found is None else np.intersect1d(found, rids, assume_unique=True)
            return found

        return self.kept_read(("condition_rids", *(x for sql, params in statements for x in (sql, *params))), read)

    def distinct_metadata(self, query: CubeQuery, field: str, limit: int = 100) -> list[Any]:
        """Distinct scalar values of the top-level metadata ``field`` among cubes matching ``query``.

        A namespace of at most :data:`SMALL_SCOPE` cubes is walked cube by cube (its ``(ns, key)``
        index range, then each cube's ``field`` row); otherwise the ``field`` rows of the whole store
        are walked (the ``metadata_fields`` key index), so cubes without the field are never visited.
        The first ``4 * limit`` values are kept while the database is unchanged (:meth:`kept_read`;
        not for a query with ``cube_conditions``), each with the time its last cube expires, so the
        time passing is applied to kept values too.
        """
        where, params = compile_query(replace(query, include_expired=True, now=None))  # expiry: applied below
        cutoff = expiry_cutoff(query)
        until = "max(c.expires_at IS NULL), max(c.expires_at)"  # live while one cube never expires or expires later
        by_field = (f"SELECT f.atom, {until} FROM metadata_fields AS f JOIN cubes AS c ON c.rid = f.rid "
                    f"WHERE f.key = ? AND {where} GROUP BY f.atom ORDER BY f.atom LIMIT ?")
        by_cube = (f"SELECT f.atom, {until} FROM cubes AS c CROSS JOIN metadata_fields AS f "
                   f"ON f.rid = c.rid AND f.key = ? WHERE {where} GROUP BY f.atom ORDER BY f.atom LIMIT ?")
        counting = small_scope_sql(query, SMALL_SCOPE)
        cap = 4 * max(int(limit), 1)

        def read(at_most: int) -> Callable[[sqlite3.Connection], list[tuple[Any, int, float | None]]]:
            def tx(conn: sqlite3.Connection) -> list[tuple[Any, int, float | None]]:
                # one index probe answers the common case (no cube has the field) without compiling the filters
                if conn.execute("SELECT 1 FROM metadata_fields WHERE key = ? LIMIT 1", (field,)).fetchone() is None:
                    return []
                small = counting is not None and conn.execute(*counting).fetchone()[0] <= SMALL_SCOPE
                return conn.execute(by_cube if small else by_field, [field, *params, at_most]).fetchall()
            return tx

        def live(rows: list[tuple[Any, int, float | None]]) -> list[Any]:
            return [atom for atom, forever, last in rows if cutoff is None or forever or last > cutoff]

        if query.cube_conditions:
            rows = self.read_transaction(read(cap))
        else:
            rows = self.kept_read(("distinct_metadata", field, where, *params, cap), read(cap))
        values = live(rows)
        if len(values) < limit and len(rows) == cap:  # expired values hid live ones past the first cap: read all
            values = live(self.read_transaction(read(-1)))
        return values[: max(int(limit), 0)]

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Distinct namespaces (sorted) that start with ``prefix`` and hold a cube that has not expired."""
        where, params = prefix_sql("ns", tuple(prefix))
        live = "(expires_at IS NULL OR expires_at > ?) AND status != ?"
        rows = self.read_transaction(lambda conn: conn.execute(
            f"SELECT DISTINCT ns FROM cubes WHERE {where} AND {live}",
            [*params, utcnow().timestamp(), Status.EXPIRED.value]).fetchall())
        return sorted(ns_from_key(r[0]) for r in rows)


__all__ = ["MATCHES_KEPT", "MATCH_RIDS_KEPT", "VIEW_COLUMNS", "KeptIds", "SQLiteCubeRecords", "cube_view", "delete_rows", "load_cubes",
           "sorted_unique"]
