"""The faiss index's file format (pure): packed id lists and the log's checksummed frames.

:class:`~langchain_memos.storage.faiss_index.FaissVectorIndex` writes ``snapshot-<gen>.ids`` as
:func:`pack_ids` (then one byte per label: live or dead, then each label's rid as int64, ``-1`` where not
known) and appends every upsert and delete to ``log-<gen>.bin`` as a :func:`frame`; :func:`read_frames` reads
them back and stops at the first torn or damaged frame. Rids come last in both, so files written before rids
were kept still read (their rids are not known), and a reader that knows no rids ignores them.

Example:
    >>> import numpy as np
    >>> data = frame(UPSERT, ["a"], np.ones((1, 2), dtype=np.float32), [7]) + frame(DELETE, ["a"])
    >>> [(op, ids, None if rids is None else rids.tolist()) for op, ids, _, rids, _ in read_frames(data)]
    [(1, ['a'], [7]), (2, ['a'], None)]
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Iterator, Sequence

_MAGIC = b"MFX1"
_HEADER = struct.Struct("<4sBIII")  # magic, op, count, dim, payload bytes; then the payload and its crc32
_CRC = struct.Struct("<I")

#: The two kinds of log frame.
UPSERT, DELETE = 1, 2


def pack_ids(ids: Sequence[str]) -> bytes:
    """``ids`` as bytes: their count, each one's UTF-8 length (uint32), then the UTF-8 back to back.

    Example:
        >>> unpack_ids(pack_ids(["a", "é"]))[0]
        ['a', 'é']
    """
    import numpy as np

    encoded = [i.encode("utf-8") for i in ids]
    lengths = np.fromiter(map(len, encoded), dtype="<u4", count=len(encoded))
    return struct.pack("<I", len(encoded)) + lengths.tobytes() + b"".join(encoded)


def unpack_ids(data: bytes | memoryview, start: int = 0) -> tuple[list[str], int]:
    """The ids :func:`pack_ids` wrote at ``start``, and the offset just past them."""
    import numpy as np

    (n,) = struct.unpack_from("<I", data, start)
    start += 4
    lengths = np.frombuffer(data, dtype="<u4", count=n, offset=start)
    start += 4 * n
    ends = (np.cumsum(lengths, dtype=np.int64) + start).tolist()
    blob = bytes(data[start:ends[-1]]) if n else b""
    out, prev = [], 0
    for end in ends:
        out.append(blob[prev:end - start].decode("utf-8"))
        prev = end - start
    return out, (ends[-1] if n else start)


def frame(op: int, ids: Sequence[str], vectors: Any = None, rids: Any = None) -> bytes:
    """One log frame: an upsert (``ids``, their float32 ``vectors`` and, when given, their rids: int64, ``-1``
    where not known) or a delete (``ids``)."""
    import numpy as np

    payload = pack_ids(ids)
    dim = 0
    if vectors is not None:
        dim = int(vectors.shape[1])
        payload += vectors.astype("<f4", copy=False).tobytes()
        if rids is not None:
            payload += np.asarray(rids, dtype="<i8").tobytes()
    return _HEADER.pack(_MAGIC, op, len(ids), dim, len(payload)) + payload + _CRC.pack(zlib.crc32(payload))


def read_frames(data: bytes) -> Iterator[tuple[int, list[str], Any, Any, int]]:
    """The complete frames of ``data`` in order, as ``(op, ids, vectors or None, rids or None, end offset)``;
    stops at the first torn or damaged one (what a writer that died mid-write leaves at the end)."""
    import numpy as np

    at = 0
    while at + _HEADER.size <= len(data):
        magic, op, count, dim, size = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + size + _CRC.size
        if magic != _MAGIC or end > len(data):
            return
        payload = memoryview(data)[at + _HEADER.size:at + _HEADER.size + size]
        if _CRC.unpack_from(data, end - _CRC.size)[0] != zlib.crc32(payload):
            return
        ids, past = unpack_ids(payload)
        vectors = rids = None
        if op == UPSERT:
            vectors = np.frombuffer(payload, dtype="<f4", count=count * dim, offset=past).reshape(count, dim)
            past += 4 * count * dim
            if len(payload) - past >= 8 * count:  # written with rids
                rids = np.frombuffer(payload, dtype="<i8", count=count, offset=past).astype(np.int64)
        yield op, ids, vectors, rids, end
        at = end


__all__ = ["DELETE", "UPSERT", "frame", "pack_ids", "read_frames", "unpack_ids"]
