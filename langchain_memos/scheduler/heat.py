"""Heat, where the scheduler's users first look for it: it lives in :mod:`langchain_memos.policy.heat`.

Example:
    >>> from langchain_memos.scheduler.heat import HeatConfig
    >>> HeatConfig().use_visits
    3
"""

from __future__ import annotations

from ..policy.heat import HeatConfig, cube_heat, estimate_importance, heat_score, interaction_length, recency

__all__ = ["HeatConfig", "cube_heat", "estimate_importance", "heat_score", "interaction_length", "recency"]
