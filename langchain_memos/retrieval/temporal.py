"""Retrieval by event time (pure): what interval a question asks about, and which memories fall in it.

A memory's *event times* are the date expressions of its text resolved against the time it
was said (:func:`~langchain_memos.graph.dates.find_dates`: "yesterday" said on 8 May 2023 is
7 May 2023, "last summer" is June-August 2022), plus the day it was said. A question's
interval comes from the same resolver, anchored to the time it is asked ("What did Ann do the
week before 16 May 2023?" asks about 9-15 May 2023).

:func:`time_signal` scores a memory for a question in [0, 1]:

* the question names an interval: the best overlap of one of the memory's event times with it,
  as a share of that event time (a day inside a month scores 1; a year overlapping a month
  scores 1/12), so what the memory says happened then counts, not just when it was said;
* the question asks *when* without naming an interval: 1 if the memory states an event time
  in words (it can answer "when"), else 0.

Example:
    >>> from datetime import datetime
    >>> said = datetime(2023, 5, 8)
    >>> time_signal(question_interval("What did Ann do in May 2023?"), True, "I ran a race yesterday.", said)
    1.0
    >>> time_signal(None, True, "I ran a race yesterday.", said), time_signal(None, True, "I like tea.", said)
    (1.0, 0.0)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Sequence

from ..graph.dates import find_dates

Interval = tuple[date, date]


def event_intervals(text: str, said_at: datetime | date | None) -> list[Interval]:
    """The day intervals the date expressions of ``text`` refer to, resolved against ``said_at``.

    Memoised (the last 8,192 texts): a search scores the same candidate memories' dates query after query.
    """
    return list(_event_intervals(text, said_at))


@lru_cache(maxsize=8192)
def _event_intervals(text: str, said_at: datetime | date | None) -> tuple[Interval, ...]:
    return tuple(d.interval for d in find_dates(text, said_at) if d.interval is not None)


def question_interval(text: str, now: datetime | None = None) -> Interval | None:
    """The days a question asks about: the span of every date expression it holds, or ``None``.

    Relative expressions ("last week", "yesterday") need ``now``.

    Example:
        >>> question_interval("Where was Ann between 11 August and 15 August 2023?")
        (datetime.date(2023, 8, 11), datetime.date(2023, 8, 16))
    """
    found = event_intervals(text, now)
    if not found:
        return None
    return min(f[0] for f in found), max(f[1] for f in found)


def as_datetimes(interval: Interval, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    """``interval`` as midnight-to-midnight datetimes (in ``tz``; naive without one)."""
    return tuple(datetime(d.year, d.month, d.day, tzinfo=tz) for d in interval)  # type: ignore[return-value]


def overlap_share(event: Interval, asked: Interval) -> float:
    """The share of ``event``'s days that lie inside ``asked`` (0 when they do not meet)."""
    days = (min(event[1], asked[1]) - max(event[0], asked[0])).days
    return max(0, days) / max(1, (event[1] - event[0]).days)


def _day_of(when: datetime | date | None) -> Interval | None:
    if when is None:
        return None
    day = when.date() if isinstance(when, datetime) else when
    return day, day + timedelta(days=1)


def time_signal(asked: Interval | None, asks_when: bool, text: str, said_at: datetime | date | None,
                events: Sequence[Interval] | None = None) -> float:
    """How well a memory's event times answer a question's time, in [0, 1] (see the module doc).

    Args:
        asked: The question's interval (:func:`question_interval`), or ``None``.
        asks_when: Whether the question asks about time (``QueryAnalysis.temporal``).
        text: The memory's text.
        said_at: When the memory was said (its ``created_at``; the anchor of its relative dates).
        events: The memory's event intervals if already resolved (else resolved from ``text``).
    """
    if asked is None and not asks_when:
        return 0.0
    found = list(events) if events is not None else event_intervals(text, said_at)
    if asked is None:
        return 1.0 if found else 0.0
    said = _day_of(said_at)
    return max((overlap_share(e, asked) for e in [*found, *([said] if said else [])]), default=0.0)


__all__ = ["Interval", "as_datetimes", "event_intervals", "overlap_share", "question_interval", "time_signal"]
