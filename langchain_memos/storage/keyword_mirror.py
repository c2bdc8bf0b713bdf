"""A keyword index with top-k pruning for large scopes: an in-memory tantivy mirror of the FTS5 rows.

FTS5 scores every row that holds a query term before it keeps the best ``k`` (no top-k pruning):
at 100,000 cubes a 6-term query walks ~30,000 rows and takes 8-10 ms, filters included.
tantivy answers the same query in about a millisecond. :class:`KeywordMirror` holds one in the
index worker's memory (:mod:`~langchain_memos.storage.index_worker`), built from the record store
when the worker starts and kept in step with it through ``keyword_log``: every write of a keyword
row (:func:`~langchain_memos.storage.sqlite.keyword.put_keyword_row`, ``drop_keyword_row``) appends
the row's ``rid`` there in the writer's transaction, and the mirror re-reads those rows before it
answers and after each indexing request. Nothing of it is kept on disk.

A search is answered only over a large scope (the engine decides; small scopes stay on FTS5,
whose BM25 the retrieval constants were fitted on): the query's words (tokenized as FTS5 does:
lowercase, diacritics folded, Porter-style English stems) over the four keyword columns with the
column weights as boosts, restricted in tantivy to the namespace and the top-level ``$eq`` metadata
filters; the engine checks its hits against the whole query in SQLite (scope, status, expiry, tiers,
every filter) and asks for more while too few pass (``MemoryEngine.keyword_candidates``). Its BM25
is tantivy's (per field, boosted), not FTS5's, so the order can differ a little.

``tantivy`` is imported when a mirror is built; without it the mirror never answers (``None``).

Example:
    >>> from langchain_memos.storage.sqlite import SQLiteRecordStore
    >>> from langchain_memos.storage.base import CubeQuery
    >>> from langchain_memos.cube import MemCube
    >>> records = SQLiteRecordStore(None)
    >>> cube = MemCube(content="green tea at noon", namespace=("u",))
    >>> _ = records.write([cube], [None], ["green tea at noon"])
    >>> mirror = KeywordMirror(records)
    >>> mirror.build()
    >>> [h.id == cube.id for h in mirror.search(["tea"], CubeQuery(namespace_prefix=("u",)), 5)]
    [True]
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from typing import Any, Iterable, Sequence

from .base import KEYWORD_COLUMNS, NS_SEP, CubeQuery, ScoredId, ns_key

log = logging.getLogger(__name__)

#: Keyword-log entries kept behind the newest (older ones are pruned; a mirror that fell further
#: behind builds itself again).
LOG_KEEP = 500_000

#: Rows read and added per step of a build or catch-up.
BATCH = 5000

#: Rows an indexing request takes in before it commits them (a search commits what waits at once).
COMMIT_EVERY = 20_000

#: Most query words (as FTS5's ``MAX_QUERY_TERMS``).
MAX_WORDS = 64

_TOKENIZER = "memos"
_EXACT = "="  # the namespace field holds every prefix, and the whole namespace after this mark


def namespace_terms(ns: str) -> list[str]:
    """The terms a cube of namespace key ``ns`` is found by: each prefix of its labels, and ``"=" + ns``.

    Example:
        >>> namespace_terms("a\\x1fb")
        ['a', 'a\\x1fb', '=a\\x1fb']
    """
    labels = ns.split(NS_SEP) if ns else []
    return [NS_SEP.join(labels[:i]) for i in range(1, len(labels) + 1)] + [_EXACT + ns]


def metadata_term(key: str, kind: str, atom: Any) -> str:
    """The term of one ``metadata_fields`` row (a top-level scalar metadata value)."""
    return f"{key}\x1f{kind}\x1f{atom}"


class KeywordMirror:
    """An in-memory tantivy index of a SQLite record store's keyword rows (see the module docs).

    Args:
        records: The record store (a :class:`~langchain_memos.storage.sqlite.SQLiteRecordStore`).
    """

    def __init__(self, records: Any) -> None:
        self.records = records
        self._lock = threading.RLock()
        self._index: Any = None
        self._writer: Any = None
        self._position = 0  # the last keyword_log seq taken in
        self._uncommitted = 0  # rows taken in since the last commit
        self._analyzer: Any = None
        self.ready = False

    # ------------------------------------------------------------ building and catching up
    def _new_index(self) -> tuple[Any, Any]:
        import tantivy

        builder = tantivy.SchemaBuilder()
        for column in KEYWORD_COLUMNS:
            builder.add_text_field(column, stored=False, tokenizer_name=_TOKENIZER)
        builder.add_text_field("ns", stored=False, tokenizer_name="raw")
        builder.add_text_field("meta", stored=False, tokenizer_name="raw")
        builder.add_integer_field("rid", stored=False, indexed=True)  # what a rewrite or deletion drops by
        builder.add_text_field("id", stored=True, index_option="basic", tokenizer_name="raw")
        index = tantivy.Index(builder.build())
        index.register_tokenizer(_TOKENIZER, self.analyzer())
        return index, index.writer(heap_size=64_000_000, num_threads=1)

    @staticmethod
    def analyzer() -> Any:
        """The tokenizer FTS5's ``porter unicode61 remove_diacritics 2`` matches: words, lowercase, diacritics
        folded, English stems."""
        import tantivy

        return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
                .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.stemmer("english")).build())

    def build(self) -> None:
        """Read every keyword row into a new index (the worker runs this in a thread when it starts)."""
        try:
            index, writer = self._new_index()
        except ImportError:
            log.warning("langchain-memos: the keyword mirror needs the `tantivy` package (pip install "
                        "'tantivy>=0.22,<1'); keyword searches stay on FTS5")
            return
        with self._lock:
            position = self.records.read_transaction(
                lambda conn: conn.execute("SELECT coalesce(max(seq), 0) FROM keyword_log").fetchone()[0])
            last = 0
            while True:  # every row as of now; rows written meanwhile are in the log after `position`
                rows = self.records.read_transaction(lambda conn: _rows_after(conn, last, BATCH))
                for doc in _documents(rows):
                    writer.add_document(doc)
                if len(rows) < BATCH:
                    break
                last = rows[-1][0]
            writer.commit()
            index.reload()
            self._index, self._writer, self._position = index, writer, position
            self.ready = True
            self._catch_up()

    def catch_up(self) -> None:
        """Take in the keyword rows written since the mirror last looked (nothing before it is built); they
        are committed (searchable) once :data:`COMMIT_EVERY` wait, or by the next search."""
        if self.ready:
            with self._lock:
                self._catch_up(commit=False)

    def _catch_up(self, *, commit: bool = True) -> None:
        rids, position, oldest = self.records.read_transaction(lambda conn: _logged_after(conn, self._position))
        if not rids:
            if commit and self._uncommitted:
                self._commit()
            return
        if oldest is not None and oldest > self._position + 1:  # pruned past us: start again
            self.ready = False
            self.build()
            return
        rids = list(dict.fromkeys(rids))
        for start in range(0, len(rids), BATCH):
            part = rids[start:start + BATCH]
            for rid in part:
                self._writer.delete_documents_by_term("rid", rid)
            for doc in _documents(self.records.read_transaction(lambda conn: _rows_of(conn, part))):
                self._writer.add_document(doc)
        self._position = position
        self._uncommitted += len(rids)
        if commit or self._uncommitted >= COMMIT_EVERY:
            self._commit()
        if position > LOG_KEEP and oldest is not None and oldest < position - 2 * LOG_KEEP:
            self.records.write_transaction(lambda conn: conn.execute(
                "DELETE FROM keyword_log WHERE seq <= ?", (position - LOG_KEEP,)), bookkeeping=True)

    def _commit(self) -> None:
        """Make what the writer took in searchable (a tantivy commit costs ~15 us a row: once per batch)."""
        self._writer.commit()
        self._index.reload()
        self._uncommitted = 0

    # ------------------------------------------------------------ searching
    def search(self, terms: Sequence[str], cq: CubeQuery, k: int,
               column_weights: Sequence[float] | None = None) -> list[ScoredId] | None:
        """The best ``k`` keyword rows for any of ``terms`` by tantivy's BM25 (best first) among those in
        ``cq``'s namespace with its top-level string ``$eq`` filters; every other part of ``cq`` (status,
        expiry, tiers, the other filters) is the caller's to check. ``None`` when the mirror cannot
        answer (not built yet, or tantivy is missing): ask FTS5 instead."""
        if not self.ready:
            return None
        import tantivy

        from .sqlite.compiler import fts_words

        words = fts_words(terms)[:MAX_WORDS]
        if not words or k <= 0:
            return []
        weights = list(column_weights or (1.0,) * len(KEYWORD_COLUMNS))
        with self._lock:
            self._catch_up()
            schema = self._index.schema
            analyzer = self._analyzer = self._analyzer or self.analyzer()
            should = [(tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.term_query(schema, column, token),
                                                                       float(weight)))
                      for token in dict.fromkeys(t for w in words for t in analyzer.analyze(w))
                      for column, weight in zip(KEYWORD_COLUMNS, weights) if weight > 0]
            if not should:
                return []
            must = [(tantivy.Occur.Must, tantivy.Query.boolean_query(should))]
            filters = _pushed_terms(cq)
            if cq.namespace_prefix or cq.exact_namespace:
                ns = ns_key(cq.namespace_prefix)
                filters.append(("ns", _EXACT + ns if cq.exact_namespace else ns))
            must += [(tantivy.Occur.Must, tantivy.Query.const_score_query(tantivy.Query.term_query(schema, field, term),
                                                                           0.0)) for field, term in filters]
            searcher = self._index.searcher()
            hits = searcher.search(tantivy.Query.boolean_query(must), int(k)).hits
            return [ScoredId(searcher.doc(address)["id"][0], float(score)) for score, address in hits]


def _pushed_terms(cq: CubeQuery) -> list[tuple[str, str]]:
    """``("meta", term)`` of ``cq``'s top-level ``$eq`` filters on strings (the rest, numbers included, whose
    types compare across integer and real, is left to the caller's check)."""
    return [("meta", metadata_term(c.path[0], "text", c.value)) for c in cq.conditions
            if len(c.path) == 1 and c.op == "$eq" and isinstance(c.value, str)
            and _META_SEP not in c.path[0] + c.value]  # (a term holding the separator is not indexed whole)


