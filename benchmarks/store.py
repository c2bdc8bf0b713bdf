"""LangGraph store benchmark: MemOSStore against InMemoryStore and SqliteStore, side by side.

Run from the repo root::

    python -m benchmarks.store --n 100000 --embed fake --json OUT.json
    python -m benchmarks.store --n 10000 --embed minilm --json OUT.json
    python -m benchmarks.store --n 100000 --stores memos --index-worker-after none   # no index worker
    python -m benchmarks.store --scale 10000,100000,1000000 --embed fake --json OUT.json  # the scale curve

Every store gets the same workload and the same embedder (``fake``: a cheap
deterministic bag-of-hashed-words embedder, so the store itself is measured;
``minilm``: the offline MiniLM), with ``index={"dims", "embed", "fields": ["text"]}``:

* **put**: ``n`` items ``{"text", "category", "score", "user"}`` over several
  namespaces ``("bench", "userNN")``, written with ``store.batch([PutOp, ...])``
  in batches of ``--batch``; ``put_per_s`` is items per second, embedding included;
* **search**: ``--queries`` searches under ``("bench",)`` with a query text and a
  filter on ``category`` (one of 10 values, ~10% of the items), ``limit=10``;
  a few warm-up queries are run first and not counted;
* **get**: ``--gets`` single-item ``store.get`` calls on random stored keys.

``memos-server`` is MemOSStore with its vectors on a ``chroma run`` server that the
benchmark starts on loopback (a fresh one per run; its peak RSS and data count too).

``--scale N1,N2,...`` runs the whole workload once per size and store, each in a fresh
process, and adds ``disk_bytes_per_item`` (the store's files after the run, divided by
``n``; 0 for InMemoryStore) to the figures and a ``growth`` block (how search p95, put
rate, peak RSS and bytes per item change from one size to the next). A store whose
peak RSS, projected linearly from its previous size, exceeds ``--max-rss-gb`` is
skipped at that size, and the output says so.

Each store runs in its own child process (fresh interpreter, ``spawn``), so its
``peak_rss_mb`` (``ru_maxrss`` read in that child) is its own; for MemOSStore it adds
the peak of its index worker process (``index_worker_rss_mb``: the embedded Chroma
index is built there once a store has indexed ``MemOSConfig.index_worker_after`` vectors). The top level of
the JSON adds ``search_p95_speedup_vs_inmemory`` (InMemoryStore p95 / MemOSStore
p95) and ``put_ratio_vs_inmemory`` (MemOSStore put rate / InMemoryStore's).
Each store also records the 1-minute load average before and after its run:
the stores run one after another, so other work on the machine skews the
ratios (compare runs only at a low load).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ._servers import chroma_server, process_peak_rss_mb
from ._common import (FakeEmbeddings, FullCollections, environment, io_stall_ms, peak_rss_mb, percentile,
                      print_breakdown, stage_breakdown, write_json)

#: Stores compared, in table order.
STORES: tuple[str, ...] = ("memos", "inmemory", "sqlite", "memos-server")
LABELS = {"memos": "MemOSStore", "inmemory": "InMemoryStore", "sqlite": "SqliteStore",
          "memos-server": "MemOSStore+srv"}
#: Stores of a plain run and of a ``--scale`` run when ``--stores`` is not given.
DEFAULT_STORES: tuple[str, ...] = ("memos", "inmemory", "sqlite")
SCALE_STORES: tuple[str, ...] = ("memos", "memos-server", "sqlite", "inmemory")


def category_names(count: int = 10) -> tuple[str, ...]:
    """The categories of a workload whose filters each keep ~1/``count`` of the items (10: :data:`CATEGORIES`)."""
    return tuple(f"cat{i}" for i in range(count))


#: The default workload's categories: each search's filter keeps ~10% of the items.
CATEGORIES = category_names()
USERS = 20
WARMUP = 5
PREFIX = ("bench",)

_SUBJECTS = ("I", "my sister", "my manager", "our team", "the kids", "my partner", "a friend", "my neighbour",
             "the doctor", "my coach", "the landlord", "grandma")
_VERBS = ("prefers", "booked", "cancelled", "loves", "forgot", "recommended", "paid for", "moved", "asked about",
          "scheduled", "returned", "borrowed", "planned", "tried", "hated", "ordered")
_OBJECTS = ("green tea", "a dentist appointment", "the flight to Lisbon", "oat milk lattes", "a pottery class",
            "the quarterly report", "a new bike", "the gym membership", "sushi for dinner", "a guitar lesson",
            "the car insurance", "a hiking trip", "the library books", "a birthday cake", "spanish lessons",
            "the rent payment", "a vet visit", "concert tickets", "a yoga retreat", "the garden fence")
_WHEN = ("on monday", "on tuesday", "on wednesday", "on thursday", "on friday", "this weekend", "last night",
         "next month", "in the morning", "after work", "before the holidays", "every sunday")
_WHERE = ("downtown", "near the office", "at the old market", "online", "in Berlin", "at the lake house",
          "by the station", "at home", "in the city centre", "at the community hall")


def _sentence(rng: random.Random) -> str:
    return (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_WHEN)} {rng.choice(_WHERE)}")


def make_items(n: int, seed: int, categories: tuple[str, ...] = CATEGORIES,
               ) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    """``n`` deterministic ``(namespace, key, value)`` items over ``USERS`` namespaces, each in one of ``categories``."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        user = f"user{rng.randrange(USERS):02d}"
        # unique texts: InMemoryStore cannot index two equal texts in one batch
        value = {"text": f"{_sentence(rng)} (note {i})", "category": rng.choice(categories), "score": rng.randrange(100),
                 "user": user}
        items.append(((*PREFIX, user), f"item-{i:07d}", value))
    return items


