"""Cache-stable prompt prefixes for served models (OpenAI, Anthropic, vLLM, llama.cpp servers).

Providers cache the longest prompt prefix that is byte-identical to an earlier
request. The memory block is kept byte-stable across turns (cubes sorted by date then
id, dates at day precision, no "now"), so the system message is an unchanged prefix
from one turn to the next. :func:`memory_system_message` can also mark it as an
explicit cache breakpoint (Anthropic-style ``cache_control``) for providers that take
one, and :class:`PrefixShareMeter` measures the share of prompt tokens that are an
unchanged prefix of the previous turn's prompt. Nothing here needs torch.

Example:
    >>> from langchain_memos.cube import MemCube
    >>> a = MemCube("Ana keeps bees", ("u",), id="a", created_at="2024-05-01")
    >>> b = MemCube("Ana's sister is Lee", ("u",), id="b", created_at="2024-05-02")
    >>> stable_memory_prompt([a, b]) == stable_memory_prompt([b, a])
    True
    >>> prefix_share([1, 2, 3, 4], [1, 2, 3, 9, 9])
    0.6
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from langchain_core.messages import SystemMessage

from ..cube import MemCube
from .prompts import DEFAULT_INSTRUCTIONS, memory_system_text

#: Cache-breakpoint formats :func:`memory_system_message` can write.
BREAKPOINT_FORMATS = ("anthropic",)


def stable_memory_prompt(cubes: Iterable[MemCube], instructions: str = DEFAULT_INSTRUCTIONS) -> str:
    """The byte-stable system text: instructions, then the memory block sorted by (date, id)."""
    return memory_system_text(cubes, instructions)


def memory_system_message(cubes: Iterable[MemCube], instructions: str = DEFAULT_INSTRUCTIONS, *,
                          cache_breakpoint: bool = False, breakpoint_format: str = "anthropic",
                          ttl: str | None = None) -> SystemMessage:
    """A ``SystemMessage`` holding the byte-stable memory prompt.

    Args:
        cubes: The memories to show.
        instructions: Text before the memory block.
        cache_breakpoint: Mark the end of the message as a prompt-cache breakpoint. With
            ``breakpoint_format="anthropic"`` the content becomes one text block with
            ``cache_control={"type": "ephemeral"}`` (what ``ChatAnthropic`` and Bedrock
            Converse read). OpenAI and vLLM cache prefixes automatically and need no mark.
        ttl: Optional cache lifetime for the breakpoint (e.g. ``"1h"``).
    """
    text = stable_memory_prompt(cubes, instructions)
    if not cache_breakpoint:
        return SystemMessage(text)
    if breakpoint_format not in BREAKPOINT_FORMATS:
        from .errors import PrefixMismatchError

        raise PrefixMismatchError(f"unknown breakpoint_format {breakpoint_format!r}; use one of {BREAKPOINT_FORMATS}")
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return SystemMessage(content=[{"type": "text", "text": text, "cache_control": control}])


def common_prefix_length(previous: Sequence[Any], current: Sequence[Any]) -> int:
    """Length of the longest common prefix of two token (or character) sequences."""
    n = min(len(previous), len(current))
    i = 0
    while i < n and previous[i] == current[i]:
        i += 1
    return i


def prefix_share(previous: Sequence[Any], current: Sequence[Any]) -> float:
    """Share of ``current``'s tokens that are an unchanged prefix of ``previous`` (0.0 for an empty prompt)."""
    if not current:
        return 0.0
    return common_prefix_length(previous, current) / len(current)


@dataclass
class PrefixShareMeter:
    """Measures, turn by turn, how much of each prompt is an unchanged prefix of the previous one.

    Feed it each turn's prompt tokens (from the provider's tokenizer, or any tokenizer as a
    proxy); :attr:`share` is the token-weighted share over all turns after the first, the
    part of the prompt a provider's prefix cache can serve.

    Args:
        tokenize: Optional ``str -> token ids`` used when :meth:`observe` gets text.
    """

    tokenize: Callable[[str], Sequence[Any]] | None = None
    turns: int = 0
    prompt_tokens: int = 0
    prefix_tokens: int = 0
    shares: list[float] = field(default_factory=list)
    _previous: Sequence[Any] | None = field(default=None, init=False, repr=False)

    def observe(self, prompt: Sequence[Any] | str) -> float | None:
        """Record one turn's prompt; returns its prefix share (``None`` for the first turn)."""
        tokens = self.tokenize(prompt) if isinstance(prompt, str) and self.tokenize is not None else prompt
        tokens = list(tokens)
        result = None
        if self._previous is not None:
            common = common_prefix_length(self._previous, tokens)
            self.prompt_tokens += len(tokens)
            self.prefix_tokens += common
            result = common / len(tokens) if tokens else 0.0
            self.shares.append(result)
        self._previous = tokens
        self.turns += 1
        return result

    @property
    def share(self) -> float:
        """Token-weighted share of prompt tokens that were an unchanged prefix (turns 2..n)."""
        return self.prefix_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def summary(self) -> dict[str, Any]:
        """``{"turns", "prompt_tokens", "prefix_tokens", "share", "min_share"}``."""
        return {"turns": self.turns, "prompt_tokens": self.prompt_tokens, "prefix_tokens": self.prefix_tokens,
                "share": round(self.share, 6), "min_share": round(min(self.shares), 6) if self.shares else 0.0}


__all__ = [
    "BREAKPOINT_FORMATS",
    "PrefixShareMeter",
    "common_prefix_length",
    "memory_system_message",
    "prefix_share",
    "stable_memory_prompt",
]
