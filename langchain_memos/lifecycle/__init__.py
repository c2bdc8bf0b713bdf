"""The memory lifecycle: heat, tiers, preload, fuse (dedup, conflicts, summaries), archive, forget.

:class:`MemLifecycle` runs each step against a :class:`~langchain_memos.memos.MemOS`;
:class:`~langchain_memos.scheduler.MemScheduler` runs them in the background and
:mod:`langchain_memos.scheduler.nodes` as LangGraph steps.

Example:
    >>> from langchain_memos.lifecycle import LifecycleConfig, TierConfig
    >>> LifecycleConfig(tiers=TierConfig(mid_term_capacity=64)).tiers.mid_term_capacity
    64
"""

from __future__ import annotations

from ..policy.llm_budget import BudgetedLLM, LLMBudget, LLMStats
from .config import FuseConfig, LifecycleConfig, PreloadConfig, TierConfig
from .manager import ConsolidationReport, LifecycleStats, MemLifecycle, PreloadResult

__all__ = [
    "BudgetedLLM",
    "ConsolidationReport",
    "FuseConfig",
    "LLMBudget",
    "LLMStats",
    "LifecycleConfig",
    "LifecycleStats",
    "MemLifecycle",
    "PreloadConfig",
    "PreloadResult",
    "TierConfig",
]
