"""Settings shared by the memory nodes, the middleware, the memory tools and the agent factories.

Example:
    >>> from langchain_memos.integrations.settings import MemorySettings
    >>> MemorySettings().namespace_for("ann")
    ('users', 'ann')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..activation.prompts import DEFAULT_INSTRUCTIONS
from ..errors import InvalidInputError


@dataclass(frozen=True)
class MemorySettings:
    """How agents read and write memory.

    Attributes:
        namespace: Namespace template; ``{user_id}`` is replaced by the run's user, so
            users never share a namespace (the default: ``("users", "{user_id}")``).
        k: Memories injected per model call.
        tool_suggestions: Inject past tool traces for similar tasks (and their stats).
        trace_k: Tool traces shown per model call.
        stats_window: Newest traces per namespace the per-tool stats are computed over.
        instructions: Text before the memory block in the system message (used when the
            request has no system message of its own).
        default_user_id: User for runs that name none (``None``: such runs raise
            :class:`~langchain_memos.integrations.errors.MissingUserIdError`).
        consolidate_every: Run a lifecycle pass after every N-th human turn of a thread
            (``0``: never from the agent loop; a ``MemScheduler`` in the context gets the
            job in the background instead of running it inline).
        untraced_tools: Tools whose calls are not recorded as traces (the memory tools).
        memos: A MemOS to use instead of ``runtime.store`` / ``runtime.context``.
        extra: Free settings for custom nodes.
    """

    namespace: tuple[str, ...] = ("users", "{user_id}")
    k: int = 6
    tool_suggestions: bool = True
    trace_k: int = 3
    stats_window: int = 500
    instructions: str = DEFAULT_INSTRUCTIONS
    default_user_id: str | None = None
    consolidate_every: int = 10
    untraced_tools: frozenset[str] = frozenset({"search_memory", "save_memory", "forget_memory",
                                                "recall_tool_usage"})
    memos: Any = field(default=None, compare=False, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.namespace or not any("{user_id}" in part for part in self.namespace):
            raise InvalidInputError("namespace must contain '{user_id}' in one label (e.g. ('users', '{user_id}')) "
                                    "so that users never share memories")
        if self.k < 0 or self.trace_k < 0 or self.stats_window < 1 or self.consolidate_every < 0:
            raise InvalidInputError("k, trace_k and consolidate_every must be >= 0 and stats_window >= 1")

    def namespace_for(self, user_id: str) -> tuple[str, ...]:
        """The namespace of ``user_id`` (the template filled in)."""
        return tuple(part.replace("{user_id}", str(user_id)) for part in self.namespace)
