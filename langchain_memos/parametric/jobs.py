"""Distillation as a :class:`~langchain_memos.scheduler.MemScheduler` job.

Example:
    >>> class Stub:
    ...     def distill_if_due(self, namespace, *, force=False):
    ...         return (namespace, force)
    >>> job = distill_job(Stub(), ("users", "alice"))
    >>> job.kind, job.key, job.run(None)
    ('distill', "distill:('users', 'alice')", (('users', 'alice'), False))
"""

from __future__ import annotations

from typing import Any, Sequence

from ..scheduler.background import Job


def distill_job(parametric: Any, namespace: Sequence[str], *, force: bool = False) -> Job:
    """A job that distills ``namespace`` when its policy says it is due (always with ``force``).

    ``parametric`` is a :class:`~.manager.ParametricMemory`; equal jobs coalesce while queued.
    The job's result is the new :class:`~.manifest.AdapterManifest`, or ``None`` when not due.
    """
    ns = tuple(namespace)
    return Job("distill", lambda _life: parametric.distill_if_due(ns, force=force), key=f"distill:{ns!r}")


__all__ = ["distill_job"]
