"""Who and where: the MemOS, user, namespace and thread a node, hook, tool or checkpointer works for.

One resolver for every entry point. The MemOS comes from, in order: ``settings.memos``,
the run context (``memos``, or ``lifecycle``/``scheduler`` holding one), then
``runtime.store`` when it is a :class:`~langchain_memos.integrations.store.MemOSStore`.
The user comes from the run context (``user_id``), then ``config["configurable"]["user_id"]``,
then ``settings.default_user_id``. The thread is ``config["configurable"]["thread_id"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..lookup import get_field
from ..memos import MemOS
from .errors import MemoryNotConfiguredError, MissingUserIdError
from .settings import MemorySettings


@dataclass(frozen=True)
class MemoryScope:
    """The memory one run reads and writes.

    Attributes:
        memos: The memory system.
        user_id: The acting user (owner of what is written, reader of what is searched).
        namespace: The user's namespace.
        thread_id: The conversation thread, when the run has one.
        context: The run context (for a lifecycle or scheduler it may carry).
    """

    memos: MemOS
    user_id: str
    namespace: tuple[str, ...]
    thread_id: str | None = None
    context: Any = None


def current_config() -> dict[str, Any]:
    """The running LangGraph/LangChain config, or ``{}`` outside a run."""
    try:
        from langgraph.config import get_config

        return dict(get_config() or {})
    except Exception:  # outside a runnable context
        return {}


def current_runtime() -> Any:
    """The running graph's ``langgraph.runtime.Runtime`` (store, context), or ``None`` outside a graph run.

    Read through LangGraph's public ``get_runtime``; in async code that needs Python 3.11+
    (as LangGraph's own ``get_config``/``get_store`` do).
    """
    from langgraph.runtime import get_runtime

    try:
        return get_runtime()
    except (RuntimeError, KeyError):  # outside a runnable context, or a config without "configurable"
        return None


def resolve_memos(runtime: Any, settings: MemorySettings) -> MemOS:
    """The MemOS for this run (see the module docstring).

    Raises:
        MemoryNotConfiguredError: Nothing leads to a MemOS.
    """
    context = get_field(runtime, "context")
    for candidate in (settings.memos, get_field(context, "memos"), get_field(get_field(context, "lifecycle"), "memos"),
                      get_field(get_field(get_field(context, "scheduler"), "lifecycle"), "memos"),
                      get_field(get_field(runtime, "store"), "memos")):
        if isinstance(candidate, MemOS):
            return candidate
    raise MemoryNotConfiguredError(
        "no MemOS for this run: compile the graph with store=MemOSStore(...), pass memos= to the factory, "
        "or pass context={'memos': memos, 'user_id': ...}")


def resolve_user(runtime: Any, config: Mapping[str, Any] | None, settings: MemorySettings) -> str:
    """The acting user id (see the module docstring).

    Raises:
        MissingUserIdError: The run names no user and there is no default.
    """
    configurable = (config or {}).get("configurable") or {}
    for value in (get_field(get_field(runtime, "context"), "user_id"), configurable.get("user_id"),
                  settings.default_user_id):
        if value is not None and str(value):
            return str(value)
    raise MissingUserIdError(
        "this run names no user: pass context={'user_id': ...} (or a context with a user_id attribute), "
        "config={'configurable': {'user_id': ...}}, or MemorySettings(default_user_id=...)")


def resolve_scope(runtime: Any, config: Mapping[str, Any] | None, settings: MemorySettings) -> MemoryScope:
    """The :class:`MemoryScope` of a run from its runtime (context, store) and config."""
    config = config if config is not None else current_config()
    user = resolve_user(runtime, config, settings)
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    return MemoryScope(memos=resolve_memos(runtime, settings), user_id=user, namespace=settings.namespace_for(user),
                       thread_id=str(thread) if thread is not None else None, context=get_field(runtime, "context"))


def resolve_lifecycle(runtime: Any, scope: MemoryScope) -> Any:
    """The lifecycle manager for consolidation of ``scope``'s MemOS.

    The context's ``MemLifecycle`` (or its ``MemScheduler``'s), as
    :func:`langchain_memos.scheduler.nodes.resolve_lifecycle` finds it, when it manages
    the same MemOS; else a fresh ``MemLifecycle`` with the default policy.
    """
    from ..lifecycle import MemLifecycle
    from ..scheduler.nodes import resolve_lifecycle as from_runtime

    try:
        found = from_runtime(runtime)
    except LookupError:
        found = None
    return found if found is not None and found.memos is scope.memos else MemLifecycle(scope.memos)


def resolve_scheduler(scope: MemoryScope) -> Any:
    """The background :class:`~langchain_memos.scheduler.MemScheduler` in the context, or ``None``."""
    from ..scheduler.background import MemScheduler

    for candidate in (scope.context, get_field(scope.context, "scheduler")):
        if isinstance(candidate, MemScheduler):
            return candidate
    return None
