"""Optional, budgeted LLM calls (lifecycle summaries and conflict checks, graph extraction).

Any LangChain ``BaseChatModel`` works. Each call is held to an :class:`LLMBudget`:
inputs are trimmed to fit ``max_input_tokens`` (a call that cannot fit is not made),
answers are cut at ``max_output_tokens``, and after ``max_calls`` calls per pass the
callers take their no-LLM path. A failing model never fails a job: the error is
counted and the no-LLM path runs.

Example:
    >>> from langchain_core.language_models import FakeListChatModel
    >>> llm = BudgetedLLM(FakeListChatModel(responses=["YES"]), LLMBudget(max_calls=1))
    >>> llm.ask("Answer YES or NO.", "Do these contradict?"), llm.ask("again?", "x")
    ('YES', None)
    >>> llm.stats.calls, llm.stats.skipped
    (1, 1)
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ..render import count_tokens

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class LLMBudget:
    """Limits of one optional LLM stage.

    Attributes:
        max_input_tokens: Largest prompt of one call (inputs are trimmed to fit; a call
            that still does not fit is skipped and the no-LLM path runs).
        max_output_tokens: Longest answer kept from one call (longer ones are cut).
        max_calls: Calls per lifecycle pass (``None`` = no limit); beyond it the no-LLM path runs.
    """

    max_input_tokens: int = 1500
    max_output_tokens: int = 200
    max_calls: int | None = 50

    def __post_init__(self) -> None:
        for name, value in (("max_input_tokens", self.max_input_tokens), ("max_output_tokens", self.max_output_tokens),
                            ("max_calls", self.max_calls)):
            if value is not None and not value > 0:
                raise ValueError(f"LLMBudget.{name} must be > 0 (or None where allowed), got {value!r}")


def cut_tokens(text: str, max_tokens: int) -> str:
    """``text`` cut after its first ``max_tokens`` tokens (as :func:`~langchain_memos.render.count_tokens` counts)."""
    if max_tokens <= 0:
        return ""
    for i, m in enumerate(_TOKEN.finditer(text)):
        if i == max_tokens:
            return text[: m.start()].rstrip()
    return text


def fit_texts(texts: Sequence[str], max_tokens: int) -> list[str]:
    """The longest prefix of ``texts`` whose total token count fits in ``max_tokens`` (the last one cut to fit)."""
    out: list[str] = []
    used = 0
    for text in texts:
        n = count_tokens(text)
        if used + n <= max_tokens:
            out.append(text)
            used += n
            continue
        rest = max_tokens - used
        if rest > 8:
            out.append(cut_tokens(text, rest))
        break
    return out


@dataclass
class LLMStats:
    """What the LLM stages used."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    skipped: int = 0
    errors: int = 0
    last_error: str | None = None


class BudgetedLLM:
    """A chat model behind an :class:`LLMBudget` (``model=None``: every call returns ``None``).

    Args:
        model: Any LangChain ``BaseChatModel`` (or ``None`` for the no-LLM path).
        budget: Per-call and per-pass limits.
    """

    def __init__(self, model: Any | None, budget: LLMBudget | None = None) -> None:
        self.model = model
        self.budget = budget or LLMBudget()
        self.stats = LLMStats()
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether a call may still be made in this pass."""
        return self.model is not None and (self.budget.max_calls is None
                                           or self._calls_this_pass() < self.budget.max_calls)

    def reset_pass(self) -> None:
        """Start a new pass: the call counter starts again (totals stay in :attr:`stats`)."""
        with self._lock:
            self._pass_calls = 0

    def _admit(self, n_in: int) -> bool:
        """Count a call if the budget allows it (else count a skip)."""
        with self._lock:
            over_calls = self.budget.max_calls is not None and self._calls_this_pass() >= self.budget.max_calls
            if over_calls or n_in > self.budget.max_input_tokens:
                self.stats.skipped += 1
                return False
            self.stats.calls += 1
            self._pass_calls = self._calls_this_pass() + 1
            self.stats.input_tokens += n_in
        return True

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"

    def ask(self, system: str, prompt: str) -> str | None:
        """One call; the answer text (cut to the output budget), or ``None`` for the no-LLM path."""
        if self.model is None or not self._admit(count_tokens(system) + count_tokens(prompt)):
            return None
        try:
            from langchain_core.messages import HumanMessage, SystemMessage

            answer = self.model.invoke([SystemMessage(system), HumanMessage(prompt)])
            text = answer.content if isinstance(answer.content, str) else " ".join(
                b.get("text", "") if isinstance(b, dict) else str(b) for b in answer.content)
        except Exception as exc:  # the no-LLM path takes over
            self._failed(exc)
            return None
        text = cut_tokens(text.strip(), self.budget.max_output_tokens)
        with self._lock:
            self.stats.output_tokens += count_tokens(text)
        return text

    def ask_structured(self, system: str, prompt: str, schema: Any) -> Any | None:
        """One call through ``model.with_structured_output(schema)``; the parsed object, or ``None``.

        The same budget as :meth:`ask` applies (a model with a ``max_tokens`` field is asked with
        ``max_tokens = max_output_tokens``); a model without structured output, a failing call or
        an unparsable answer gives ``None`` (the no-LLM path).
        """
        if self.model is None or not self._admit(count_tokens(system) + count_tokens(prompt)):
            return None
        try:
            from langchain_core.messages import HumanMessage, SystemMessage

            model = self.model
            if "max_tokens" in getattr(type(model), "model_fields", {}):
                model = model.model_copy(update={"max_tokens": self.budget.max_output_tokens})
            result = model.with_structured_output(schema).invoke([SystemMessage(system), HumanMessage(prompt)])
        except Exception as exc:  # the no-LLM path takes over
            self._failed(exc)
            return None
        dumped = result.model_dump_json() if hasattr(result, "model_dump_json") else str(result)
        with self._lock:
            self.stats.output_tokens += count_tokens(dumped)
        return result

    def _calls_this_pass(self) -> int:
        return getattr(self, "_pass_calls", 0)


__all__ = ["BudgetedLLM", "LLMBudget", "LLMStats", "cut_tokens", "fit_texts"]
