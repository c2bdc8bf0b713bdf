"""Dates in text, resolved against the time the text was said into absolute ISO forms (pure).

``"last Saturday"`` said on Monday 8 May 2023 is ``"2023-05-06"``; ``"last month"`` is
``"2023-04"``; ``"two years ago"`` is ``"2021"``; ``"last week"`` is the ISO week ``"2023-W18"``.

Example:
    >>> from datetime import datetime
    >>> said = datetime(2023, 5, 8, 13, 56)  # a Monday
    >>> [d.iso for d in find_dates("I ran a charity race last Saturday, and yesterday I rested.", said)]
    ['2023-05-06', '2023-05-07']
    >>> [d.iso for d in find_dates("We met on 7 May 2023; I moved in June 2020.", said)]
    ['2023-05-07', '2020-06']
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS.pop("may", None)
_MONTHS["may"] = 5
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_WEEKDAY_RE = "|".join(_WEEKDAYS)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3}
_NUM_RE = r"\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|couple of|few"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in (
    ("dmy", rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b"),
    ("mdy", rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"),
    ("iso", r"\b(\d{4})-(\d{2})-(\d{2})\b"),
    ("my", rf"\b({_MONTH_RE})\.?,?\s+(?:of\s+)?(\d{{4}})\b"),
    ("dm", rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\b"),
    ("md", rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b"),
    ("year", r"\b(?:in|since|during|of|back in)\s+((?:19|20)\d{2})\b"),
    ("before_yesterday", r"\bthe day before yesterday\b"),
    ("yesterday", r"\byesterday\b|\blast night\b"),
    ("today", r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b"),
    ("tomorrow", r"\btomorrow\b"),
    ("ago", rf"\b({_NUM_RE})\s+(day|week|month|year)s?\s+ago\b"),
    ("weekday", rf"\b(last|this|next|past)\s+({_WEEKDAY_RE})\b"),
    ("weekend", r"\b(last|this|next|past)\s+weekend\b"),
    ("period", r"\b(last|this|next|past)\s+(week|month|year)\b"),
))


@dataclass(frozen=True)
class FoundDate:
    """A date expression and what it resolves to.

    Attributes:
        text: The expression as written.
        iso: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or an ISO week ``YYYY-Www``.
        start: Offset of ``text`` in the input.
    """

    text: str
    iso: str
    start: int


def _day(d: date) -> str:
    return d.isoformat()


def _shift_month(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def _resolve(name: str, m: re.Match[str], ref: date | None) -> str | None:
    g = m.groups()
    try:
        if name == "dmy":
            return _day(date(int(g[2]), _MONTHS[g[1].lower()], int(g[0])))
        if name == "mdy":
            return _day(date(int(g[2]), _MONTHS[g[0].lower()], int(g[1])))
        if name == "iso":
            return _day(date(int(g[0]), int(g[1]), int(g[2])))
        if name == "my":
            return f"{int(g[1]):04d}-{_MONTHS[g[0].lower()]:02d}"
        if name == "year":
            return g[0]
        if ref is None:
            return None
        if name in ("dm", "md"):
            day, month = (int(g[0]), g[1]) if name == "dm" else (int(g[1]), g[0])
            return _day(date(ref.year, _MONTHS[month.lower()], day))
    except ValueError:  # 31 February and friends
        return None
    if name == "before_yesterday":
        return _day(ref - timedelta(days=2))
    if name == "yesterday":
        return _day(ref - timedelta(days=1))
    if name == "today":
        return _day(ref)
    if name == "tomorrow":
        return _day(ref + timedelta(days=1))
    if name == "ago":
        word = g[0].lower()
        n = int(word) if word.isdigit() else _NUMBERS[word]
        unit = g[1].lower()
        if unit == "day":
            return _day(ref - timedelta(days=n))
        if unit == "week":
            return _day(ref - timedelta(days=7 * n))
        if unit == "month":
            return _shift_month(ref, -n).isoformat()[:7]
        return str(ref.year - n)
    which = g[0].lower()
    if name == "weekday":
        target = _WEEKDAYS[g[1].lower()]
        if which in ("last", "past"):
            back = (ref.weekday() - target) % 7 or 7
            return _day(ref - timedelta(days=back))
        if which == "next":
            ahead = (target - ref.weekday()) % 7 or 7
            return _day(ref + timedelta(days=ahead))
        return _day(ref + timedelta(days=target - ref.weekday()))  # this <weekday>: same ISO week
    if name == "weekend":
        saturday = ref + timedelta(days=5 - ref.weekday())  # this week's Saturday
        if which in ("last", "past"):
            saturday = saturday - timedelta(days=7) if saturday >= ref else saturday
        elif which == "next":
            saturday = saturday + timedelta(days=7) if saturday <= ref else saturday
        return _day(saturday)
    unit = g[1].lower()
    step = {"last": -1, "past": -1, "this": 0, "next": 1}[which]
    if unit == "week":
        return _week(ref + timedelta(days=7 * step))
    if unit == "month":
        return _shift_month(ref, step).isoformat()[:7]
    return str(ref.year + step)


def find_dates(text: str, said_at: datetime | date | None = None) -> list[FoundDate]:
    """Every date expression of ``text`` resolved against ``said_at`` (relative ones need it).

    Overlapping expressions keep the most specific match ("7 May 2023" rather than "May 2023");
    an impossible date ("31 February 2023") gives nothing.
    """
    ref = said_at.date() if isinstance(said_at, datetime) else said_at
    taken: list[tuple[int, int]] = []
    found: list[FoundDate] = []
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            iso = _resolve(name, m, ref)
            taken.append((m.start(), m.end()))  # an impossible "31 February 2023" hides "February 2023" too
            if iso is not None:
                found.append(FoundDate(text=m.group(0), iso=iso, start=m.start()))
    return sorted(found, key=lambda d: d.start)


__all__ = ["FoundDate", "find_dates"]