def _logged_after(conn: sqlite3.Connection, position: int) -> tuple[list[int], int, int | None]:
    """The rids logged after ``position`` (in order), the newest seq, and the oldest seq still kept."""
    rows = conn.execute("SELECT seq, rid FROM keyword_log WHERE seq > ? ORDER BY seq", (position,)).fetchall()
    oldest = conn.execute("SELECT min(seq) FROM keyword_log").fetchone()[0]
    return [r[1] for r in rows], (rows[-1][0] if rows else position), oldest


def _documents(rows: Iterable[tuple[Any, ...]]) -> list[Any]:
    """tantivy documents of :data:`_ROWS` rows."""
    import tantivy

    return [tantivy.Document(**dict(zip(KEYWORD_COLUMNS, (c or "" for c in columns))), ns=namespace_terms(ns),
                             meta=meta.split(_META_SEP) if meta else [], rid=int(rid), id=cube_id)
            for rid, *columns, ns, cube_id, meta in rows]


_META_SEP = "\x1e"
#: A keyword row with its cube's namespace and id and its string metadata terms (see :func:`metadata_term`).
_ROWS = (f"SELECT f.rowid, {', '.join(f'f.{c}' for c in KEYWORD_COLUMNS)}, c.ns, c.id, "
         "(SELECT group_concat(m.key || char(31) || 'text' || char(31) || m.atom, char(30)) FROM metadata_fields AS m "
         "WHERE m.rid = f.rowid AND m.type = 'text') FROM ")


def _rows_after(conn: sqlite3.Connection, rid: int, limit: int) -> list[tuple[Any, ...]]:
    """The next ``limit`` keyword rows after ``rid`` (:data:`_ROWS`; documents are built after the read, so the
    connection is not held for them)."""
    return conn.execute(_ROWS + "fts AS f JOIN cubes AS c ON c.rid = f.rowid WHERE f.rowid > ? ORDER BY f.rowid "
                        "LIMIT ?", (rid, limit)).fetchall()


def _rows_of(conn: sqlite3.Connection, rids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The keyword rows of ``rids`` (those that still have one; :data:`_ROWS`)."""
    return conn.execute(_ROWS + "json_each(?) AS h CROSS JOIN fts AS f ON f.rowid = h.value "
                        "JOIN cubes AS c ON c.rid = f.rowid", (json.dumps(list(rids)),)).fetchall()


__all__ = ["KeywordMirror", "metadata_term", "namespace_terms"]
