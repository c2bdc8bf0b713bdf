"""Isolation and access control: users, shared cubes, namespace prefixes, and erasing a user.

Users own cubes in their namespace ``("users", u)`` and in a common ``("team",)``;
some cubes are shared with one other user or with everyone (``permissions.readers``).
Random queries (``search``, ``list``, ``get_many`` as a random user; store searches
under prefixes whose labels are prefixes of each other) must never return a cube the
user may not read, judged against the scenario's own record of who shared what (not
the library's ``can_read``). Writes by another user must be refused. Then users are
erased with ``MemOS.delete_user`` and every trace is looked for: records, vectors,
keyword index, audit log, forget hooks, and the raw bytes of the SQLite files.

Figures: ``isolation_queries``, ``leaks`` (cubes returned to a user who may not read
them, foreign writes accepted, traces left after erasure), ``erased``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ._shared import open_memos, open_store


def _visible(cube_id: str, user: str, owners: dict[str, str], shared: dict[str, tuple[str, ...]]) -> bool:
    readers = shared.get(cube_id, ())
    return owners[cube_id] == user or user in readers or "*" in readers


def run(path: str | Path, *, users: int = 8, cubes_per_user: int = 12, queries: int = 1000,
        erase: int = 2, seed: int = 0) -> dict[str, Any]:
    """Run the scenario in the (empty) directory ``path``; return its figures."""
    from langchain_memos.cube import MemCube, Permissions
    from langchain_memos.errors import PermissionDeniedError

    rng = random.Random(seed)
    path = Path(path)
    names = [f"u{i}" for i in range(users)]
    owners: dict[str, str] = {}
    shared: dict[str, tuple[str, ...]] = {}
    figures = {"isolation_queries": 0, "leaks": 0, "leak_examples": [], "erased": 0}

    def leak(what: str) -> None:
        figures["leaks"] += 1
        if len(figures["leak_examples"]) < 10:
            figures["leak_examples"].append(what)

    memos = open_memos(path / "memos")
    try:
        for user in names:
            cubes = []
            for i in range(cubes_per_user):
                roll = rng.random()
                readers = ("*",) if roll < 0.1 else ((rng.choice(names),) if roll < 0.3 else ())
                namespace = ("users", user) if i % 3 else ("team",)
                cube = MemCube(content=f"secret{user}marker note {i} about tea coffee {rng.choice(names)}",
                               namespace=namespace, owner=user, permissions=Permissions(readers=readers))
                owners[cube.id], shared[cube.id] = user, readers
                cubes.append(cube)
            memos.add(cubes, ("users", user))
        ids = list(owners)
        scopes = [(), ("users",), ("team",)] + [("users", u) for u in names]
        for _ in range(queries):
            user = rng.choice(names)
            kind = rng.random()
            figures["isolation_queries"] += 1
            if kind < 0.5:
                query = rng.choice(["tea", "coffee", f"secret{rng.choice(names)}marker", "note 3", ""])
                found = [h.cube for h in memos.search(query, rng.choice(scopes), k=rng.randint(1, 20), user=user)]
            elif kind < 0.7:
                found = memos.list(rng.choice(scopes), user=user, limit=200)
            elif kind < 0.9:
                found = [c for c in memos.get_many(rng.sample(ids, 10), user=user, touch=False) if c is not None]
            else:
                target = rng.choice(ids)
                if owners[target] != user:
                    try:
                        memos.update(target, content="overwritten", user=user)
                        leak(f"{user} updated {owners[target]}'s cube")
                    except PermissionDeniedError:
                        pass
                found = []
            for cube in found:
                if not _visible(cube.id, user, owners, shared):
                    leak(f"{user} saw {owners[cube.id]}'s cube {cube.id}")
        hook_calls: list[Any] = []
        memos.add_forget_hook(hook_calls.append)
        for user in names[:erase]:
            erased = memos.delete_user(user, namespaces=[("users", user)])
            figures["erased"] += len(erased)
            mine = {i for i, o in owners.items() if o == user}
            if not mine <= set(erased):
                leak(f"delete_user({user}) left cubes {sorted(mine - set(erased))[:3]}")
            if set(memos.vectors.ids()) & mine:
                leak(f"vectors of {user} left in the index")
            from langchain_memos.storage.base import CubeQuery

            if memos.records.keyword_search([f"secret{user}marker"], CubeQuery(), 10):
                leak(f"keyword index still finds {user}'s marker")
            if any(f"secret{user}marker" in repr(a.detail) or a.actor == user for a in memos.audit_log(limit=10_000)):
                leak(f"audit log still holds {user}'s content or name")
            if memos.namespaces(("users", user)):
                leak(f"namespace of {user} still listed")
        if len(hook_calls) != erase:
            leak(f"forget hooks called {len(hook_calls)} times for {erase} erasures")
    finally:
        memos.close()
    raw = b"".join(p.read_bytes() for p in (path / "memos").glob("memos.sqlite3*"))
    for user in names[:erase]:
        if f"secret{user}marker".encode() in raw:
            leak(f"{user}'s content still in the SQLite file bytes")
    figures["isolation_queries"] += _store_prefixes(path / "store", rng, queries // 4, leak)
    return figures


def _store_prefixes(path: Path, rng: random.Random, queries: int, leak: Any) -> int:
    """MemOSStore searches under prefixes that are string prefixes of sibling labels."""
    labels = ["al", "alice", "alice2", "a", "b"]
    with open_store(path) as store:
        for first in labels:
            for second in [None, *labels[:3]]:
                namespace = ("users", first) if second is None else ("users", first, second)
                store.put(namespace, "k", {"text": f"tea in {'/'.join(namespace)}"})
        for _ in range(queries):
            prefix = ("users", rng.choice(labels))[: rng.choice([1, 2])]
            if rng.random() < 0.5:
                prefix = (*prefix, rng.choice(labels)) if len(prefix) == 2 else prefix
            for item in store.search(prefix, query=rng.choice(["tea", "", "alice"]), limit=50):
                if item.namespace[: len(prefix)] != prefix:
                    leak(f"prefix {prefix} returned {item.namespace}")
    return queries
