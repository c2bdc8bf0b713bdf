"""The public API is pinned, importing the package is cheap, and the default embedder works offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import langchain_memos

EXPECTED_PUBLIC_NAMES = [
    "ContentTooLargeError", "CubeNotFoundError", "EmbeddingDimensionError", "EngineUnavailableError",
    "GraphIngestError", "HashingEmbeddings", "HistoryEntry", "IntegrityReport", "InvalidInputError", "InvalidNamespaceError",
    "LocalMiniLMEmbeddings", "MemCube", "MemOS", "MemOSConfig", "MemOSError", "MemoryType", "NonJSONValueError",
    "PermissionDeniedError", "Permissions", "Provenance", "RetrievalConfig", "SearchHit", "SearchResults",
    "SearchTimings", "Status", "StorageError",
    "StoreLockedError", "Tier", "UnknownFilterOperatorError", "__version__", "render_memory_block",
]


def test_public_names_are_pinned() -> None:
    assert sorted(langchain_memos.__all__) == sorted(EXPECTED_PUBLIC_NAMES)
    for name in langchain_memos.__all__:
        assert getattr(langchain_memos, name) is not None
        if name != "__version__":
            assert getattr(langchain_memos, name).__doc__, f"{name} needs a docstring"


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        langchain_memos.NoSuchThing  # noqa: B018


def test_import_has_no_heavy_side_effects() -> None:
    code = ("import sys, langchain_memos; from langchain_memos import MemOS, MemCube; "
            "import json; print(json.dumps(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', "
            "'chromadb', 'peft') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_errors_are_typed_and_catchable_as_builtins() -> None:
    from langchain_memos import errors

    assert issubclass(errors.InvalidNamespaceError, ValueError)
    assert issubclass(errors.CubeNotFoundError, KeyError)
    assert issubclass(errors.PermissionDeniedError, PermissionError)
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert issubclass(obj, errors.MemOSError) and obj.__doc__


def test_default_minilm_embedder_loads_offline() -> None:
    pytest.importorskip("sentence_transformers")
    from langchain_memos.embeddings import LocalMiniLMEmbeddings, minilm_model_path

    assert (minilm_model_path() / "config.json").exists()
    code = ("import os, json; os.environ['HF_HUB_OFFLINE'] = '1'; "
            "from langchain_memos.embeddings import LocalMiniLMEmbeddings; e = LocalMiniLMEmbeddings(); "
            "v = e.embed_documents(['I like green tea', 'I enjoy green tea', 'The car broke down']); "
            "import numpy as np; a = np.array(v); print(json.dumps([a.shape[1], float(a[0] @ a[1]), float(a[0] @ a[2])]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    dims, similar, unrelated = json.loads(out.stdout.strip().splitlines()[-1])
    assert dims == LocalMiniLMEmbeddings.dims == 384
    assert similar > 0.8 > unrelated


EXPECTED_INTEGRATION_NAMES = [
    "InvalidPlanError", "MemOSCheckpointer", "MemOSMiddleware", "MemOSStore", "MemoryNodes", "MemoryNotConfiguredError",
    "MemoryScope", "MemorySettings", "MemoryState", "MissingUserIdError", "StoreNamespaceError", "ToolStats",
    "ToolTrace", "ToolUsage", "aremember_turns", "arecall_tool_usage", "arecord_traces", "atimed_tool_call",
    "capture_tool_traces", "consolidate", "create_consolidation_graph", "create_memos_agent",
    "create_memos_react_agent", "create_plan_execute_agent", "inject_kv_prefix", "make_store", "memory_tools",
    "recall_tool_usage", "record_traces", "remember_turns", "render_tool_suggestions", "retrieve_memories",
    "timed_tool_call", "tool_stats", "write_memories",
]


def test_integration_names_are_pinned_and_documented() -> None:
    from langchain_memos import integrations

    assert sorted(integrations.__all__) == sorted(EXPECTED_INTEGRATION_NAMES)
    for name in integrations.__all__:
        assert getattr(integrations, name).__doc__, f"integrations.{name} needs a docstring"


def test_importing_integrations_is_cheap() -> None:
    code = ("import sys, langchain_memos.integrations as i; i.MemOSMiddleware; i.MemOSCheckpointer; "
            "i.create_memos_agent; import json; print(json.dumps(sorted(m for m in ('torch', 'transformers', "
            "'sentence_transformers', 'chromadb') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []
