"""The ``memos`` command line.

Commands:
    memos demo                         ingest a sample conversation, answer questions from memory
    memos add TEXT --ns users/alice    store a memory
    memos search QUERY --ns users      hybrid search, with the reason each hit matched
    memos show ID                      a cube with its history
    memos doctor                       check that records and vectors agree, and repair drift
    memos stats                        cubes per tier/type/status, heat histogram, size on disk
    memos export FILE / import FILE    lossless JSON Lines round trip (history, embeddings, graph)
    memos consolidate --ns users       one lifecycle pass (dedup, supersede, summaries, tiers, forget)
    memos graph --html FILE            an interactive picture of the entity graph (opens offline)
    memos bench NAME -- ARGS           run a benchmark of a source checkout (python -m benchmarks.NAME)

Every command takes ``--path DIR`` (default ``./memos_data`` or ``$MEMOS_PATH``),
``--embed minilm|hash`` and ``--json`` for machine-readable output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any, Sequence

from .embeddings import EMBEDDER_NAMES, embeddings_named
from .errors import MemOSError


def _namespace(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.replace(".", "/").split("/") if part) if text else ()


def _open(args: argparse.Namespace, path: str | None = None) -> Any:
    from .memos import MemOS

    return MemOS(path or args.path, embeddings=embeddings_named(args.embed))


def _hit_dict(hit: Any) -> dict[str, Any]:
    return {"rank": hit.rank, "score": round(hit.score, 4), "reasons": hit.reasons, "id": hit.cube.id,
            "content": hit.cube.content, "namespace": list(hit.cube.namespace),
            "created_at": hit.cube.created_at.isoformat(), "sources": hit.cube.source_refs}


def _print_hits(hits: Sequence[Any], indent: str = "  ") -> None:
    if not hits:
        print(f"{indent}(nothing relevant in memory)")
    for hit in hits:
        when = hit.cube.created_at.date().isoformat()
        print(f"{indent}{hit.rank}. [{when}] {hit.cube.content}")
        print(f"{indent}   score {hit.score:.2f} - why: {hit.why}")


def _load_demo() -> dict[str, Any]:
    return json.loads(files("langchain_memos").joinpath("data/demo_conversation.json").read_text("utf-8"))


def cmd_demo(args: argparse.Namespace) -> int:
    """Ingest the sample conversation into an embedded store and answer questions from memory."""
    from .cube import MemCube, MemoryType, Provenance
    from .render import render_memory_block

    demo = _load_demo()
    directory = args.path if args.path_given else tempfile.mkdtemp(prefix="memos-demo-")
    namespace = ("users", "maya")
    results: list[dict[str, Any]] = []
    with _open(args, directory) as memos:
        cubes = []
        for s_index, session in enumerate(demo["sessions"], start=1):
            start = datetime.fromisoformat(session["date"])
            for t_index, (speaker, text) in enumerate(session["turns"], start=1):
                ref = f"S{s_index}:{t_index}"
                cubes.append(MemCube(
                    content=f"{speaker}: {text}", namespace=namespace, key=ref, memory_type=MemoryType.EPISODE,
                    created_at=start + timedelta(minutes=t_index), metadata={"speaker": speaker},
                    provenance=[Provenance(kind="message", ref=ref, thread_id=f"session-{s_index}")],
                    source="conversation", owner="maya",
                ))
        ids = memos.add(cubes, namespace)
        if not args.json:
            print(f"Stored {len(ids)} memories of a 3-session conversation in {directory}\n")
        for question in demo["questions"]:
            hits = memos.search(question, namespace, k=args.k, user="maya")
            results.append({"question": question, "hits": [_hit_dict(h) for h in hits]})
            if not args.json:
                print(f"Q: {question}")
                _print_hits(hits)
                print()
        if not args.json:
            top = memos.search(demo["questions"][0], namespace, k=3, user="maya")
            print("The memory block an agent would receive for the first question:")
            print(render_memory_block(h.cube for h in top))
    if args.json:
        print(json.dumps({"path": directory, "stored": len(cubes), "results": results}, indent=2))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Store one memory."""
    metadata = json.loads(args.metadata) if args.metadata else {}
    with _open(args) as memos:
        ids = memos.add(args.text, _namespace(args.ns), metadata=metadata, memory_type=args.type,
                        tags=args.tag or ())
    print(json.dumps({"ids": ids}) if args.json else ids[0])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Hybrid search with reasons."""
    filters = json.loads(args.filter) if args.filter else None
    with _open(args) as memos:
        hits = memos.search(args.query, _namespace(args.ns), k=args.k, filters=filters,
                            tiers=args.tier or None)
        if args.json:
            print(json.dumps([_hit_dict(h) for h in hits], indent=2))
        else:
            _print_hits(hits, indent="")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """A cube with its full history."""
    with _open(args) as memos:
        cube = memos.get(args.id, touch=False)
        if cube is None:
            print(f"no cube with id {args.id!r}", file=sys.stderr)
            return 1
        if args.json:
            print(cube.to_json())
            return 0
        print(f"{cube.id}  v{cube.version}  {cube.memory_type.value}  tier={cube.tier.value}  "
              f"status={cube.status.value}  ns={'/'.join(cube.namespace)}")
        print(f"  {cube.content}")
        print(f"  created {cube.created_at.isoformat()}  accessed {cube.access_count}x  sources {cube.source_refs}")
        for entry in cube.history:
            print(f"  - v{entry.version} ({entry.reason}, {entry.changed_at.isoformat()}): {entry.content}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check records against vectors and repair drift."""
    with _open(args) as memos:
        report = memos.check(repair=not args.no_repair)
    payload = {"records": report.records, "vectors": report.vectors, "missing_vectors": len(report.missing_vectors),
               "orphan_vectors": len(report.orphan_vectors), "repaired": report.repaired,
               "unrepaired": report.unrepaired, "ok": report.ok}
    print(json.dumps(payload) if args.json else "\n".join(f"{k}: {v}" for k, v in payload.items()))
    return 0 if report.ok else 1


