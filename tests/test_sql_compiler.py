"""Unit tests of the SQLite engine's pure query compiler (``langchain_memos.storage.sqlite.compiler``).

No record store is opened: each case checks the SQL fragment and bound values a
function returns, and where semantics matter, evaluates the fragment on a bare
in-memory ``sqlite3`` table built for the case.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from langchain_memos.cube import MemoryType, Status, Tier
from langchain_memos.errors import InvalidInputError
from langchain_memos.filters import Condition
from langchain_memos.storage.base import KEYWORD_COLUMNS, NS_SEP, CubeQuery, ns_key
from langchain_memos.storage.sqlite import compiler
from langchain_memos.storage.sqlite.compiler import (
    MAX_QUERY_TERMS,
    ORDERINGS,
    bm25_weights,
    compile_query,
    fts_match,
    keyword_search_sql,
    order_sql,
    page_params,
    prefix_sql,
)

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _matching(sql: str, params: list, rows: list[tuple[str, str]]) -> list[str]:
    """Ids of ``(id, ns)`` rows an ``ns`` condition selects, on a throwaway table."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT, ns TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    return [r[0] for r in conn.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id", params)]


def test_prefix_sql_selects_the_namespace_and_its_descendants_only():
    rows = [("root", ns_key(("a",))), ("child", ns_key(("a", "b"))), ("sibling", ns_key(("ab",))),
            ("other", ns_key(("b",))), ("deep", ns_key(("a", "b", "c")))]
    assert _matching(*prefix_sql("ns", ("a",)), rows) == ["child", "deep", "root"]
    assert _matching(*prefix_sql("ns", ("a", "b")), rows) == ["child", "deep"]
    assert _matching(*prefix_sql("ns", ("a",), exact=True), rows) == ["root"]
    assert prefix_sql("ns", ()) == ("1", [])


def test_prefix_sql_binds_labels_as_values():
    sql, params = prefix_sql("ns", ("x'); DROP TABLE t; --",))
    assert "DROP" not in sql
    assert params[0] == "x'); DROP TABLE t; --" and params[1].endswith(NS_SEP)


def test_fts_match_quotes_lowercases_dedupes_and_caps_terms():
    assert fts_match(["Alice", "alice", 'say "hi"']) == '"alice" OR "say" OR "hi"'
    assert fts_match(["", "  ", "!!"]) is None
    assert fts_match([]) is None
    many = fts_match([f"w{i}" for i in range(MAX_QUERY_TERMS + 10)])
    assert many is not None and many.count(" OR ") == MAX_QUERY_TERMS - 1


def test_compile_query_empty_query_hides_expired_cubes_only():
    sql, params = compile_query(CubeQuery(now=T0))
    assert sql == "(c.status != ?) AND ((c.expires_at IS NULL OR c.expires_at > ?))"
    assert params == [Status.EXPIRED.value, T0.timestamp()]
    assert compile_query(CubeQuery(include_expired=True, statuses=frozenset(Status)))[0].count("json_each") == 1


def test_compile_query_binds_every_field_in_order():
    query = CubeQuery(namespace_prefix=("u",), ids=frozenset({"x"}), tiers=frozenset({Tier.WORKING}),
                      types=frozenset({MemoryType.FACT}), statuses=frozenset({Status.ARCHIVED}),
                      created_after=T0, created_before=T0, valid_at=T0, reader="bob", now=T0)
    sql, params = compile_query(query, alias="q")
    assert sql.count("?") == len(params)
    assert "q.ns" in sql and "c." not in sql
    assert params[:3] == ["u", "u" + NS_SEP, "u" + chr(ord(NS_SEP) + 1)]
    assert json.loads(params[3]) == ["x"]
    assert json.loads(params[4]) == [Tier.WORKING.value]
    assert json.loads(params[5]) == [MemoryType.FACT.value]
    assert json.loads(params[6]) == [Status.ARCHIVED.value]
    assert params[7:12] == [T0.timestamp()] * 5
    assert params[12:] == ["bob", "bob"]


def test_metadata_conditions_use_the_field_index_or_json_paths():
    top = CubeQuery(conditions=(Condition(("city",), "$eq", "Oslo"),), include_expired=True)
    sql, params = compile_query(top)
    assert "c.rid IN (SELECT f.rid FROM metadata_fields" in sql and params[-2:] == ["city", "Oslo"]
    correlated = compile_query(CubeQuery(ids=frozenset({"a"}), conditions=top.conditions, include_expired=True))[0]
    assert "EXISTS (SELECT 1 FROM metadata_fields AS f WHERE f.rid = c.rid" in correlated
    keyword_rid = compile_query(top, rid="+fts.rowid")[0]
    assert "+fts.rowid IN" in keyword_rid
    nested = compile_query(CubeQuery(conditions=(Condition(("a", "b"), "$ne", 1),), include_expired=True))
    assert nested[0].count("json_each") == 2 and nested[0].split(" AND ")[1].startswith("(NOT EXISTS")
    assert nested[1][-3:] == ["a", "b", 1]


