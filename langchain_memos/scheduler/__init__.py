"""The scheduler: heat, predictive preload and lifecycle jobs in the background or as graph steps.

* :class:`HeatConfig` and the pure heat function (from :mod:`langchain_memos.policy.heat`).
* :class:`MemScheduler`: background thread, bounded queue, ``wait()``/``status()``, clean shutdown.
* :func:`consolidate_node` / :func:`preload_node`: the same jobs as LangGraph nodes.

The policy itself (tiers, fuse, archive, forget, preload) lives in
:class:`langchain_memos.lifecycle.MemLifecycle`. Names are imported lazily.

Example:
    >>> from langchain_memos.scheduler import HeatConfig
    >>> HeatConfig(tau_hours=24).tau_hours
    24
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "HeatConfig": "..policy.heat",
    "heat_score": "..policy.heat",
    "cube_heat": "..policy.heat",
    "estimate_importance": "..policy.heat",
    "MemScheduler": ".background",
    "SchedulerConfig": ".background",
    "SchedulerStatus": ".background",
    "SchedulerFullError": ".background",
    "SchedulerClosedError": ".background",
    "Job": ".background",
    "JobHandle": ".background",
    "consolidate_job": ".background",
    "preload_job": ".background",
    "fuse_job": ".background",
    "expire_job": ".background",
    "consolidate_node": ".nodes",
    "preload_node": ".nodes",
    "resolve_lifecycle": ".nodes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from .background import (
        Job,
        JobHandle,
        MemScheduler,
        SchedulerClosedError,
        SchedulerConfig,
        SchedulerFullError,
        SchedulerStatus,
        consolidate_job,
        expire_job,
        fuse_job,
        preload_job,
    )
    from ..policy.heat import HeatConfig, cube_heat, estimate_importance, heat_score
    from .nodes import consolidate_node, preload_node, resolve_lifecycle
