"""The pure query compiler of the SQLite engine: structural queries, filters and keyword terms to SQL.

Nothing here touches a database: every function maps its arguments to a SQL
fragment and the list of values bound to its ``?`` placeholders, so the same
inputs always give the same statement. Every user value (filter keys, values,
namespace labels, search words) is a bound parameter or a quoted FTS5 string;
user text is never formatted into SQL.

Metadata filters have exactly the semantics of :func:`langchain_memos.filters.matches`
(one known gap: a string containing a NUL character cannot be compared by a
filter). Conditions on a top-level field run on ``metadata_fields`` (an indexed
copy of each cube's top-level scalar metadata); nested paths compile to
``json_each`` lookups.

Example:
    >>> from langchain_memos.storage.base import CubeQuery
    >>> sql, params = compile_query(CubeQuery(include_expired=True))
    >>> sql, params
    ('(c.status != ?)', ['expired'])
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from ...cube import MemoryType, Status, Tier, to_utc, utcnow
from ...errors import InvalidInputError
from ...filters import Condition
from ..base import CUBE_FILTER_FIELDS, KEYWORD_COLUMNS, NS_SEP, CubeQuery, ns_key
from .values import epoch, json_list

#: ``order_by`` values :meth:`SQLiteRecordStore.query` accepts, and their SQL (ties broken by id).
ORDERINGS: dict[str, str] = {
    "updated_at DESC": "c.updated_at DESC, c.id ASC",
    "created_at ASC": "c.created_at ASC, c.id ASC",
    "created_at DESC": "c.created_at DESC, c.id ASC",
    "heat DESC": "c.heat DESC, c.id ASC",
    "key ASC": "c.key ASC, c.id ASC",
    "ns ASC, key ASC": "c.ns ASC, c.key ASC, c.id ASC",
}

#: Most distinct terms one keyword query uses.
MAX_QUERY_TERMS = 64

_WORD = re.compile(r"\w+", re.UNICODE)


def prefix_sql(column: str, prefix: Sequence[str], exact: bool = False) -> tuple[str, list[Any]]:
    """An index-friendly SQL condition for "namespace starts with ``prefix``" (``exact``: equals it).

    Example:
        >>> prefix_sql("ns", ("a",))
        ('(ns = ? OR (ns >= ? AND ns < ?))', ['a', 'a\\x1f', 'a '])
    """
    key = ns_key(prefix)
    if exact:
        return f"{column} = ?", [key]
    if not prefix:
        return "1", []
    # Every extension of `key` lies in [key + NS_SEP, key + chr(ord(NS_SEP) + 1)).
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [key, key + NS_SEP, key + chr(ord(NS_SEP) + 1)]


def fts_match(terms: Sequence[str]) -> str | None:
    """Turn plain words into a safe FTS5 query: each word quoted, joined by OR.

    Args:
        terms: Words chosen by query analysis (quotes, FTS5 operators and SQL in them are inert).

    Returns:
        The FTS5 ``MATCH`` expression, or ``None`` when no searchable term remains.

    Example:
        >>> fts_match(["alice", 'say"', "NEAR(tea)"])
        '"alice" OR "say" OR "near" OR "tea"'
    """
    words = fts_words(terms)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def fts_words(terms: Sequence[str]) -> list[str]:
    """The distinct lowercase words of ``terms`` that a keyword search looks for (at most ``MAX_QUERY_TERMS``).

    Example:
        >>> fts_words(["Alice", 'say"', "NEAR(tea) alice"])
        ['alice', 'say', 'near', 'tea']
    """
    words: list[str] = []
    for term in terms:
        for word in _WORD.findall(str(term).lower()):
            if word not in words:
                words.append(word)
    return words[:MAX_QUERY_TERMS]


# --------------------------------------------------------------------------- filters
def _leaf_predicate(cond: Condition, leaf: str) -> tuple[str, list[Any]]:
    """The SQL test of one condition on a ``json_each`` row (or a ``metadata_fields`` row) aliased ``leaf``."""
    op = cond.op
    if op in ("$eq", "$ne"):
        return _eq_sql(leaf, cond.value)
    if op in ("$in", "$nin"):
        return _in_sql(leaf, cond.value)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _ordered_sql(leaf, op, cond.value)
    raise InvalidInputError(f"unknown filter operator {op!r}; use one of $eq $ne $gt $gte $lt $lte $in $nin")


def _condition_sql(cond: Condition, source: str, rid: str | None = None,
                   correlated: bool = False, listed: str | None = None) -> tuple[str, list[Any]]:
    """Compile one metadata condition to SQL over the JSON column ``source``.

    A top-level path with ``rid`` (the SQL expression of the cube's rid) becomes
    ``rid [NOT] IN (SELECT rid FROM metadata_fields WHERE key = ? AND ...)``, an
    index lookup (``listed``: the name of a temp table already holding that list,
    tested instead); with ``correlated`` (the query lists a few ids) it is
    ``[NOT] EXISTS`` on ``(rid, key)`` instead, one primary-key probe per row
    rather than a list of every matching rid. Other conditions walk the path with
    nested ``json_each``. Either way every key, whatever it contains, is a bound
    parameter, and a missing path matches no row, which gives
    :func:`~langchain_memos.filters.matches` semantics for every operator
    (``$ne``/``$nin`` are the negation).
    """
    if not cond.path:
        raise InvalidInputError("a filter condition needs a non-empty path")
    if rid is not None and len(cond.path) == 1:
        negate = "NOT " if cond.op in ("$ne", "$nin") else ""
        if correlated:
            pred, pparams = _leaf_predicate(cond, "f")
            return (f"{negate}EXISTS (SELECT 1 FROM metadata_fields AS f WHERE f.rid = {rid} AND f.key = ? "
                    f"AND ({pred}))", [cond.path[0], *pparams])
        rids, params = (f"SELECT rid FROM temp.{listed}", []) if listed else filter_rids_sql(cond)
        return f"{rid} {negate}IN ({rids})", params
    joins: list[str] = []
    wheres: list[str] = []
    params: list[Any] = []
    parent = source
    for depth, part in enumerate(cond.path):
        alias = f"j{depth}"
        if depth == 0:
            joins.append(f"json_each({parent}) AS {alias}")
        else:
            # Only descend into objects (json_each over a scalar's text would be malformed JSON).
            prev = f"j{depth - 1}"
            joins.append(f"json_each(CASE WHEN {prev}.type = 'object' THEN {prev}.value ELSE '{{}}' END) AS {alias}")
        wheres.append(f"{alias}.key = ?")
        params.append(part)
    leaf = f"j{len(cond.path) - 1}"
    pred, pparams = _leaf_predicate(cond, leaf)
    exists = f"EXISTS (SELECT 1 FROM {', '.join(joins)} WHERE {' AND '.join(wheres)} AND ({pred}))"
    if cond.op in ("$ne", "$nin"):
        return f"NOT {exists}", params + pparams
    return exists, params + pparams


def filter_rids_sql(cond: Condition) -> tuple[str, list[Any]]:
    """The rids whose top-level metadata field passes ``cond`` before its negation (``$ne``/``$nin`` keep
    the rest): the list a rid is tested against, one ``metadata_fields`` index range.

    Example:
        >>> filter_rids_sql(Condition(("kind",), "$ne", "x"))[1]
        ['kind', 'x']
    """
    pred, pparams = _leaf_predicate(cond, "f")
    return f"SELECT f.rid FROM metadata_fields AS f WHERE f.key = ? AND ({pred})", [cond.path[0], *pparams]


def filter_key(cond: Condition) -> tuple[Any, ...]:
    """A key that tells apart conditions whose SQL differs (``1``, ``1.0`` and ``True`` are equal in Python).

    Example:
        >>> filter_key(Condition(("n",), "$eq", 1)) != filter_key(Condition(("n",), "$eq", True))
        True
    """
    return cond.path, cond.op, repr(cond.value)


def _sql_number(value: int | float) -> int | float:
    """Bind ints beyond SQLite's 64-bit range as floats (SQLite stores them that way too)."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def _eq_sql(leaf: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return f"{leaf}.type = 'null'", []
    if isinstance(value, bool):
        return f"{leaf}.type = '{'true' if value else 'false'}'", []
    if isinstance(value, (int, float)):
        return f"{leaf}.type IN ('integer', 'real') AND {leaf}.atom = ?", [_sql_number(value)]
    if isinstance(value, str):
        return f"{leaf}.type = 'text' AND {leaf}.atom = ?", [value]
    raise InvalidInputError(f"filter value {value!r} must be a JSON scalar (str, number, bool or None)")


def _in_sql(leaf: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInputError(f"$in/$nin take a list of values, got {values!r}")
    parts: list[str] = []
    params: list[Any] = []
    for value in values:
        sql, p = _eq_sql(leaf, value)
        parts.append(f"({sql})")
        params.extend(p)
    return (" OR ".join(parts) if parts else "0"), params


_ORDERED = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _ordered_sql(leaf: str, op: str, value: Any) -> tuple[str, list[Any]]:
    sym = _ORDERED[op]
    if isinstance(value, bool) or value is None:
        return "0", []  # ordered operators only compare numbers with numbers and strings with strings
    if isinstance(value, (int, float)):
        return f"{leaf}.type IN ('integer', 'real') AND {leaf}.atom {sym} ?", [_sql_number(value)]
    if isinstance(value, str):
        return f"{leaf}.type = 'text' AND {leaf}.atom {sym} ?", [value]
    raise InvalidInputError(f"filter value {value!r} must be a JSON scalar (str, number, bool or None)")


_TIME_COLUMNS = frozenset({"created_at", "updated_at", "last_accessed_at", "valid_from", "valid_to", "expires_at"})
_SQL_OPS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _cube_condition_sql(cond: Condition, alias: str) -> tuple[str, list[Any]]:
    """Compile a condition on a cube column (whitelisted by ``CUBE_FILTER_FIELDS``)."""
    if len(cond.path) != 1 or cond.path[0] not in CUBE_FILTER_FIELDS:
        raise InvalidInputError(f"cannot filter on cube field {'.'.join(cond.path)!r}; "
                                f"use one of {', '.join(sorted(CUBE_FILTER_FIELDS))}")
    column = f"{alias}.{cond.path[0]}"

    def value(v: Any) -> Any:
        if cond.path[0] in _TIME_COLUMNS and v is not None:
            return epoch(to_utc(v))
        return v.value if hasattr(v, "value") else v

    if cond.op in ("$in", "$nin"):
        values = [value(v) for v in cond.value]
        sql = f"{column} IN (SELECT value FROM json_each(?))"
        return (sql if cond.op == "$in" else f"({column} IS NULL OR NOT {sql})"), [json_list(values)]
    if cond.value is None:
        return (f"{column} IS NULL" if cond.op == "$eq" else f"{column} IS NOT NULL"), []
    if cond.op == "$ne":
        return f"({column} IS NULL OR {column} != ?)", [value(cond.value)]
    return f"{column} {_SQL_OPS[cond.op]} ?", [value(cond.value)]


def expiry_cutoff(query: CubeQuery) -> float | None:
    """The epoch a cube matching ``query`` must expire after (``None`` with ``include_expired``): reads kept
    past the moment they were made leave expiry out of their statement and apply this to what they keep.

    Example:
        >>> from datetime import datetime, timezone
        >>> expiry_cutoff(CubeQuery(now=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        1704067200.0
        >>> expiry_cutoff(CubeQuery(include_expired=True)) is None
        True
    """
    return None if query.include_expired else epoch(query.now or utcnow())


def compile_query(query: CubeQuery, alias: str = "c", rid: str | None = None) -> tuple[str, list[Any]]:
    """Compile a :class:`CubeQuery` to a parameterised SQL ``WHERE`` clause over ``cubes AS alias``.

    Args:
        query: The structural query.
        alias: The alias of the ``cubes`` table in the statement.
        rid: The SQL expression metadata conditions test the rid on (default
            ``alias.rid``); e.g. ``"+fts.rowid"`` lets a keyword search drop
            non-matching rows before it joins ``cubes``.

    Returns:
        ``(sql, params)``; ``sql`` is ``"1"`` when nothing narrows the result.
    """
    a = alias
    rid = rid or f"{a}.rid"
    clauses: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        clauses.append(sql)
        params.extend(values)

    if query.namespace_prefix or query.exact_namespace:
        sql, p = prefix_sql(f"{a}.ns", query.namespace_prefix, query.exact_namespace)
        add(sql, *p)
    if query.ids is not None:
        add(f"{a}.id IN (SELECT value FROM json_each(?))", json_list(query.ids))
    if query.tiers is not None:
        # within a namespace the (ns, key) index drives the statement: "+" keeps SQLite (which has no
        # statistics) from scanning the tier index instead, a few distinct values over the whole store
        unindexed = "+" if query.namespace_prefix or query.exact_namespace else ""
        add(f"{unindexed}{a}.tier IN (SELECT value FROM json_each(?))", json_list(Tier(t) for t in query.tiers))
    if query.types is not None:
        add(f"{a}.memory_type IN (SELECT value FROM json_each(?))",
            json_list(MemoryType(t) for t in query.types))
    if query.statuses is None:
        add(f"{a}.status != ?", Status.EXPIRED.value)
    else:
        add(f"{a}.status IN (SELECT value FROM json_each(?))", json_list(Status(s) for s in query.statuses))
    if query.created_after is not None:
        add(f"{a}.created_at >= ?", epoch(query.created_after))
    if query.created_before is not None:
        add(f"{a}.created_at < ?", epoch(query.created_before))
    if query.valid_at is not None:
        t = epoch(query.valid_at)
        add(f"({a}.valid_from IS NULL OR {a}.valid_from <= ?) AND ({a}.valid_to IS NULL OR {a}.valid_to > ?)", t, t)
    if not query.include_expired:
        add(f"({a}.expires_at IS NULL OR {a}.expires_at > ?)", expiry_cutoff(query))
    if query.reader is not None:
        add(f"({a}.owner IS NULL OR {a}.owner = ? OR EXISTS (SELECT 1 FROM json_each({a}.readers) AS r "
            "WHERE r.value = ? OR r.value = '*'))", query.reader, query.reader)
    for cond in query.conditions:
        sql, p = _condition_sql(cond, f"{a}.metadata", rid, correlated=query.ids is not None)
        add(sql, *p)
    for cond in query.cube_conditions:
        sql, p = _cube_condition_sql(cond, a)
        add(sql, *p)
    return (" AND ".join(f"({c})" for c in clauses) if clauses else "1"), params


def bound_statements(query: CubeQuery) -> list[tuple[str, list[Any]]]:
    """Index-range reads whose row counts each bound how many cubes match ``query``.

    One ``SELECT 1`` per narrowing the indexes can count: each top-level ``$eq``/``$in``
    metadata condition (the ``metadata_fields`` value index; every matching cube has a
    row there; 16 bytes an entry), then the namespace range (the ``(ns, key)`` index).
    The caller counts each, capped (``SELECT count(*) FROM (stmt LIMIT ?)``).

    Example:
        >>> from langchain_memos.filters import Condition
        >>> [sql for sql, _ in bound_statements(CubeQuery(conditions=(Condition(("kind",), "$eq", "a"),)))]
        ["SELECT 1 FROM metadata_fields AS f WHERE f.key = ? AND (f.type = 'text' AND f.atom = ?)"]
    """
    statements: list[tuple[str, list[Any]]] = []
    for cond in query.conditions:
        if len(cond.path) == 1 and cond.op in ("$eq", "$in"):
            pred, params = _leaf_predicate(cond, "f")
            statements.append((f"SELECT 1 FROM metadata_fields AS f WHERE f.key = ? AND ({pred})",
                               [cond.path[0], *params]))
    if query.namespace_prefix or query.exact_namespace:
        sql, params = prefix_sql("ns", query.namespace_prefix, query.exact_namespace)
        statements.append((f"SELECT 1 FROM cubes WHERE {sql}", params))
    return statements


# --------------------------------------------------------------------------- orderings and pages
def order_sql(order_by: str | None, *, allow_none: bool = False) -> str:
    """The ``ORDER BY`` clause (with its leading space) of one of :data:`ORDERINGS`.

    Args:
        order_by: A key of :data:`ORDERINGS`, or ``None`` for storage order when ``allow_none``.
        allow_none: Whether ``None`` (no ordering, an empty clause) is accepted.

    Raises:
        InvalidInputError: ``order_by`` is not one of :data:`ORDERINGS`.

    Example:
        >>> order_sql("heat DESC")
        ' ORDER BY c.heat DESC, c.id ASC'
    """
    if order_by is None and allow_none:
        return ""
    if order_by not in ORDERINGS:
        choices = ("None or " if allow_none else "") + f"one of {', '.join(ORDERINGS)}"
        raise InvalidInputError(f"order_by {order_by!r} is not supported; use {choices}")
    return f" ORDER BY {ORDERINGS[order_by]}"


def page_params(limit: int | None, offset: int) -> list[int]:
    """The values of ``LIMIT ? OFFSET ?`` (``None`` = no limit).

    Raises:
        InvalidInputError: A negative limit or offset.

    Example:
        >>> page_params(None, 5)
        [-1, 5]
    """
    if (limit is not None and limit < 0) or offset < 0:
        raise InvalidInputError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")
    return [-1 if limit is None else int(limit), int(offset)]


# --------------------------------------------------------------------------- keyword search
def bm25_weights(column_weights: Sequence[float] | None) -> tuple[float, ...]:
    """BM25 weights of :data:`~langchain_memos.storage.base.KEYWORD_COLUMNS` (default: all 1.0).

    Raises:
        InvalidInputError: Not one finite number per keyword column.

    Example:
        >>> bm25_weights(None)
        (1.0, 1.0, 1.0, 1.0)
    """
    weights = tuple(float(w) for w in (column_weights or (1.0,) * len(KEYWORD_COLUMNS)))
    if len(weights) != len(KEYWORD_COLUMNS) or not all(math.isfinite(w) for w in weights):
        raise InvalidInputError(f"column_weights needs {len(KEYWORD_COLUMNS)} finite numbers for {KEYWORD_COLUMNS}")
    return weights


def keyword_search_sql(match: str, query: CubeQuery, k: int,
                       weights: Sequence[float]) -> tuple[str, list[Any]]:
    """The BM25 search statement: ids and scores (``-bm25``, larger is better) of the best ``k`` matches.

    Args:
        match: An FTS5 expression from :func:`fts_match`.
        query: Restricts the cubes searched.
        k: How many rows.
        weights: From :func:`bm25_weights`.

    Returns:
        ``(sql, params)``.
    """
    # metadata conditions test fts.rowid (= c.rid; "+" keeps FTS5 from taking it as a rowid
    # constraint), so rows failing a filter are dropped before the cubes join and bm25
    where, params = compile_query(query, rid="+fts.rowid")
    bm25 = f"bm25(fts, {', '.join('?' * len(weights))})"
    sql = (f"SELECT c.id, -{bm25} AS score FROM fts JOIN cubes AS c ON c.rid = fts.rowid "
           f"WHERE fts MATCH ? AND {where} ORDER BY score DESC, c.id ASC LIMIT ?")
    return sql, [*weights, match, *params, int(k)]


#: Namespaces of at most this many cubes are read through their own rows (see :func:`small_scope_sql`).
SMALL_SCOPE = 4096


def small_scope_sql(query: CubeQuery, small: int = SMALL_SCOPE) -> tuple[str, list[Any]] | None:
    """The statement that counts the cubes of ``query``'s namespace range, stopping past ``small`` (one
    index range read); ``None`` when ``query`` has no namespace. At most ``small``: a small scope.

    Example:
        >>> small_scope_sql(CubeQuery(namespace_prefix=("a",), exact_namespace=True), 10)
        ('SELECT count(*) FROM (SELECT 1 FROM cubes WHERE ns = ? LIMIT ?)', ['a', 11])
    """
    if not (query.namespace_prefix or query.exact_namespace):
        return None
    where, params = prefix_sql("ns", query.namespace_prefix, query.exact_namespace)
    return f"SELECT count(*) FROM (SELECT 1 FROM cubes WHERE {where} LIMIT ?)", [*params, int(small) + 1]


def keyword_head_sql(match: str, query: CubeQuery, head: int, weights: Sequence[float],
                     scope_rowids: bool = False, kept: Mapping[tuple[Any, ...], str] | None = None,
                     ) -> tuple[str, list[Any]]:
    """The head of a BM25 search: the best ``head`` matches by the keyword index's side of ``query`` alone.

    Top-level metadata conditions test ``fts.rowid`` (the ``metadata_fields`` index), and so does
    the namespace with ``scope_rowids`` (the rids of its ``(ns, key)`` index range: for a small
    scope), so only the rows they keep are scored; the rest of ``query`` (status, expiry,
    nested paths, the namespace otherwise) is tested on the ``head`` rows only, and only ``head``
    cubes are joined. Each row is ``(id, score, passes)``: ``id`` is ``NULL`` for a keyword row without a
    cube, ``passes`` whether the cube matches all of ``query``. Ties at the ``head``-th
    score are cut arbitrarily; :func:`head_answer` says whether the head settles the search.

    Args:
        match: An FTS5 expression from :func:`fts_match`.
        query: Restricts the cubes searched (its ``ids`` must be ``None``).
        head: How many keyword rows to score into the head.
        weights: From :func:`bm25_weights`.
        scope_rowids: Test the namespace on ``fts.rowid`` (worth it for a small scope only: its
            rids are listed once per search).
        kept: :func:`filter_key` -> the name of a temp table holding that condition's
            :func:`filter_rids_sql` rows as they are now (``rid INTEGER PRIMARY KEY``), tested instead
            of listing them again.

    Returns:
        ``(sql, params)``.
    """
    inner = [_condition_sql(c, "c.metadata", "+fts.rowid", listed=(kept or {}).get(filter_key(c)))
             for c in query.conditions if len(c.path) == 1]
    rest_query = replace(query, conditions=tuple(c for c in query.conditions if len(c.path) != 1))
    if scope_rowids and (query.namespace_prefix or query.exact_namespace):
        ns, ns_params = prefix_sql("s.ns", query.namespace_prefix, query.exact_namespace)
        inner.append((f"+fts.rowid IN (SELECT s.rid FROM cubes AS s WHERE {ns})", ns_params))
        rest_query = replace(rest_query, namespace_prefix=(), exact_namespace=False)
    rest, rest_params = compile_query(rest_query)
    bm25 = f"bm25(fts, {', '.join('?' * len(weights))})"
    sql = (f"SELECT c.id, h.score, c.rid IS NOT NULL AND {rest} FROM "
           f"(SELECT fts.rowid AS rid, -{bm25} AS score FROM fts WHERE fts MATCH ?"
           f"{''.join(f' AND ({pred})' for pred, _ in inner)} ORDER BY score DESC LIMIT ?) AS h "
           "LEFT JOIN cubes AS c ON c.rid = h.rid")
    return sql, [*rest_params, *weights, match, *(v for _, p in inner for v in p), int(head)]


def head_answer(rows: Sequence[tuple[Any, float, Any]], head: int, k: int) -> list[tuple[str, float]] | None:
    """The best ``k`` ``(id, score)`` of the whole search from the rows of :func:`keyword_head_sql`, or ``None``
    when the head cannot tell them.

    The head settles the search when it is not full (it holds every match), or when ``k`` of
    its rows pass and the ``k``-th passing score is above the head's lowest score (every row
    at or above it is then in the head). Order: score descending, then id, as
    :func:`keyword_search_sql`.

    Example:
        >>> head_answer([("a", 3.0, 1), ("b", 2.0, 0), ("c", 1.0, 1)], head=3, k=1)
        [('a', 3.0)]
        >>> head_answer([("a", 3.0, 0), ("b", 2.0, 0), ("c", 1.0, 1)], head=3, k=1) is None
        True
    """
    passed = sorted(((-score, cube_id) for cube_id, score, ok in rows if ok))[:k]
    if len(rows) >= head and (len(passed) < k or -passed[-1][0] <= min(score for _, score, _ in rows)):
        return None
    return [(cube_id, -negative) for negative, cube_id in passed]


__all__ = [
    "MAX_QUERY_TERMS",
    "ORDERINGS",
    "SMALL_SCOPE",
    "bm25_weights",
    "compile_query",
    "expiry_cutoff",
    "filter_key",
    "filter_rids_sql",
    "fts_match",
    "head_answer",
    "keyword_head_sql",
    "keyword_search_sql",
    "order_sql",
    "page_params",
    "prefix_sql",
    "small_scope_sql",
]