def make_queries(count: int, seed: int, categories: tuple[str, ...] = CATEGORIES) -> list[tuple[str, dict[str, Any]]]:
    """``count`` deterministic ``(query, filter)`` pairs; each filter keeps one of ``categories`` (by default ~10% of
    the items)."""
    rng = random.Random(seed + 1)
    return [(_sentence(rng), {"category": rng.choice(categories)}) for _ in range(count)]


def make_embeddings(kind: str, dims: int) -> Any:
    """The embedder every store uses (``fake`` or ``minilm``)."""
    if kind == "fake":
        return FakeEmbeddings(dims)
    if kind == "minilm":
        from langchain_memos.embeddings import MINILM_DIMS, LocalMiniLMEmbeddings

        if dims != MINILM_DIMS:
            raise SystemExit(f"--embed minilm needs --dims {MINILM_DIMS}")
        return LocalMiniLMEmbeddings()
    raise SystemExit(f"unknown --embed {kind!r}; use fake or minilm")


@contextmanager
def open_store(name: str, directory: Path, index: dict[str, Any],
               index_worker_after: int | None | str = "default",
               server: tuple[str, int] | None = None) -> Iterator[Any]:
    """Open one store under test in ``directory`` (closed on exit).

    ``index_worker_after``: MemOSStore's ``MemOSConfig.index_worker_after`` (``"default"`` keeps the default).
    ``server``: ``(host, port)`` of the Chroma server that ``memos-server`` keeps its vectors on.
    """
    if name in ("memos", "memos-server"):
        from langchain_memos.config import MemOSConfig
        from langchain_memos.integrations import MemOSStore

        config = MemOSConfig(path=str(directory / "memos"))
        if name == "memos-server":
            if server is None:
                raise SystemExit("memos-server needs a running Chroma server")
            config.vector_backend, (config.chroma_host, config.chroma_port) = "chroma-http", server
        elif index_worker_after != "default":
            config.index_worker_after = index_worker_after  # type: ignore[assignment]
        with MemOSStore.from_config(config, index=index) as store:
            yield store
    elif name == "inmemory":
        from langgraph.store.memory import InMemoryStore

        yield InMemoryStore(index=index)
    elif name == "sqlite":
        # this machine's stdlib sqlite3 cannot load extensions (sqlite-vec); pysqlite3 can
        import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
        from langgraph.store.sqlite import SqliteStore

        conn = sqlite3.connect(str(directory / "store.sqlite"), check_same_thread=False, isolation_level=None)
        try:
            store = SqliteStore(conn, index=index)
            store.setup()
            yield store
        finally:
            conn.close()
    else:
        raise SystemExit(f"unknown store {name!r}; use {', '.join(STORES)}")


