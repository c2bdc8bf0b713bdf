"""The activation tier: hot cubes rendered into the prompt prefix, its KV cache kept warm off the request path.

:class:`ActivationManager` takes a callable that returns the current hot cubes (the
cubes the scheduler promoted to :attr:`~langchain_memos.cube.Tier.ACTIVATION`),
renders them byte-stable into the system message, and rebuilds that prefix's KV
cache on a background thread whenever the rendered bytes change. Requests read the
last prefix whose cache is ready (:meth:`ActivationManager.system_message`), so they
always hit the cache and never wait for a rebuild.

Example:
    >>> manager = ActivationManager(chat, hot_cubes=lambda: memos.list(ns, tiers=["activation"]))  # doctest: +SKIP
    >>> manager.request_refresh()     # after the scheduler promotes or demotes cubes  # doctest: +SKIP
    >>> chat.invoke([manager.system_message(), HumanMessage("Where do I live?")])      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from langchain_core.messages import BaseMessage, SystemMessage

from ..cube import MemCube, Tier
from .kv_cache import KVPrefix
from .prompts import DEFAULT_INSTRUCTIONS, memory_system_text


@dataclass(frozen=True)
class PrefixState:
    """A rendered memory prefix whose KV cache is built.

    Attributes:
        text: The system message text (instructions + memory block).
        cube_ids: The cubes in it, in rendered order.
        token_ids: The prefix tokens whose cache is kept.
        prefix: The cached :class:`KVPrefix`.
        build_ms: Wall time of the rebuild (render + prefill of the changed tail).
        reused_tokens: Tokens taken from the previous prefix's cache instead of prefilled.
        built_at: ``time.time()`` when it became ready.
    """

    text: str
    cube_ids: tuple[str, ...]
    token_ids: tuple[int, ...]
    prefix: KVPrefix
    build_ms: float
    reused_tokens: int
    built_at: float

    @property
    def digest(self) -> str:
        """sha256 of the text (changes exactly when the prefix bytes change)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class WarmerStats:
    """Counters of an :class:`ActivationManager`."""

    refreshes: int = 0
    rebuilds: int = 0
    unchanged: int = 0
    errors: int = 0
    last_error: str | None = None


