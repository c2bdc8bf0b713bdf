"""Recipe: the same personal assistant, scaled out onto a Chroma server and Neo4j.

Nothing in the agent changes: only the :class:`~langchain_memos.MemOSConfig`. Records,
history and BM25 stay in SQLite (in ``--path``); vectors go to a Chroma server; the
entity graph goes to Neo4j when ``NEO4J_URI`` is set (else it stays in SQLite).

Start the engines (any machine you can reach; these are the local commands)::

    chroma run --path ./chroma_server --host 127.0.0.1 --port 8000
    docker run -p 7687:7687 -e NEO4J_AUTH=neo4j/memos-password neo4j:5-community   # optional

Then run the assistant against them::

    python -m cookbook.scale_out --chroma-port 8000
    NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_USER=neo4j NEO4J_PASSWORD=memos-password \\
        python -m cookbook.scale_out --chroma-port 8000
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any, Sequence

from cookbook import personal_assistant
from cookbook._models import chat_model
from langchain_memos import MemOS, MemOSConfig, RetrievalConfig
from langchain_memos.embeddings import EMBEDDER_NAMES, embeddings_named


def scaled_config(path: str, chroma_host: str, chroma_port: int, collection: str = "memos") -> MemOSConfig:
    """Records in ``path``, vectors on the Chroma server, the graph on Neo4j when ``NEO4J_URI`` is set."""
    neo4j_uri = os.environ.get("NEO4J_URI")
    return MemOSConfig(
        path=path, vector_backend="chroma-http", chroma_host=chroma_host, chroma_port=chroma_port,
        collection=collection,
        graph_backend="neo4j" if neo4j_uri else "sqlite", neo4j_uri=neo4j_uri,
        neo4j_user=os.environ.get("NEO4J_USER", "neo4j"), neo4j_password=os.environ.get("NEO4J_PASSWORD", ""),
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the personal assistant on the scaled-out engines; returns its results plus where things live."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.scale_out", description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", help="records directory (default: a temporary one)")
    parser.add_argument("--chroma-host", default="127.0.0.1")
    parser.add_argument("--chroma-port", type=int, default=8000)
    parser.add_argument("--collection", default="memos-assistant", help="Chroma collection name")
    parser.add_argument("--embed", choices=EMBEDDER_NAMES, default="minilm")
    args = parser.parse_args(argv)
    config = scaled_config(args.path or tempfile.mkdtemp(prefix="memos-scale-"), args.chroma_host, args.chroma_port,
                           args.collection)
    with MemOS(config=config, embeddings=embeddings_named(args.embed),
               retrieval=RetrievalConfig(time_boost=0.5)) as memos:
        result = personal_assistant.run(memos, chat_model(personal_assistant.assistant_script))
        where = {"vectors": repr(memos.vectors), "graph": type(memos.graph).__name__,
                 "vectors_indexed": len(memos.vectors.ids())}
    print(f"vectors: {where['vectors']} ({where['vectors_indexed']} indexed) | graph: {where['graph']}")
    return {**result, "where": where}


if __name__ == "__main__":
    main()