def test_metadata_condition_values_never_reach_the_sql_text():
    key, value = "k'; DROP TABLE cubes; --", "v' OR 1=1 --"
    sql, params = compile_query(CubeQuery(conditions=(Condition((key, "x"), "$in", [value, 2**70]),)))
    assert "DROP" not in sql and "1=1" not in sql
    assert key in params and value in params and float(2**70) in params


@pytest.mark.parametrize("cond,fragment", [
    (Condition(("n",), "$gt", True), "0"),
    (Condition(("n",), "$lt", None), "0"),
    (Condition(("n",), "$in", []), "0"),
    (Condition(("n",), "$eq", None), "f.type = 'null'"),
    (Condition(("n",), "$eq", False), "f.type = 'false'"),
])
def test_metadata_conditions_that_need_no_value(cond, fragment):
    assert f"({fragment})" in compile_query(CubeQuery(conditions=(cond,)))[0]


@pytest.mark.parametrize("cond", [
    Condition(("n",), "$regex", "x"),
    Condition((), "$eq", 1),
    Condition(("n",), "$eq", {"a": 1}),
    Condition(("n",), "$in", "abc"),
    Condition(("n",), "$gte", [1]),
])
def test_bad_metadata_conditions_raise_typed_errors(cond):
    with pytest.raises(InvalidInputError):
        compile_query(CubeQuery(conditions=(cond,)))


def test_cube_conditions_compile_columns_times_and_nulls():
    conds = (Condition(("heat",), "$gt", 1.5), Condition(("updated_at",), "$lte", T0),
             Condition(("owner",), "$ne", "bob"), Condition(("valid_to",), "$eq", None),
             Condition(("tier",), "$nin", [Tier.ARCHIVE]))
    sql, params = compile_query(CubeQuery(cube_conditions=conds, include_expired=True))
    assert "(c.heat > ?)" in sql and "(c.updated_at <= ?)" in sql
    assert "(c.owner IS NULL OR c.owner != ?)" in sql and "(c.valid_to IS NULL)" in sql
    assert "(c.tier IS NULL OR NOT c.tier IN (SELECT value FROM json_each(?)))" in sql
    assert params[1:] == [1.5, T0.timestamp(), "bob", json.dumps([Tier.ARCHIVE.value])]
    with pytest.raises(InvalidInputError, match="cannot filter on cube field 'content'"):
        compile_query(CubeQuery(cube_conditions=(Condition(("content",), "$eq", "x"),)))


def test_order_sql_and_page_params():
    assert order_sql("key ASC") == " ORDER BY c.key ASC, c.id ASC"
    assert order_sql(None, allow_none=True) == ""
    assert all(order_sql(name).endswith("c.id ASC") for name in ORDERINGS)
    with pytest.raises(InvalidInputError, match="use one of"):
        order_sql(None)
    with pytest.raises(InvalidInputError, match="use None or one of"):
        order_sql("id; DROP TABLE cubes", allow_none=True)
    assert page_params(3, 0) == [3, 0] and page_params(None, 0) == [-1, 0]
    for limit, offset in [(-1, 0), (None, -2)]:
        with pytest.raises(InvalidInputError, match=">= 0"):
            page_params(limit, offset)


def test_keyword_search_statement_binds_weights_match_filters_and_k():
    weights = bm25_weights([2.0, 1.0, 0.5, 0.0])
    query = CubeQuery(conditions=(Condition(("topic",), "$eq", "tea"),), include_expired=True)
    sql, params = keyword_search_sql('"tea"', query, 7, weights)
    assert sql.startswith("SELECT c.id, -bm25(fts, ?, ?, ?, ?) AS score FROM fts JOIN cubes")
    assert "+fts.rowid IN" in sql and sql.endswith("ORDER BY score DESC, c.id ASC LIMIT ?")
    assert params == [2.0, 1.0, 0.5, 0.0, '"tea"', Status.EXPIRED.value, "topic", "tea", 7]
    assert sql.count("?") == len(params)


@pytest.mark.parametrize("weights", [[1.0], [1.0, 2.0, float("nan"), 1.0], [1.0] * (len(KEYWORD_COLUMNS) + 1)])
def test_bm25_weights_need_one_finite_number_per_column(weights):
    with pytest.raises(InvalidInputError, match="column_weights"):
        bm25_weights(weights)


def test_compiler_does_no_io():
    assert "sqlite3" not in vars(compiler)


def test_keyword_head_tests_a_kept_filter_list_in_place_of_listing_it() -> None:
    ne, eq = Condition(("kind",), "$ne", "a"), Condition(("n",), "$eq", 1)
    query = CubeQuery(conditions=(ne, eq))
    plain, plain_params = compiler.keyword_head_sql('"x"', query, 40, (1.0,))
    kept, kept_params = compiler.keyword_head_sql('"x"', query, 40, (1.0,), kept={compiler.filter_key(ne): "t1"})
    assert "+fts.rowid NOT IN (SELECT rid FROM temp.t1)" in kept and "temp." not in plain
    rids, rids_params = compiler.filter_rids_sql(ne)
    assert f"+fts.rowid NOT IN ({rids})" in plain and f"+fts.rowid IN ({compiler.filter_rids_sql(eq)[0]})" in kept
    assert len(plain_params) - len(kept_params) == len(rids_params)  # the kept list binds nothing