def run_store(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run the whole workload on one store (meant for a fresh child process) and return its figures."""
    from langgraph.store.base import PutOp
    from tqdm import tqdm

    n, seed, batch, progress = options["n"], options["seed"], options["batch"], options["progress"]
    categories = category_names(options.get("categories", len(CATEGORIES)))
    items = make_items(n, seed, categories)
    queries = make_queries(options["queries"] + WARMUP, seed, categories)
    rng = random.Random(seed + 2)
    gets = [rng.choice(items)[:2] for _ in range(options["gets"])] if items else []
    embeddings = make_embeddings(options["embed"], options["dims"])
    index = {"dims": options["dims"], "embed": embeddings, "fields": ["text"]}
    label = LABELS[name]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, \
            open_store(name, Path(tmp), index, options.get("index_worker_after", "default"),
                       options.get("server")) as store:
        put_s = 0.0
        with tqdm(total=n, desc=f"put {label}", unit="item", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, n, batch):
                ops = [PutOp(ns, key, value) for ns, key, value in items[start:start + batch]]
                t0 = time.perf_counter()
                store.batch(ops)
                put_s += time.perf_counter() - t0
                bar.update(len(ops))
        search_ms: list[float] = []
        stages: list[Any] = []
        stalled_before: float | None = None
        hits = 0
        wrong = 0
        with FullCollections() as full:
            for i, (query, flt) in enumerate(tqdm(queries, desc=f"search {label}", unit="q", disable=not progress,
                                                  file=sys.stderr)):
                if i == WARMUP:
                    full.reset()  # only the timed searches count
                    stalled_before = io_stall_ms()
                t0 = time.perf_counter()
                found = store.search(PREFIX, query=query, filter=flt, limit=10)
                elapsed = (time.perf_counter() - t0) * 1000.0
                if i >= WARMUP:
                    search_ms.append(elapsed)
                    if hasattr(found, "timings"):  # MemOSStore's results carry their stage breakdown
                        stages.append(found.timings)
                    hits += len(found)
                    wrong += sum(1 for it in found if it.value.get("category") != flt["category"])
        stalled_after = io_stall_ms()
        get_ms: list[float] = []
        missing = 0
        for ns, key in tqdm(gets, desc=f"get {label}", unit="get", disable=not progress, file=sys.stderr):
            t0 = time.perf_counter()
            item = store.get(ns, key)
            get_ms.append((time.perf_counter() - t0) * 1000.0)
            missing += item is None
        worker_rss = _index_worker_rss_mb(store)
        disk = directory_bytes(Path(tmp)) + (directory_bytes(Path(options["server_data"]))
                                             if options.get("server_data") else 0)
    server_rss = process_peak_rss_mb(options["server_pid"]) if options.get("server_pid") else 0.0
    return {
        "store": label,
        "n": n,
        "put_per_s": n / put_s if put_s > 0 else 0.0,
        "put_s": put_s,
        "search_ms_p50": percentile(search_ms, 50),
        "search_ms_p95": percentile(search_ms, 95),
        "search_stages_ms": stage_breakdown(stages),
        # Python's full collections during the timed searches: a pause in whichever search is running
        "search_full_gc": full.as_dict(),
        # machine-wide time some task waited on I/O during the timed searches (None: not reported here)
        "search_io_stall_ms": (round(stalled_after - stalled_before, 1)
                               if stalled_before is not None and stalled_after is not None else None),
        "search_hits_mean": hits / len(search_ms) if search_ms else 0.0,
        "search_wrong_category": wrong,
        "get_ms_p50": percentile(get_ms, 50),
        "get_missing": missing,
        # this process plus MemOSStore's index worker process, when one ran, plus the Chroma server's
        "peak_rss_mb": peak_rss_mb() + worker_rss + server_rss,
        "index_worker_rss_mb": worker_rss,
        "server_rss_mb": server_rss,
        "disk_bytes_per_item": disk / n,
        # 1-minute load average before and after: a busy machine (other processes) skews the figures
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg()[0],
    }


def directory_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def run_isolated(name: str, options: dict[str, Any], in_process: bool = False) -> dict[str, Any]:
    """Run one store's workload in a fresh ``spawn`` child (or here), with a fresh Chroma server for ``memos-server``."""
    if name == "memos-server":
        with tempfile.TemporaryDirectory(prefix="bench-chroma-server-") as tmp:
            data = Path(tmp) / "data"
            with chroma_server(data) as server:
                return run_isolated("memos", {**options, "server": (server.host, server.port),
                                              "server_pid": server.pid, "server_data": str(data),
                                              "store": name}, in_process)
    name = options.get("store", name)
    if in_process:
        return run_store(name, options)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_store, name, options).result()


