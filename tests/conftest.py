"""Shared pytest fixtures. Keep each group of fixtures in its own clearly marked section."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tiny_models import bpe_tokenizer

# =====================================================================================
# Storage engines (used by tests/test_engines.py)
#
#   record_store       -> a fresh RecordStore per test, over every engine kind
#   sqlite_file_store  -> a fresh file-backed SQLiteRecordStore (WAL, processes, locking)
#   vector_index       -> a fresh VectorIndex per test, over every engine kind
#   chroma_server      -> (host, port) of a real `chroma run` server on loopback (session)
# =====================================================================================

#: RecordStore engine kinds the conformance suite runs over.
RECORD_STORE_KINDS = ["sqlite-file", "sqlite-memory"]

#: VectorIndex engine kinds the conformance suite runs over.
VECTOR_INDEX_KINDS = [
    "chroma-persistent",
    "chroma-worker",
    "chroma-ephemeral",
    pytest.param("chroma-http", marks=pytest.mark.server),
]

@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """Start a real Chroma server on 127.0.0.1 for the session; yield ``(host, port)``."""
    from benchmarks._chroma_server import ChromaServerError, chroma_command
    from benchmarks._chroma_server import chroma_server as running_chroma_server

    if chroma_command() is None:
        pytest.skip("the `chroma` CLI is not installed (it ships with chromadb); install chromadb>=1.0")
    try:
        with running_chroma_server(tmp_path_factory.mktemp("chroma-server")) as server:
            yield server.host, server.port
    except ChromaServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=RECORD_STORE_KINDS)
def record_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, set-up RecordStore of each engine kind; closed after the test."""
    from langchain_memos.storage.sqlite import SQLiteRecordStore

    kind = request.param
    path = tmp_path / "memos.db" if kind == "sqlite-file" else None
    store = SQLiteRecordStore(path, busy_timeout_s=10.0)
    store.kind = kind  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_file_store(tmp_path: Path):
    """A SQLiteRecordStore on a file (for multi-process, WAL and locking tests); closed after the test."""
    from langchain_memos.storage.sqlite import SQLiteRecordStore

    store = SQLiteRecordStore(tmp_path / "memos.db", busy_timeout_s=10.0)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=VECTOR_INDEX_KINDS)
def vector_index(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh VectorIndex of each engine kind (its own collection); closed after the test."""
    from langchain_memos.storage.chroma import ChromaVectorIndex

    kind = request.param
    name = f"t-{uuid.uuid4().hex}"
    if kind == "chroma-persistent":
        index = ChromaVectorIndex.persistent(tmp_path / "chroma", collection_name=name)
    elif kind == "chroma-worker":
        from langchain_memos.storage.index_worker import WorkerSpec, WorkerVectorIndex, worker_supported

        if not worker_supported():
            pytest.skip("the index worker needs POSIX (it inherits its pipe as a file descriptor)")

        def persistent() -> ChromaVectorIndex:
            return ChromaVectorIndex.persistent(tmp_path / "chroma", collection_name=name)

        spec = WorkerSpec(sqlite_path=str(tmp_path / "memos.sqlite3"), chroma_path=str(tmp_path / "chroma"),
                          collection=name)
        index = WorkerVectorIndex(persistent(), spec, start_after=0, reopen_inline=persistent)
        assert index.start_worker(), "the index worker did not start"
    elif kind == "chroma-ephemeral":
        index = ChromaVectorIndex.ephemeral()
    else:
        host, port = request.getfixturevalue("chroma_server")
        index = ChromaVectorIndex.http(host, port, collection_name=name)
    index.kind = kind  # type: ignore[attr-defined]
    client = getattr(index, "_client", None)
    try:
        yield index
    finally:
        index.close()
        if kind not in ("chroma-persistent", "chroma-worker"):
            try:
                client.delete_collection(index.collection_name)
            except Exception:
                pass


# ===================================================================================== end storage engines


# --------------------------------------------------------------------------- a tiny local LM
TINY_CORPUS = [
    "Maya's cat is called Pixel. Maya's favourite colour is teal. Maya's home town is Porto.",
    "Tomas's dog is called Rex. Tomas's favourite colour is amber. Tomas's home town is Leeds.",
    "What is Maya's cat? Tell me about it. Do you know? Yes, remember.",
    "Where does Bob live? Bob lives in Leeds. Alice likes green tea.",
    "Brannoc the blacksmith forges swords in Emberfall. The player traded an iron ore for a dagger.",
]


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama and its tokenizer saved as a model directory (seconds to build, no download)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer = bpe_tokenizer(TINY_CORPUS, vocab_size=400)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                                      max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
                                      pad_token_id=0, bos_token_id=None)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
