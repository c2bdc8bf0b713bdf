"""The long-term memory graph: extraction, entity resolution, bi-temporal relations, graph engines.

``MemOS`` extracts entities and facts from what is added (:class:`RuleExtractor` without a
model, :class:`LLMExtractor` with one), resolves names to one node per entity
("Mel" = "Melanie"), keeps facts bi-temporal (a contradicting newer fact supersedes the old
one, which stays in history) and uses the graph as a retrieval signal. The graph lives in a
:class:`GraphStore`: :class:`SQLiteGraphStore` (the default, same file as the records) or
:class:`Neo4jGraphStore`.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     _ = memos.add({"role": "user", "content": "I live in Boston"}, ("users", "ann"))
    ...     [(f.predicate, f.text) for f in memos.facts(("users", "ann"))]
    [('lives_in', 'user live in Boston')]

Names are imported lazily: ``import langchain_memos.graph`` loads no engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Entity": "langchain_memos.graph.model",
    "Relation": "langchain_memos.graph.model",
    "Neighbour": "langchain_memos.graph.model",
    "GraphStore": "langchain_memos.graph.base",
    "RelationQuery": "langchain_memos.graph.base",
    "SQLiteGraphStore": "langchain_memos.graph.sqlite",
    "Neo4jGraphStore": "langchain_memos.graph.neo4j",
    "Extractor": "langchain_memos.graph.extract",
    "ExtractionInput": "langchain_memos.graph.extract",
    "Extraction": "langchain_memos.graph.extract",
    "ExtractedFact": "langchain_memos.graph.extract",
    "RuleExtractor": "langchain_memos.graph.extract",
    "LLMExtractor": "langchain_memos.graph.llm",
    "GraphStats": "langchain_memos.graph.memory",
    "find_dates": "langchain_memos.graph.dates",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover
    from .base import GraphStore, RelationQuery
    from .dates import find_dates
    from .extract import ExtractedFact, Extraction, ExtractionInput, Extractor, RuleExtractor
    from .llm import LLMExtractor
    from .memory import GraphStats
    from .model import Entity, Neighbour, Relation
    from .neo4j import Neo4jGraphStore
    from .sqlite import SQLiteGraphStore
