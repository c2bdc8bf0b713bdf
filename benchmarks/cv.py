"""Leave-one-conversation-out scoring of a retrieval system over a grid of settings (pure).

Every question is answered once per setting of the grid (:class:`QuestionRun`). Then, for
each conversation, the setting with the best mean recall@``select_k`` on the *other*
conversations is chosen and only that setting's answers score the held-out conversation
(:func:`cross_validated`). A setting may replace the default (the grid's first) only where it
lowers no question category's recall on the conversations it is chosen on: a default may not
trade one kind of question for another. The in-sample figure (:func:`in_sample`) picks the setting with
the best recall on all conversations and scores it on the same ones: the gap between the
two says how much the tuned constants fit the data they were tuned on.

Example:
    >>> runs = [QuestionRun("c1", 4, ("D1:1",), {"a": ("D1:1",), "b": ("D1:2",)}, {"a": 3, "b": 3}),
    ...         QuestionRun("c2", 4, ("D1:2",), {"a": ("D1:1",), "b": ("D1:2",)}, {"a": 3, "b": 3})]
    >>> [s.setting for s in cross_validated(runs, select_k=1)]  # each fold picks the other's best
    ['b', 'a']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class QuestionRun:
    """One question answered under every setting of a grid.

    Attributes:
        conversation: The conversation it belongs to (the unit of the folds).
        category: The question's category number.
        evidence: The dia_ids that answer it.
        refs: Setting name -> the retrieved dia_ids, best first (at most the largest k).
        tokens: Setting name -> tokens of the context shown for it.
    """

    conversation: str
    category: int
    evidence: tuple[str, ...]
    refs: Mapping[str, Sequence[str]]
    tokens: Mapping[str, int]

    def recall(self, setting: str, k: int) -> float:
        """Share of the evidence among the first ``k`` dia_ids retrieved under ``setting``."""
        top = set(self.refs[setting][:k])
        return sum(1 for e in self.evidence if e in top) / len(self.evidence)


@dataclass(frozen=True)
class Scored:
    """A question scored under the setting its fold chose."""

    run: QuestionRun
    setting: str


def _category_recall(runs: Sequence[QuestionRun], setting: str, k: int) -> dict[int, float]:
    """Mean recall@k per question category under ``setting``."""
    totals: dict[int, list[float]] = {}
    for r in runs:
        totals.setdefault(r.category, []).append(r.recall(setting, k))
    return {c: sum(v) / len(v) for c, v in totals.items()}


def _best(runs: Sequence[QuestionRun], settings: Sequence[str], k: int) -> str:
    """The setting with the highest mean recall@k over ``runs`` (ties: the first listed), among the
    default (the first) and the settings whose recall in no category is below the default's."""
    floor = _category_recall(runs, settings[0], k)
    eligible = [s for s in settings
                if all(v >= floor[c] - 1e-12 for c, v in _category_recall(runs, s, k).items())]
    return max(eligible, key=lambda s: (sum(r.recall(s, k) for r in runs), -settings.index(s)))


def cross_validated(runs: Sequence[QuestionRun], *, select_k: int) -> list[Scored]:
    """Each question scored under the setting chosen on the other conversations (leave one out).

    With a single conversation there is nothing to fit on: the first setting (the default) is used.
    """
    if not runs:
        return []
    settings = list(runs[0].refs)
    conversations = list(dict.fromkeys(r.conversation for r in runs))
    chosen: dict[str, str] = {}
    for held_out in conversations:
        train = [r for r in runs if r.conversation != held_out]
        chosen[held_out] = _best(train, settings, select_k) if train else settings[0]
    return [Scored(r, chosen[r.conversation]) for r in runs]


def in_sample(runs: Sequence[QuestionRun], *, select_k: int) -> list[Scored]:
    """Every question scored under the one setting that is best on all of them."""
    if not runs:
        return []
    best = _best(runs, list(runs[0].refs), select_k)
    return [Scored(r, best) for r in runs]


def fixed(runs: Sequence[QuestionRun], setting: str) -> list[Scored]:
    """Every question scored under ``setting``."""
    return [Scored(r, setting) for r in runs]


def choices(scored: Sequence[Scored]) -> dict[str, str]:
    """Conversation -> the setting its fold used."""
    return {s.run.conversation: s.setting for s in scored}


__all__ = ["QuestionRun", "Scored", "choices", "cross_validated", "fixed", "in_sample"]
