"""``MemOSCheckpointer``: any LangGraph checkpointer, plus new thread messages fed into the working tier.

Persistence is delegated unchanged to the wrapped saver (``InMemorySaver``, ``SqliteSaver``,
``AsyncSqliteSaver``, ``PostgresSaver``...): every read and write, sync and async, goes to it,
with its serializer. After a checkpoint of a root graph is stored whose ``messages`` channel
changed, the thread's new human/AI turns are stored as cubes of the run's user
(:func:`~langchain_memos.integrations._memory_ops.remember_turns`) and admitted to the
thread's working set (tier ``working``), where the scheduler's lifecycle takes over.

Feeding memory never fails a checkpoint: a run without a user, or a memory error, is
counted in :attr:`MemOSCheckpointer.stats` (with the last error) and logged.

The optional capabilities of ``BaseCheckpointSaver`` (``delete_for_runs``, ``copy_thread``,
``prune``) are offered exactly when the wrapped saver offers them.

Example:
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> from langchain_memos import MemOS
    >>> from langchain_memos.embeddings import HashingEmbeddings
    >>> memos = MemOS.ephemeral(embeddings=HashingEmbeddings())
    >>> saver = MemOSCheckpointer(InMemorySaver(), memos)
    >>> type(saver).__name__, isinstance(saver, MemOSCheckpointer)
    ('MemOSCheckpointer', True)
    >>> memos.close()
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, AsyncIterator, Iterator, Mapping, Sequence

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ..errors import InvalidInputError
from ..lookup import get_field
from ..memos import MemOS
from ._memory_ops import remember_turns
from .settings import MemorySettings

logger = logging.getLogger(__name__)

#: Where LangGraph keeps the run's ``Runtime`` (with the context) in a checkpoint config.
_RUNTIME_KEY = "__pregel_runtime"


@dataclass
class FeedStats:
    """What the checkpointer fed into memory.

    Attributes:
        checkpoints: Root checkpoints whose messages changed.
        turns: Cubes written.
        skipped_no_user: Checkpoints skipped because the run named no user.
        errors: Memory errors (the checkpoint itself was stored).
        last_error: The last error, as ``"Type: message"``.
    """

    checkpoints: int = 0
    turns: int = 0
    skipped_no_user: int = 0
    errors: int = 0
    last_error: str | None = None


def feed_plan(config: Mapping[str, Any], checkpoint: Mapping[str, Any], new_versions: Mapping[str, Any],
              settings: MemorySettings) -> tuple[str, str, list[Any]] | None:
    """(user, thread, messages) to feed for one stored checkpoint, or ``None`` (pure).

    Only root checkpoints (empty ``checkpoint_ns``) whose ``messages`` channel changed are fed.
    """
    configurable = config.get("configurable") or {}
    if configurable.get("checkpoint_ns") or "messages" not in new_versions:
        return None
    messages = (checkpoint.get("channel_values") or {}).get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    runtime = configurable.get(_RUNTIME_KEY)
    user = get_field(get_field(runtime, "context"), "user_id") or configurable.get("user_id") or \
        settings.default_user_id
    thread = configurable.get("thread_id")
    return (str(user) if user else "", str(thread) if thread is not None else "", messages)


class MemOSCheckpointer(BaseCheckpointSaver):
    """Wraps a checkpointer; delegates all persistence and feeds new messages into the working tier.

    Args:
        inner: The checkpointer that stores everything.
        memos: The MemOS the messages go to (or pass ``store=`` a ``MemOSStore``).
        store: A ``MemOSStore`` whose MemOS to use.
        settings: Namespace template and ``default_user_id`` (as for the agents).
        lifecycle: The ``MemLifecycle`` that admits turns to the working set (default: a new one).
        feed: ``False`` turns the memory feed off (a pure pass-through).
    """

    def __new__(cls, inner: BaseCheckpointSaver, *args: Any, **kwargs: Any) -> "MemOSCheckpointer":
        if cls is MemOSCheckpointer:
            supported = tuple(name for name in _EXTENSIONS if _overrides(type(inner), f"a{name}")
                              or _overrides(type(inner), name))
            cls = _variant(supported)
        return super().__new__(cls)

    def __init__(self, inner: BaseCheckpointSaver, memos: MemOS | None = None, *, store: Any = None,
                 settings: MemorySettings | None = None, lifecycle: Any = None, feed: bool = True) -> None:
        if not isinstance(inner, BaseCheckpointSaver):
            raise InvalidInputError(f"inner must be a LangGraph BaseCheckpointSaver, got {type(inner).__name__}")
        memos = memos if memos is not None else get_field(store, "memos")
        if feed and not isinstance(memos, MemOS):
            raise InvalidInputError("MemOSCheckpointer needs memos=MemOS(...) or store=MemOSStore(...) "
                                    "(or feed=False for a pass-through)")
        super().__init__(serde=inner.serde)
        self.serde = inner.serde
        self.inner = inner
        self.memos = memos
        self.settings = settings or MemorySettings()
        self.feed = feed
        self.stats = FeedStats()
        self._lifecycle = lifecycle

    # ------------------------------------------------------------------ feeding
    @property
    def lifecycle(self) -> Any:
        """The ``MemLifecycle`` that admits new turns to the thread's working set."""
        if self._lifecycle is None:
            from ..lifecycle import MemLifecycle

            self._lifecycle = MemLifecycle(self.memos)
        return self._lifecycle

    def _feed(self, config: Mapping[str, Any], checkpoint: Mapping[str, Any],
              new_versions: Mapping[str, Any]) -> None:
        if not self.feed:
            return
        plan = feed_plan(config, checkpoint, new_versions, self.settings)
        if plan is None:
            return
        user, thread, messages = plan
        self.stats.checkpoints += 1
        if not user:
            self.stats.skipped_no_user += 1
            return
        try:
            ids = remember_turns(self.memos, messages, self.settings.namespace_for(user), user_id=user,
                                 thread_id=thread or None, working=True, lifecycle=self.lifecycle)
            self.stats.turns += len(ids)
        except Exception as exc:  # memory must never fail a checkpoint; counted and logged
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("MemOSCheckpointer could not feed thread %s into memory: %s", thread,
                           self.stats.last_error)

    # ------------------------------------------------------------------ sync delegation
    @property
    def config_specs(self) -> list:
        """The wrapped checkpointer's config specs."""
        return self.inner.config_specs

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Delegated to the wrapped checkpointer."""
        return self.inner.get_tuple(config)

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[CheckpointTuple]:
        """Delegated to the wrapped checkpointer."""
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Store via the wrapped checkpointer, then feed the thread's new messages into memory."""
        stored = self.inner.put(config, checkpoint, metadata, new_versions)
        self._feed(config, checkpoint, new_versions)
        return stored

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        """Delegated to the wrapped checkpointer."""
        return self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """Delegated to the wrapped checkpointer (memories already written stay; forget them with MemOS)."""
        return self.inner.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: None) -> Any:
        """The wrapped checkpointer's version scheme."""
        return self.inner.get_next_version(current, channel)

    def get_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Mapping[str, Any]:
        """Delegated to the wrapped checkpointer."""
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    def with_allowlist(self, extra_allowlist: Any) -> "MemOSCheckpointer":
        """A wrapper over the wrapped checkpointer's ``with_allowlist`` clone (same memory feed)."""
        inner = self.inner.with_allowlist(extra_allowlist)
        if inner is self.inner:
            return self
        clone = type(self).__new__(type(self), inner)
        clone.__dict__.update(self.__dict__)
        clone.inner, clone.serde = inner, inner.serde
        return clone

    # ------------------------------------------------------------------ async delegation
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.aget_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        """Delegated to the wrapped checkpointer."""
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        """Async twin of :meth:`put` (the memory feed runs in a thread)."""
        stored = await self.inner.aput(config, checkpoint, metadata, new_versions)
        await asyncio.to_thread(self._feed, config, checkpoint, new_versions)
        return stored

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.adelete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig,
                                         channels: Sequence[str]) -> Mapping[str, Any]:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.aget_delta_channel_history(config=config, channels=channels)