def run_scale(sizes: Sequence[int], names: Sequence[str], options: dict[str, Any], max_rss_mb: float,
              in_process: bool = False, on_store: Callable[[dict[str, dict[str, dict[str, Any]]]], None] | None = None,
              ) -> dict[str, dict[str, dict[str, Any]]]:
    """The workload at each size (ascending) for each store: ``{str(size): {store: figures}}``.

    A store is skipped at a size where its peak RSS, projected linearly from its
    previous size, exceeds ``max_rss_mb``; its entry then holds ``skipped`` (the reason).
    ``on_store`` gets the curve so far after each store (a long run keeps what it measured).
    """
    curve: dict[str, dict[str, dict[str, Any]]] = {}
    last: dict[str, dict[str, Any]] = {}
    for size in sorted(sizes):
        row: dict[str, dict[str, Any]] = curve.setdefault(str(size), {})
        for name in names:
            prev = last.get(name)
            projected = prev["peak_rss_mb"] * size / prev["n"] if prev else 0.0
            if projected > max_rss_mb:
                row[name] = {"store": LABELS.get(name, name), "n": size, "skipped": (
                    f"projected peak RSS {projected / 1024:.1f} GiB (linear from {prev['n']:,} items) is over the "
                    f"{max_rss_mb / 1024:.1f} GiB budget (--max-rss-gb)")}
                continue
            row[name] = last[name] = run_isolated(name, {**options, "n": size}, in_process)
            if on_store is not None:
                on_store(curve)
    return curve


def growth(curve: dict[str, dict[str, dict[str, Any]]]) -> dict[str, list[dict[str, float]]]:
    """Per store, how each cost changes from one measured size to the next (``x``: the factor)."""
    out: dict[str, list[dict[str, float]]] = {}
    sizes = sorted(curve, key=int)
    for name in {name for row in curve.values() for name in row}:
        measured = [curve[s][name] for s in sizes if name in curve[s] and "skipped" not in curve[s][name]]
        out[name] = [{"from_n": a["n"], "to_n": b["n"], "items_x": b["n"] / a["n"],
                      "search_p95_x": _ratio(b["search_ms_p95"], a["search_ms_p95"]),
                      "put_per_s_x": _ratio(b["put_per_s"], a["put_per_s"]),
                      "peak_rss_x": _ratio(b["peak_rss_mb"], a["peak_rss_mb"]),
                      "disk_bytes_per_item_x": _ratio(b["disk_bytes_per_item"], a["disk_bytes_per_item"])}
                     for a, b in zip(measured, measured[1:])]
    return out


