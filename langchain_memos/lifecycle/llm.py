"""The budgeted LLM of the lifecycle stages: it lives in :mod:`langchain_memos.policy.llm_budget`.

Example:
    >>> from langchain_memos.lifecycle.llm import LLMBudget
    >>> LLMBudget().max_calls
    50
"""

from __future__ import annotations

from ..policy.llm_budget import BudgetedLLM, LLMBudget, LLMStats, cut_tokens, fit_texts

__all__ = ["BudgetedLLM", "LLMBudget", "LLMStats", "cut_tokens", "fit_texts"]
