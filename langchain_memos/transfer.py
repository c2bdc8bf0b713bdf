"""Lossless export and import of a memory as JSON Lines.

One JSON object per line, each with a ``"kind"``:

* ``header``: ``{"kind": "header", "format": "langchain-memos/1", "cubes": N, "dims": D}``;
* ``cube``: the cube with its full history (:meth:`MemCube.to_dict`) and its stored
  embedding (float32, base64, little-endian) when it has one, so an import never
  re-embeds and works without the embedding model;
* further kinds (e.g. graph rows) come from the *sections* a memory registers:
  objects with ``name``, ``export_rows()`` and ``import_rows(rows)``.

Every cube of every tier and status is exported (the archive and expired cubes
included), oldest first, so an import rebuilds threads in order. Importing into an
empty store gives identical cubes, history and sections; importing over existing
ids replaces them.

Example:
    >>> import io
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> buffer = io.StringIO()
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     _ = memos.add("Ada likes tea", ("u",))
    ...     export_jsonl(memos, buffer)
    1
    >>> _ = buffer.seek(0)
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as copy:
    ...     import_jsonl(copy, buffer), copy.list(("u",))[0].content
    (1, 'Ada likes tea')
"""

from __future__ import annotations

import base64
import json
import sys
from typing import IO, Any, Iterable, Iterator, Sequence

from .cube import MemCube, Status
from .errors import InvalidInputError
from .storage.base import CubeQuery

FORMAT = "langchain-memos/1"
#: Cubes read and written per batch.
BATCH = 500


class TableSection:
    """An export section over an engine whose ``export_rows(namespace)`` returns ``{table: [row, ...]}``
    and whose ``import_rows({table: rows})`` loads it (the graph engines do).

    Each exported line holds one row: ``{"kind": name, "row": {"table": ..., "data": {...}}}``.
    """

    def __init__(self, name: str, engine: Any) -> None:
        self.name = name
        self.engine = engine

    def export_rows(self, namespace: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every row of every table under ``namespace``."""
        for table, rows in self.engine.export_rows(tuple(namespace)).items():
            for row in rows:
                yield {"table": table, "data": row}

    def import_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Load rows written by :meth:`export_rows`."""
        tables: dict[str, list[Any]] = {}
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("table"), str) or "data" not in row:
                raise InvalidInputError(f"a {self.name} row of the import lacks 'table' or 'data'; pass a file "
                                        "written by `memos export`")
            tables.setdefault(row["table"], []).append(row["data"])
        self.engine.import_rows(tables)


def _encode(vector: Any) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str) -> list[float]:
    import numpy as np

    return np.frombuffer(base64.b64decode(text), dtype="<f4").tolist()


def _all_ids(memos: Any, namespace: Sequence[str]) -> list[str]:
    query = CubeQuery(namespace_prefix=tuple(namespace), statuses=frozenset(Status), include_expired=True)
    return memos.engine.cube_ids(query, order_by="created_at ASC")


def export_lines(memos: Any, namespace: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """The export as JSON-safe dicts, header first (see the module docstring)."""
    ids = _all_ids(memos, namespace)
    yield {"kind": "header", "format": FORMAT, "cubes": len(ids), "namespace": list(namespace),
           "dims": memos.embedding_dim}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        vectors = memos.engine.stored_vectors(chunk)
        for cube in memos.engine.load(chunk):
            if cube is None:  # deleted meanwhile
                continue
            line: dict[str, Any] = {"kind": "cube", "cube": cube.to_dict(include_history=True)}
            if cube.id in vectors:
                line["embedding"] = _encode(vectors[cube.id])
            yield line
    for section in memos.export_sections():
        for row in section.export_rows(namespace):
            yield {"kind": section.name, "row": row}


def export_jsonl(memos: Any, out: IO[str], namespace: Sequence[str] = (), *, progress: bool = False) -> int:
    """Write every cube under ``namespace`` (and the registered sections) to ``out``; returns cubes written.

    ``progress``: show a tqdm bar (on stderr) counting the cubes.
    """
    from tqdm import tqdm

    lines = export_lines(memos, namespace)
    header = next(lines)
    written = 0
    bar = tqdm(lines, total=header["cubes"], desc="export", unit="cube", file=sys.stderr, disable=not progress)
    for line in _with_header(header, bar):
        out.write(json.dumps(line, ensure_ascii=False, allow_nan=False, sort_keys=True) + "\n")
        written += line["kind"] == "cube"
    return written


def _with_header(header: dict[str, Any], rest: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield header
    yield from rest


def _parse(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"line {number} of the import is not JSON ({exc}); pass a file written by "
                                    "`memos export`") from exc
        if not isinstance(data, dict) or "kind" not in data:
            raise InvalidInputError(f"line {number} of the import has no 'kind'; pass a file written by `memos export`")
        yield number, data


def import_jsonl(memos: Any, lines: Iterable[str]) -> int:
    """Restore an export into ``memos``; returns cubes imported.

    Raises:
        InvalidInputError: The input is not an export of this format (nothing after the
            bad line is written; batches before it are).
    """
    sections = {s.name: s for s in memos.export_sections()}
    cubes: list[MemCube] = []
    vectors: list[list[float] | None] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    imported = 0
    seen_header = False
    for number, data in _parse(lines):
        kind = data["kind"]
        if kind == "header":
            if data.get("format") != FORMAT:
                raise InvalidInputError(f"the import is in format {data.get('format')!r}; this version reads {FORMAT!r}")
            seen_header = True
        elif not seen_header:
            raise InvalidInputError("the import does not start with a header line; pass a file written by `memos export`")
        elif kind == "cube":
            try:
                cubes.append(MemCube.from_dict(data["cube"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInputError(f"line {number} holds no valid cube ({exc})") from exc
            vectors.append(_decode(data["embedding"]) if "embedding" in data else None)
            if len(cubes) >= BATCH:
                imported += len(memos.restore(cubes, vectors))
                cubes, vectors = [], []
        elif kind in sections:
            rows.setdefault(kind, []).append(data["row"])
        else:
            raise InvalidInputError(f"line {number} has kind {kind!r}, which this memory cannot import; "
                                    f"known: cube, {', '.join(sorted(sections)) or '(no sections)'}")
    if cubes:
        imported += len(memos.restore(cubes, vectors))
    for name, section_rows in rows.items():
        sections[name].import_rows(section_rows)
    return imported


__all__ = ["FORMAT", "TableSection", "export_jsonl", "export_lines", "import_jsonl"]
