"""Heat: how much a cube is in use, as a pure function of its access record.

The starting point is MemoryOS's segment heat ``a*N_visit + b*L_interaction +
c*exp(-dt/tau)``. Here, for one cube at instant ``now``::

    heat = visit_weight       * V(access_count)
         + interaction_weight * min(L, interaction_cap) / interaction_cap
         + recency_weight     * R(dt)
         + importance_weight  * importance

* ``V`` is ``log1p`` of the access count (``visit_transform="log1p"``, the default:
  the hundredth read matters less than the second) or the raw count (``"linear"``, MemoryOS).
  MemOS counts an access on every search hit and explicit read (``records.touch``);
  :meth:`~langchain_memos.memos.MemOS.mark_used` (use in an answer) counts several.
* ``L`` is the interaction length: how many interactions (messages, tool calls) the
  cube folds in -- 1 for a turn, the number of sources for a summary or a merged cube.
* ``R`` is the decay curve over ``dt = now - last touch`` (``last_accessed_at``,
  else ``created_at``), in hours: ``exp(-dt / tau_hours)`` (``decay="exponential"``,
  MemoryOS) or ``(1 + dt / tau_hours) ** -power`` (``decay="power"``, a long tail,
  as in human forgetting curves).
* ``importance`` is the cube's semantic importance in ``[0, 1]`` (set at write time;
  :func:`estimate_importance` is a no-LLM estimate).

Example:
    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2024, 1, 2, tzinfo=timezone.utc)
    >>> fresh = heat_score(access_count=0, interactions=1, last_touch=now, importance=0.5, now=now)
    >>> stale = heat_score(access_count=0, interactions=1, last_touch=now - timedelta(days=30),
    ...                    importance=0.5, now=now)
    >>> round(fresh, 3), round(stale, 3)
    (2.531, 0.531)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..cube import MemCube, MemoryType, to_utc, utcnow

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
_NUMBER = re.compile(r"\b\d")
_SPEAKER = re.compile(r"^[A-Z][\w'. -]{0,40}:\s")
_FILLER = frozenset(
    "hi hey hello bye goodbye thanks thank you ok okay cool wow great nice awesome yeah yes no lol haha sure "
    "congrats congratulations glad happy see soon talk later take care sounds good amazing totally".split()
)


@dataclass(frozen=True)
class HeatConfig:
    """The constants of :func:`heat_score` (see the module docstring for the formula).

    Attributes:
        visit_weight: ``a``: weight of the (transformed) access count.
        interaction_weight: ``b``: weight of the interaction length, scaled to ``[0, 1]``.
        recency_weight: ``c``: weight of the recency decay term (1 right after a touch).
        importance_weight: ``d``: weight of the cube's semantic importance.
        tau_hours: Time constant of the decay, in hours.
        decay: ``"exponential"`` (``exp(-dt/tau)``) or ``"power"`` (``(1 + dt/tau) ** -power``).
        power: Exponent of the power-law decay.
        visit_transform: ``"log1p"`` or ``"linear"`` access counts.
        interaction_cap: Interaction lengths at or above this count fully.
        use_visits: Accesses one use in an answer counts (``mark_used``).
    """

    visit_weight: float = 1.0
    interaction_weight: float = 0.25
    recency_weight: float = 2.0
    importance_weight: float = 1.0
    tau_hours: float = 72.0
    decay: Literal["exponential", "power"] = "exponential"
    power: float = 1.0
    visit_transform: Literal["log1p", "linear"] = "log1p"
    interaction_cap: int = 8
    use_visits: int = 3

    def __post_init__(self) -> None:
        for name in ("visit_weight", "interaction_weight", "recency_weight", "importance_weight", "power"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"HeatConfig.{name} must be a finite number >= 0, got {value!r}")
        if not self.tau_hours > 0:
            raise ValueError(f"HeatConfig.tau_hours must be > 0, got {self.tau_hours!r}")
        if self.decay not in ("exponential", "power"):
            raise ValueError(f"HeatConfig.decay must be 'exponential' or 'power', got {self.decay!r}")
        if self.visit_transform not in ("log1p", "linear"):
            raise ValueError(f"HeatConfig.visit_transform must be 'log1p' or 'linear', got {self.visit_transform!r}")
        if self.interaction_cap < 1 or self.use_visits < 1:
            raise ValueError("HeatConfig.interaction_cap and use_visits must be >= 1")


def recency(hours: float, config: HeatConfig = HeatConfig()) -> float:
    """The decay curve ``R(dt)`` in ``[0, 1]`` for ``hours`` since the last touch (negative counts as 0)."""
    dt = max(0.0, float(hours))
    if config.decay == "power":
        return (1.0 + dt / config.tau_hours) ** (-config.power)
    return math.exp(-dt / config.tau_hours)


def heat_score(*, access_count: int, interactions: int, last_touch: datetime | None, importance: float,
               now: datetime, config: HeatConfig = HeatConfig()) -> float:
    """Heat of one cube (pure; see the module docstring).

    Args:
        access_count: Accesses counted so far (hits, reads, uses).
        interactions: Interaction length ``L`` (messages the cube folds in, at least 1).
        last_touch: Last access, else creation time; ``None`` gives no recency term.
        importance: Semantic importance in ``[0, 1]`` (clipped).
        now: The instant heat is computed for.
        config: The constants.
    """
    n = max(0, int(access_count))
    visits = math.log1p(n) if config.visit_transform == "log1p" else float(n)
    length = min(max(1, int(interactions)), config.interaction_cap) / config.interaction_cap
    if last_touch is None:
        fresh = 0.0
    else:
        fresh = recency((to_utc(now) - to_utc(last_touch)).total_seconds() / 3600.0, config)  # type: ignore[operator]
    imp = min(1.0, max(0.0, float(importance)))
    return (config.visit_weight * visits + config.interaction_weight * length
            + config.recency_weight * fresh + config.importance_weight * imp)


def interaction_length(cube: MemCube) -> int:
    """How many interactions a cube folds in: its message/tool provenance entries (at least 1)."""
    n = sum(1 for p in cube.provenance if p.kind != "cube")
    return max(1, n)


def cube_heat(cube: MemCube, now: datetime | None = None, config: HeatConfig = HeatConfig(), *,
              joined_at: datetime | None = None) -> float:
    """:func:`heat_score` of a cube; ``joined_at`` (when it entered a working set) counts as a touch."""
    touches = [t for t in (cube.last_accessed_at, cube.created_at, joined_at) if t is not None]
    return heat_score(access_count=cube.access_count, interactions=interaction_length(cube),
                      last_touch=max(touches) if touches else None, importance=cube.importance,
                      now=now or utcnow(), config=config)


def estimate_importance(text: str, memory_type: MemoryType | str = MemoryType.PLAINTEXT) -> float:
    """A no-LLM estimate of semantic importance in ``[0, 1]``.

    Small talk ("Thanks, see you!") scores low; statements with names, numbers,
    dates and many content words score high; facts, preferences and persona
    statements get a bonus.

    Example:
        >>> estimate_importance("Thanks!") < 0.3 < estimate_importance("I moved to Oslo in May 2023 for a job at Equinor")
        True
    """
    text = _SPEAKER.sub("", text, count=1)
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    content = [w for w in words if w not in _FILLER and len(w) > 2]
    score = 0.15 + 0.5 * min(1.0, len(content) / 12.0)
    if _CAPITAL.search(text):
        score += 0.1
    if _NUMBER.search(text):
        score += 0.1
    if len(content) <= 1:
        score = min(score, 0.2)
    if MemoryType(memory_type) in (MemoryType.FACT, MemoryType.PREFERENCE, MemoryType.PERSONA):
        score += 0.15
    return round(min(1.0, score), 3)


__all__ = ["HeatConfig", "cube_heat", "estimate_importance", "heat_score", "interaction_length", "recency"]