class ActivationManager:
    """Keeps the hot cubes' prefix rendered and its KV cache built, in the background.

    Args:
        chat: The :class:`~langchain_memos.activation.chat_model.ChatMemOSLocal` whose
            model and KV cache are used.
        hot_cubes: Returns the cubes of the activation tier now (called on the worker thread).
        instructions: Text before the memory block in the system message.
        max_prefix_tokens: Keep the prefix under this many tokens, dropping the coldest
            cubes (lowest ``heat``, then ``importance``) first.
        poll_interval_s: Also re-check ``hot_cubes`` every this many seconds (``None``:
            only on :meth:`request_refresh`).
        drop_stale: Remove the previous prefix from the KV cache once the new one is ready.
        start: Start the worker thread and queue a first build now.
    """

    def __init__(self, chat: Any, hot_cubes: Callable[[], Iterable[MemCube]], *,
                 instructions: str = DEFAULT_INSTRUCTIONS, max_prefix_tokens: int | None = None,
                 poll_interval_s: float | None = None, drop_stale: bool = True, start: bool = True) -> None:
        self.chat = chat
        self.hot_cubes = hot_cubes
        self.instructions = instructions
        self.max_prefix_tokens = max_prefix_tokens
        self.poll_interval_s = poll_interval_s
        self.drop_stale = drop_stale
        self.stats = WarmerStats()
        self._current: PrefixState | None = None
        self._cond = threading.Condition()
        self._pending = False
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if start:
            self.start()
            self.request_refresh()

    @classmethod
    def from_memos(cls, chat: Any, memos: Any, namespace: Sequence[str], *, limit: int = 64,
                   user: str | None = None, **kwargs: Any) -> "ActivationManager":
        """A manager whose hot cubes are ``memos.list(namespace, tiers=[Tier.ACTIVATION])``.

        Call :meth:`request_refresh` after promoting or demoting cubes (``MemOS.promote``),
        or pass ``poll_interval_s``.
        """
        def hot() -> list[MemCube]:
            return memos.list(namespace, tiers=[Tier.ACTIVATION], user=user, limit=limit)

        return cls(chat, hot, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the background worker (idempotent)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="memos-activation-warmer", daemon=True)
            self._thread.start()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker (a rebuild in progress finishes first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "ActivationManager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def request_refresh(self) -> None:
        """Ask the worker to re-check the hot set; returns at once (never builds on this thread)."""
        with self._cond:
            self._pending = True
            self._cond.notify_all()
        if self._thread is None or not self._thread.is_alive():
            self.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no refresh is queued or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def refresh_now(self) -> PrefixState:
        """Re-check the hot set and rebuild on this thread (startup, tests); returns the ready prefix."""
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._busy = True
        try:
            return self._rebuild()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    @property
    def current(self) -> PrefixState | None:
        """The prefix whose cache is ready (``None`` before the first build)."""
        return self._current

    def system_text(self) -> str:
        """The ready prefix's system text; before the first build, the instructions with an empty block."""
        state = self._current
        return state.text if state is not None else memory_system_text([], self.instructions)

    def system_message(self) -> SystemMessage:
        """:meth:`system_text` as a LangChain ``SystemMessage``."""
        return SystemMessage(self.system_text())

    def messages(self, conversation: Sequence[BaseMessage]) -> list[BaseMessage]:
        """``[system_message(), *conversation]``."""
        return [self.system_message(), *conversation]

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    if self.poll_interval_s is None:
                        self._cond.wait()
                    elif not self._cond.wait(self.poll_interval_s):
                        self._pending = True
                if self._closed:
                    return
                self._pending = False
                self._busy = True
            try:
                self._rebuild()
            except Exception as exc:  # keep serving the last good prefix
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _select(self, cubes: list[MemCube]) -> list[MemCube]:
        if self.max_prefix_tokens is None or not cubes:
            return cubes
        ranked = sorted(cubes, key=lambda c: (-c.heat, -c.importance, c.id))

        def fits(k: int) -> bool:
            ids = self.chat.system_prefix_ids(memory_system_text(ranked[:k], self.instructions))
            return len(ids) <= self.max_prefix_tokens

        lo, hi = 0, len(ranked)
        if fits(hi):
            return ranked
        while lo < hi:  # largest k that fits
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        return ranked[:lo]

    def _rebuild(self) -> PrefixState:
        self.stats.refreshes += 1
        started = time.perf_counter()
        cubes = self._select(list(self.hot_cubes()))
        text = memory_system_text(cubes, self.instructions)
        old = self._current
        cache = self.chat.kv_cache
        if old is not None and old.text == text and (cache is None or old.prefix in cache):
            self.stats.unchanged += 1
            return old
        ids = self.chat.system_prefix_ids(text)
        prefix = self.chat.warm(text)
        if prefix is None:  # the chat model has no cache: nothing to warm
            prefix = KVPrefix(self.chat.resolved_model_id, ids, ())
        order = sorted(cubes, key=lambda c: ((c.valid_from or c.created_at).isoformat(), c.id))
        state = PrefixState(text=text, cube_ids=tuple(c.id for c in order), token_ids=tuple(ids), prefix=prefix,
                            build_ms=(time.perf_counter() - started) * 1000.0, reused_tokens=prefix.reused_tokens,
                            built_at=time.time())
        self._current = state
        self.stats.rebuilds += 1
        if self.drop_stale and old is not None and cache is not None and old.prefix.key != prefix.key:
            cache.discard(old.prefix)
        return state


#: Alias: the manager is the prefix warmer of the activation tier.
PrefixWarmer = ActivationManager

__all__ = ["ActivationManager", "PrefixState", "PrefixWarmer", "WarmerStats"]
