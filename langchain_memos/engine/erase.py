"""I/O steps that remove memories: delete (audited), retire (for the system), expire, erase a user or namespace (forget).

Each deletes from the record store first, then drops what was derived (vectors, graph
traces) with :meth:`~.core.MemoryEngine.drop_derived`, so a crash in between is repaired
by ``MemOS.check``.

Example:
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
    ...     ids = memos.add("a note", ("users", "ann"))
    ...     forget(memos.engine, None, [("users", "ann")]) == ids
    True
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from ..cube import Status
from ..errors import PermissionDeniedError
from ..filters import Condition
from ..forget import ForgetRequest, run_forget_hooks
from ..storage.base import CubeQuery
from ..validation import validate_namespace
from .core import MemoryEngine


def delete(engine: MemoryEngine, ids: Sequence[str], reason: str, user: str | None) -> list[str]:
    """Delete cubes ``user`` may change (each delete audited with ``reason``); return the ids deleted.

    Raises:
        PermissionDeniedError: ``user`` may not change one of them (nothing is deleted).
    """
    for cube in engine.records.get(list(ids)):
        if cube is not None and not cube.can_write(user):
            raise PermissionDeniedError(f"user {user!r} may not delete cube {cube.id!r} owned by {cube.owner!r}")
    deleted = engine.records.delete(list(ids), reason=reason, actor=user)
    engine.drop_derived(deleted, reason=reason)
    return deleted


def delete_namespace(engine: MemoryEngine, namespace: Sequence[str], reason: str, user: str | None) -> list[str]:
    """Delete every cube under a namespace prefix (as :func:`delete`) and its graph; return the ids deleted."""
    namespace = validate_namespace(namespace)
    ids = engine.records.query_ids(CubeQuery(namespace_prefix=namespace, statuses=frozenset(Status),
                                             include_expired=True), order_by=None)
    deleted = delete(engine, ids, reason, user)
    if engine.graph is not None:
        engine.graph.store.delete_namespace(namespace)
    return deleted


def retire(engine: MemoryEngine, batches: Iterable[tuple[Sequence[str], str]], *, actor: str,
           reason: str) -> list[str]:
    """Delete cubes for the system (no permission check): each batch ``(ids, why)`` is audited with its
    own ``why`` as ``actor``; then what was derived from all of them is dropped (``reason`` goes to the
    change listeners). Return the ids deleted."""
    deleted: list[str] = []
    for ids, why in batches:
        if ids:
            deleted.extend(engine.records.delete(list(ids), reason=why, actor=actor))
    engine.drop_derived(deleted, reason=reason)
    return deleted


def expire(engine: MemoryEngine, when: datetime, reason: str) -> list[str]:
    """Forget every cube whose ``expires_at`` is at or before ``when``; return the ids deleted."""
    return retire(engine, [(engine.records.expired_ids(when), reason)], actor="memos:ttl", reason=reason)


def forget(engine: MemoryEngine, user: str | None, namespaces: Iterable[Sequence[str]]) -> list[str]:
    """Erase every cube ``user`` owns and every cube under ``namespaces``, with every trace (see
    ``MemOS.delete_user``), then run the forget hooks; return the ids erased."""
    prefixes = tuple(validate_namespace(ns) for ns in namespaces)
    everything = frozenset(Status)
    ids: set[str] = set()
    if user is not None:
        ids.update(engine.records.query_ids(CubeQuery(statuses=everything, include_expired=True, cube_conditions=(
            Condition(("owner",), "$eq", user),)), order_by=None))
    for prefix in prefixes:
        ids.update(engine.records.query_ids(CubeQuery(namespace_prefix=prefix, statuses=everything,
                                                      include_expired=True), order_by=None))
    wanted = sorted(ids)
    erased = engine.records.erase(wanted, namespaces=prefixes, actors=[user] if user is not None else [])
    engine.drop_derived(wanted, reason="erase")  # vectors, graph sources, change listeners (adapters go stale)
    if engine.graph is not None:
        for prefix in prefixes:
            engine.graph.store.delete_namespace(prefix)
    run_forget_hooks(engine.forget_hooks, ForgetRequest(user=user, namespaces=prefixes, cube_ids=tuple(wanted)))
    return erased


__all__ = ["delete", "delete_namespace", "expire", "forget", "retire"]
