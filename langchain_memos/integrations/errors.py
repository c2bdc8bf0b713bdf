"""Typed errors of the LangGraph integration; each one names the fix."""

from __future__ import annotations

from ..errors import MemOSError


class MemoryNotConfiguredError(MemOSError, LookupError):
    """No MemOS could be found for a node, middleware hook, tool or checkpointer.

    Fix: compile the graph with ``store=MemOSStore(...)``, pass ``memos=`` to the
    factory, or put the MemOS in the run context (``context={"memos": memos, ...}``).
    """


class MissingUserIdError(MemOSError, LookupError):
    """The run names no user, so there is no namespace to read or write memories in.

    Fix: pass ``context={"user_id": ...}`` (or a context object with ``user_id``), or
    ``config={"configurable": {"user_id": ...}}``, or set ``default_user_id`` in the
    :class:`~langchain_memos.integrations.settings.MemorySettings`.
    """


class InvalidPlanError(MemOSError, ValueError):
    """The planner of the plan-and-execute graph returned no usable step.

    Fix: give the planner model clearer instructions, or raise ``max_steps``.
    """
