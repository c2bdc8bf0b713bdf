"""The memory engine: named, typed steps that MemOS, MemLifecycle and MemOSStore are thin shells over.

Pure steps (no store access) plan; I/O steps (methods of :class:`MemoryEngine` and the
functions of :mod:`.graph_steps`, :mod:`.erase`, :mod:`.integrity`) read, embed and write.
The flows of :mod:`.flows` sequence them once; :func:`run` drives a flow for sync
callers, :func:`arun` for async ones.

===================  ======================================================================  ==========
step                 where                                                                   kind
===================  ======================================================================  ==========
plan a write         :func:`plan_add`                                                        pure
keyword documents    :func:`~.write.keyword_docs`                                            pure
thread context       :meth:`MemoryEngine.thread_context`                                     I/O (read)
embed                :meth:`MemoryEngine.embed_documents`                                    I/O
embed a query        :meth:`MemoryEngine.embed_query` (kept by text: :class:`QueryVectors`)  I/O
commit               :meth:`MemoryEngine.commit` / ``commit_if_unchanged``                   I/O
plan a search        :func:`plan_query`                                                      pure
rank                 :meth:`MemoryEngine.rank` / ``retrieve``                                I/O (read)
vector candidates    :meth:`VectorSteps.vector_candidates` (``nearest``)                     I/O (read)
scope size           :meth:`VectorSteps.small_scope` (keywords in line or beside)            I/O (read)
graph signal         :meth:`MemoryEngine.graph_scores`                                       I/O (read)
apply an update      :func:`apply_update`                                                    pure
plan a fuse          :func:`plan_fuse`                                                       pure
graph ingest         :func:`ingest_graph` / :func:`reextract`                                I/O
delete / forget      :func:`delete` / :func:`forget` / :func:`expire` / :func:`retire`       I/O
reads, access, heat  :class:`StateSteps` (``cubes``, ``load``, ``touch``, ``set_heat`` ...)  I/O
integrity check      :func:`check`                                                           I/O
===================  ======================================================================  ==========

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = run(memos.engine, add_flow(memos.engine, "Bob likes jazz", ("u",), {}))
    ...     apply_update(memos.get(ids[0]), {"importance": 0.9}, reason="r", actor=None, max_chars=99).cube.version
    2
"""

from __future__ import annotations

from .core import EngineField, MemoryEngine
from .erase import delete, delete_namespace, expire, forget, retire
from .flows import (
    Call,
    Embed,
    EmbedQuery,
    Flow,
    add_flow,
    arun,
    commit_flow,
    extract_flow,
    facts_flow,
    fuse_flow,
    graph_errors,
    run,
    search_flow,
    update_flow,
)
from .graph_steps import check_graph, ingest_graph, reextract
from .integrity import check
from .open import open_engines, open_graph
from .plans import (
    apply_update,
    check_fuse_ids,
    cube_query,
    merge_contents,
    merge_scored,
    plan_fuse,
    plan_query,
    tier_changes,
)
from .query_cache import QueryVectors
from .results import IntegrityReport, SearchHit
from .state import StateSteps
from .timings import SEARCH_STAGES, SearchResults, SearchTimings
from .vector_steps import VectorSteps, scan_limits
from .write import checked_vectors, embed_texts, extract_targets, keyword_docs, plan_add, plan_restore

__all__ = [
    "Call", "Embed", "EmbedQuery", "EngineField", "Flow", "IntegrityReport", "MemoryEngine", "QueryVectors",
    "SEARCH_STAGES", "SearchHit", "SearchResults", "SearchTimings", "StateSteps", "VectorSteps",
    "add_flow", "apply_update", "arun", "check", "check_fuse_ids", "check_graph", "checked_vectors", "commit_flow",
    "cube_query", "delete", "delete_namespace", "embed_texts", "expire", "extract_flow", "extract_targets",
    "facts_flow", "forget", "fuse_flow", "graph_errors", "ingest_graph", "keyword_docs", "merge_contents",
    "merge_scored", "open_engines", "open_graph", "plan_add", "plan_fuse", "plan_query", "plan_restore",
    "reextract", "retire", "run", "scan_limits", "search_flow", "tier_changes", "update_flow"
]