# ------------------------------------------------------------------ optional capabilities
class _DeleteForRuns:
    inner: BaseCheckpointSaver

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delegated to the wrapped checkpointer."""
        return self.inner.delete_for_runs(run_ids)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.adelete_for_runs(run_ids)


class _CopyThread:
    inner: BaseCheckpointSaver

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Delegated to the wrapped checkpointer."""
        return self.inner.copy_thread(source_thread_id, target_thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.acopy_thread(source_thread_id, target_thread_id)


class _Prune:
    inner: BaseCheckpointSaver

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Delegated to the wrapped checkpointer."""
        return self.inner.prune(thread_ids, strategy=strategy)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Delegated to the wrapped checkpointer."""
        return await self.inner.aprune(thread_ids, strategy=strategy)


_EXTENSIONS: dict[str, type] = {"delete_for_runs": _DeleteForRuns, "copy_thread": _CopyThread, "prune": _Prune}


def _overrides(saver_type: type, method: str) -> bool:
    return getattr(saver_type, method, None) is not getattr(BaseCheckpointSaver, method, None)


@lru_cache(maxsize=None)
def _variant(supported: tuple[str, ...]) -> type:
    """The ``MemOSCheckpointer`` class offering exactly the optional capabilities in ``supported``."""
    if not supported:
        return type("MemOSCheckpointer", (MemOSCheckpointer,), {"__doc__": MemOSCheckpointer.__doc__,
                                                                 "__module__": __name__})
    mixins = tuple(_EXTENSIONS[name] for name in supported)
    return type("MemOSCheckpointer", (*mixins, MemOSCheckpointer), {"__doc__": MemOSCheckpointer.__doc__,
                                                                     "__module__": __name__})


__all__ = ["FeedStats", "MemOSCheckpointer", "feed_plan"]