def cmd_stats(args: argparse.Namespace) -> int:
    """Cubes per tier, type and status, a heat histogram, and the size on disk."""
    from .stats import memory_stats

    with _open(args) as memos:
        payload = memory_stats(memos, _namespace(args.ns))
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{payload['cubes']} cubes in {payload['namespaces']} namespaces, {payload['bytes_on_disk'] / 1e6:.2f} MB "
          "on disk")
    for title in ("by_tier", "by_type", "by_status"):
        print(f"{title.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in payload[title].items()))
    widest = max(payload["heat_histogram"].values(), default=0) or 1
    print("heat:")
    for label, n in payload["heat_histogram"].items():
        print(f"  {label:>9}  {'#' * round(30 * n / widest):<30} {n}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write every cube (history, embeddings, graph) as JSON Lines."""
    from .transfer import export_jsonl

    to_stdout = args.file == "-"
    with _open(args) as memos, (contextlib.nullcontext(sys.stdout) if to_stdout else
                                open(args.file, "w", encoding="utf-8")) as out:
        cubes = export_jsonl(memos, out, _namespace(args.ns), progress=not to_stdout and sys.stderr.isatty())
    if not to_stdout:
        print(json.dumps({"exported": cubes, "file": args.file}) if args.json else f"exported {cubes} cubes to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Restore an export (ids, versions, history and graph exactly as exported)."""
    from tqdm import tqdm

    from .transfer import import_jsonl

    with _open(args) as memos, (open(args.file, encoding="utf-8") if args.file != "-" else
                                contextlib.nullcontext(sys.stdin)) as src:
        n = import_jsonl(memos, tqdm(src, desc="import", unit="line", file=sys.stderr, disable=None))
    print(json.dumps({"imported": n}) if args.json else f"imported {n} cubes")
    return 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    """Run one lifecycle pass: expire, dedup, supersede, summarise, rebalance tiers, forget."""
    from .lifecycle import MemLifecycle

    with _open(args) as memos:
        report = MemLifecycle(memos).consolidate(_namespace(args.ns))
    payload = report.to_dict()
    print(json.dumps(payload) if args.json else "\n".join(f"{k}: {v}" for k, v in payload.items()))
    return 0


def graph_picture(memos: Any, namespace: tuple[str, ...], *, limit: int = 300) -> tuple[list[dict], list[dict]]:
    """Nodes and edges of the entity graph under ``namespace`` for :func:`~langchain_memos.graph_view.render_graph_html`
    (the ``limit`` most connected entities and the relations between them)."""
    from .graph.base import RelationQuery

    store = memos.graph
    if store is None:
        raise MemOSError("this memory has no entity graph; open it with MemOSConfig(graph_backend='sqlite')")
    relations = store.relations(RelationQuery(namespace_prefix=namespace))
    degree: dict[str, int] = {}
    for r in relations:
        degree[r.subject] = degree.get(r.subject, 0) + 1
        degree[r.object] = degree.get(r.object, 0) + 1
    entities = sorted(store.entities(namespace), key=lambda e: (-degree.get(e.id, 0), e.name))[:limit]
    kept = {e.id for e in entities}
    nodes = [{"id": e.id, "label": e.name, "kind": e.kind,
              "detail": ("aka " + ", ".join(e.aliases)) if e.aliases else ""} for e in entities]
    edges = [{"source": r.subject, "target": r.object, "label": r.predicate, "current": r.valid_to is None}
             for r in relations if r.subject in kept and r.object in kept]
    return nodes, edges


def cmd_graph(args: argparse.Namespace) -> int:
    """Write the entity graph as an interactive HTML page (or print it as JSON)."""
    from .graph_view import render_graph_html

    with _open(args) as memos:
        nodes, edges = graph_picture(memos, _namespace(args.ns), limit=args.limit)
    if args.html:
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(render_graph_html(nodes, edges, title=f"entity graph of {args.ns or 'all namespaces'}"))
    if args.json:
        print(json.dumps({"nodes": nodes, "edges": edges, "html": args.html}, indent=2))
    elif args.html:
        print(f"wrote {len(nodes)} entities and {len(edges)} relations to {args.html}; open it in a browser")
    else:
        names = {n["id"]: n["label"] for n in nodes}
        for e in edges:
            print(f"{names[e['source']]} -{e['label']}-> {names[e['target']]}{'' if e['current'] else '  (ended)'}")
    return 0


BENCHMARKS = ("locomo", "store", "lifecycle", "kv_prefix", "lora", "reliability")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one of the repository's benchmarks (``python -m benchmarks.NAME ARGS``)."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("benchmarks") is None or importlib.util.find_spec(f"benchmarks.{args.name}") is None:
        raise MemOSError(f"benchmark {args.name!r} is not importable; run `memos bench` from a source checkout of "
                         "langchain-memos (the benchmarks live in its benchmarks/ folder)")
    extra = list(args.args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return subprocess.call([sys.executable, "-m", f"benchmarks.{args.name}", *extra])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``memos``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--path", default=None, help="data directory (default: $MEMOS_PATH or ./memos_data)")
    common.add_argument("--embed", choices=EMBEDDER_NAMES, default="minilm",
                        help="embedder: offline MiniLM (default) or a cheap hashing embedder")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="memos", description="MemOS-style memory for LangGraph agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", parents=[common], help="ingest a sample conversation and answer from memory")
    p.add_argument("-k", type=int, default=3, help="memories per question")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("add", parents=[common], help="store a memory")
    p.add_argument("text")
    p.add_argument("--ns", required=True, help="namespace, e.g. users/alice")
    p.add_argument("--type", default="plaintext", help="memory type (plaintext, fact, preference...)")
    p.add_argument("--tag", action="append", help="a tag (repeatable)")
    p.add_argument("--metadata", help="JSON object of metadata")
    p.set_defaults(func=cmd_add)
    p = sub.add_parser("search", parents=[common], help="hybrid search")
    p.add_argument("query")
    p.add_argument("--ns", default="", help="namespace prefix")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--filter", help='JSON metadata filter, e.g. \'{"score": {"$gt": 3}}\'')
    p.add_argument("--tier", action="append", help="tiers to search (repeatable; default: all but archive)")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("show", parents=[common], help="a cube and its history")
    p.add_argument("id")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("doctor", parents=[common], help="integrity check and repair")
    p.add_argument("--no-repair", action="store_true", help="only report")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("stats", parents=[common], help="cubes per tier/type, heat histogram, size on disk")
    p.add_argument("--ns", default="", help="namespace prefix")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser("export", parents=[common], help="write every cube as JSON Lines (lossless)")
    p.add_argument("file", help="output file, or - for stdout")
    p.add_argument("--ns", default="", help="namespace prefix")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("import", parents=[common], help="restore a `memos export` file")
    p.add_argument("file", help="input file, or - for stdin")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("consolidate", parents=[common], help="one lifecycle pass (dedup, summaries, tiers, forget)")
    p.add_argument("--ns", default="", help="namespace prefix")
    p.set_defaults(func=cmd_consolidate)
    p = sub.add_parser("graph", parents=[common], help="the entity graph: --html FILE writes an interactive page")
    p.add_argument("--ns", default="", help="namespace prefix")
    p.add_argument("--html", help="write an interactive HTML picture here")
    p.add_argument("--limit", type=int, default=300, help="most connected entities to draw")
    p.set_defaults(func=cmd_graph)
    p = sub.add_parser("bench", help="run a benchmark: memos bench NAME [-- ARGS]")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark (see its --help)")
    p.set_defaults(func=cmd_bench, embed="hash", json=False, path=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memos`` console script."""
    args = build_parser().parse_args(argv)
    args.path_given = args.path is not None
    if args.path is None:
        args.path = os.environ.get("MEMOS_PATH", "memos_data")
    try:
        return int(args.func(args))
    except MemOSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
