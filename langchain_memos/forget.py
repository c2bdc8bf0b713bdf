"""Forgetting a user or a namespace everywhere: the request and the hook list engines register on.

:meth:`langchain_memos.memos.MemOS.delete_user` and
:meth:`~langchain_memos.memos.MemOS.forget_namespace` erase the record store and the
vector index themselves, then call every hook registered with
:meth:`~langchain_memos.memos.MemOS.add_forget_hook`, so engines that keep their own
copies (an entity graph, LoRA adapters, KV caches, archive files) drop them too. A hook
gets one :class:`ForgetRequest` and must be idempotent: a failed erasure is retried by
calling the same method again.

Example:
    >>> from langchain_memos.forget import ForgetRequest, run_forget_hooks
    >>> seen = []
    >>> run_forget_hooks([seen.append], ForgetRequest(user="ann", namespaces=(("users", "ann"),), cube_ids=("c1",)))
    >>> seen[0].user
    'ann'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import StorageError


@dataclass(frozen=True)
class ForgetRequest:
    """What is being forgotten.

    Attributes:
        user: The user erased (``None`` when only namespaces are forgotten).
        namespaces: Namespace prefixes erased.
        cube_ids: Ids of the cubes erased from the record store.
    """

    user: str | None
    namespaces: tuple[tuple[str, ...], ...]
    cube_ids: tuple[str, ...]


#: A cleanup hook: erase every trace of the request in one engine (idempotent).
ForgetHook = Callable[[ForgetRequest], None]


def run_forget_hooks(hooks: Sequence[ForgetHook], request: ForgetRequest) -> None:
    """Call every hook; all run even when some fail.

    Raises:
        StorageError: Naming each hook that failed; calling the erasure again retries them.
    """
    failures = []
    for hook in hooks:
        try:
            hook(request)
        except Exception as exc:  # noqa: BLE001 - every hook must get its turn
            failures.append(f"{getattr(hook, '__qualname__', repr(hook))}: {type(exc).__name__}: {exc}")
    if failures:
        raise StorageError("the record store and vector index were erased, but these forget hooks failed: "
                           + "; ".join(failures) + "; fix them and call the erasure again (it is idempotent)")


__all__ = ["ForgetHook", "ForgetRequest", "run_forget_hooks"]
