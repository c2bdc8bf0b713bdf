"""Neutral policy pieces shared by the scheduler, the lifecycle and the graph (none of them imports another).

* :mod:`.heat`: :class:`~.heat.HeatConfig` and the pure heat function of a cube's access record.
* :mod:`.tiers`: the pure tier policy (working-set evictions, capacities, heat moves) as planned tier moves.
* :mod:`.llm_budget`: :class:`~.llm_budget.BudgetedLLM`, optional chat-model calls held to an
  :class:`~.llm_budget.LLMBudget`.

Example:
    >>> from langchain_memos.policy.heat import HeatConfig
    >>> HeatConfig(tau_hours=24).tau_hours
    24
"""