def _index_worker_rss_mb(store: Any) -> float:
    """Peak RSS of MemOSStore's index worker process (0 for other stores, or while it indexes inline)."""
    vectors = getattr(getattr(store, "memos", None), "vectors", None)
    return float(vectors.peak_rss_mb()) if hasattr(vectors, "peak_rss_mb") else 0.0


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The acceptance ratios of MemOSStore against each peer that ran beside it."""
    ran = {name: r for name, r in results.items() if "skipped" not in r}
    memos, out = ran.get("memos"), {}
    if memos and "inmemory" in ran:
        out["search_p95_speedup_vs_inmemory"] = _ratio(ran["inmemory"]["search_ms_p95"], memos["search_ms_p95"])
        out["put_ratio_vs_inmemory"] = _ratio(memos["put_per_s"], ran["inmemory"]["put_per_s"])
    if memos and "sqlite" in ran:
        out["search_p95_speedup_vs_sqlite"] = _ratio(ran["sqlite"]["search_ms_p95"], memos["search_ms_p95"])
    return out


def print_table(results: dict[str, dict[str, Any]], ratios: dict[str, float]) -> None:
    """Print the results as a small table (a skipped store as one line saying why)."""
    header = (f"{'store':<14} {'n':>9} {'put/s':>8} {'search p50 ms':>14} {'search p95 ms':>14} {'get p50 ms':>11} "
              f"{'peak RSS MB':>12} {'disk B/item':>12}")
    print(header)
    print("-" * len(header))
    for r in results.values():
        if "skipped" in r:
            print(f"{r['store']:<14} {r['n']:>9} skipped: {r['skipped']}")
            continue
        print(f"{r['store']:<14} {r['n']:>9} {r['put_per_s']:>8.0f} {r['search_ms_p50']:>14.2f} "
              f"{r['search_ms_p95']:>14.2f} {r['get_ms_p50']:>11.3f} {r['peak_rss_mb']:>12.0f} "
              f"{r['disk_bytes_per_item']:>12.0f}")
    for r in results.values():
        print_breakdown(f"{r['store']} n={r['n']}", r.get("search_stages_ms", {}))
        full, stalled = r.get("search_full_gc"), r.get("search_io_stall_ms")
        if full is not None:  # every store that ran has both (a skipped one has neither)
            print(f"{r['store']} n={r['n']} during the timed searches: {full['count']} full GC collections "
                  f"({full['total_ms']:.0f} ms), I/O stall (machine-wide) "
                  + (f"{stalled:.0f} ms" if stalled is not None else "not reported"))
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")


def print_growth(steps: dict[str, list[dict[str, float]]]) -> None:
    """Print how each store's costs grow from one size to the next."""
    for name, rows in sorted(steps.items()):
        for g in rows:
            print(f"{LABELS[name]} {g['from_n']:,} -> {g['to_n']:,} items (x{g['items_x']:.0f}): "
                  f"search p95 x{g['search_p95_x']:.2f}, put/s x{g['put_per_s_x']:.2f}, "
                  f"peak RSS x{g['peak_rss_x']:.2f}, disk/item x{g['disk_bytes_per_item_x']:.2f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table, write JSON if asked, return the payload."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="items to put (default: %(default)s)")
    parser.add_argument("--embed", choices=["fake", "minilm"], default="fake", help="embedder (default: fake)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--stores", default=None,
                        help=f"comma-separated stores among {', '.join(STORES)} (default: "
                             f"{','.join(DEFAULT_STORES)}; with --scale {','.join(SCALE_STORES)})")
    parser.add_argument("--scale", default=None,
                        help="comma-separated sizes (e.g. 10000,100000,1000000): the workload at each size")
    parser.add_argument("--max-rss-gb", type=float, default=_default_max_rss_gb(),
                        help="with --scale, skip a store whose projected peak RSS is over this (default: 3/4 of "
                             "this machine's memory, %(default).1f)")
    parser.add_argument("--queries", type=int, default=200, help="timed searches (default: %(default)s)")
    parser.add_argument("--gets", type=int, default=200, help="timed gets (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=500, help="PutOps per store.batch call (default: %(default)s)")
    parser.add_argument("--dims", type=int, default=384, help="embedding dimensions (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="workload seed (default: %(default)s)")
    parser.add_argument("--categories", type=int, default=len(CATEGORIES),
                        help="categories of the items; each search's filter keeps one, ~1/N of the items "
                             "(default: %(default)s)")
    parser.add_argument("--index-worker-after", default="default",
                        help="MemOSStore's MemOSConfig.index_worker_after: a number of vectors, or 'none' to "
                             "index in the store's own process (default: the config's default)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every store in this process (for profiling; peak RSS is then shared)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    default_stores = SCALE_STORES if args.scale else DEFAULT_STORES
    names = [s.strip() for s in (args.stores or ",".join(default_stores)).split(",") if s.strip()]
    unknown = sorted(set(names) - set(STORES))
    try:
        sizes = [int(v) for v in args.scale.split(",")] if args.scale else []
    except ValueError:
        parser.error(f"--scale takes comma-separated sizes, got {args.scale!r}")
    if (unknown or args.n < 1 or args.batch < 1 or args.queries < 1 or args.gets < 1 or args.categories < 1
            or any(v < 1 for v in sizes)):
        parser.error(f"bad arguments: stores must be among {', '.join(STORES)} (got {unknown or 'ok'}); "
                     "n, the --scale sizes, batch, queries, gets and categories must be >= 1")
    worker_after: int | None | str = args.index_worker_after
    if worker_after == "none":
        worker_after = None
    elif worker_after != "default":
        try:
            worker_after = int(worker_after)
        except ValueError:
            parser.error(f"--index-worker-after takes a number or 'none', got {args.index_worker_after!r}")
    options = {"n": args.n, "embed": args.embed, "dims": args.dims, "seed": args.seed, "batch": args.batch,
               "queries": args.queries, "gets": args.gets, "progress": not args.no_progress,
               "index_worker_after": worker_after, "categories": args.categories}
    workload = {**{k: v for k, v in options.items() if k != "progress"}, "namespaces": USERS,
                "limit": 10, "warmup": WARMUP, "isolated_processes": not args.in_process}
    payload: dict[str, Any] = {"benchmark": "store", "environment": environment(), "embed": args.embed}
    if sizes:
        def keep(curve_so_far: dict[str, dict[str, dict[str, Any]]]) -> None:
            write_json(args.json, {**payload, "workload": {**workload, "n": sizes}, "scale": curve_so_far,
                                   "partial": True})

        curve = run_scale(sizes, names, options, args.max_rss_gb * 1024, args.in_process, on_store=keep)
        for size, row in curve.items():
            print(f"\n{int(size):,} items")
            print_table(row, summarise(row))
        steps = growth(curve)
        print()
        print_growth(steps)
        payload.update(workload={**workload, "n": sizes}, scale=curve, growth=steps,
                       ratios={size: summarise(row) for size, row in curve.items()})
    else:
        results = {name: run_isolated(name, options, args.in_process) for name in names}
        ratios = summarise(results)
        payload.update(workload=workload, stores=results, **ratios)
        print_table(results, ratios)
    write_json(args.json, payload)
    return payload


def _default_max_rss_gb() -> float:
    """Three quarters of this machine's physical memory in GiB (8 where it cannot be read)."""
    try:
        return 0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0


if __name__ == "__main__":
    main()
