"""Dates in text, resolved against the time the text was said into absolute ISO forms (pure).

``"last Saturday"`` said on Monday 8 May 2023 is ``"2023-05-06"``; ``"last month"`` is
``"2023-04"``; ``"two years ago"`` is ``"2021"``; ``"last week"`` is the ISO week ``"2023-W18"``;
``"last summer"`` is the ISO interval ``"2022-06-01/2022-09-01"`` (meteorological seasons, northern
hemisphere); ``"two weekends ago"`` is the Saturday ``"2023-04-29"``. ``"the week before"`` said
alone is the week before the reference (last week); ``"the week before 16 May 2023"`` is the week
that ends on that day. Every find also carries its half-open day ``interval``, which retrieval
matches against the interval a question asks about.

Example:
    >>> from datetime import datetime
    >>> said = datetime(2023, 5, 8, 13, 56)  # a Monday
    >>> [d.iso for d in find_dates("I ran a charity race last Saturday, and yesterday I rested.", said)]
    ['2023-05-06', '2023-05-07']
    >>> [d.iso for d in find_dates("We met on 7 May 2023; I moved in June 2020.", said)]
    ['2023-05-07', '2020-06']
    >>> [d.iso for d in find_dates("Where was Ann in the week before 16 May 2023?")]
    ['2023-05-09/2023-05-16']
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = {m.casefold(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.casefold(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS.pop("may", None)
_MONTHS["may"] = 5
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_WEEKDAYS = {d.casefold(): i for i, d in enumerate(calendar.day_name)}
_WEEKDAY_RE = "|".join(_WEEKDAYS)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3}
_NUM_RE = r"\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|couple of|few"
#: Meteorological seasons (northern hemisphere): name -> first month (winter starts in December).
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_SEASON_RE = "|".join(_SEASONS)
_SPAN_DAYS = {"day": 1, "weekend": 2, "week": 7}

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in (
    ("dmy", rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b"),
    ("mdy", rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"),
    ("iso", r"\b(\d{4})-(\d{2})-(\d{2})\b"),
    ("my", rf"\b({_MONTH_RE})\.?,?\s+(?:of\s+)?(\d{{4}})\b"),
    ("dm", rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\b"),
    ("md", rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b"),
    ("season_year", rf"\b({_SEASON_RE})\s+(?:of\s+)?((?:19|20)\d{{2}})\b"),
    ("year", r"\b(?:in|since|during|of|back in)\s+((?:19|20)\d{2})\b"),
    ("before_yesterday", r"\bthe day before yesterday\b"),
    ("yesterday", r"\byesterday\b|\blast night\b"),
    ("today", r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b"),
    ("tomorrow", r"\btomorrow\b"),
    ("ago", rf"\b({_NUM_RE})\s+(day|weekend|week|month|year)s?\s+ago\b"),
    ("season", rf"\b(last|this|next|past)\s+({_SEASON_RE})\b"),
    ("weekday", rf"\b(last|this|next|past)\s+({_WEEKDAY_RE})\b"),
    ("weekend", r"\b(last|this|next|past)\s+weekend\b"),
    ("period", r"\b(last|this|next|past)\s+(week|month|year)\b"),
))


@dataclass(frozen=True)
class FoundDate:
    """A date expression and what it resolves to.

    Attributes:
        text: The expression as written.
        iso: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY``, an ISO week ``YYYY-Www`` or an ISO interval
            ``YYYY-MM-DD/YYYY-MM-DD`` (end excluded).
        start: Offset of ``text`` in the input.
        interval: The days it covers, ``(first, end)`` with ``end`` excluded (a weekend named by
            its Saturday covers Saturday and Sunday).
    """

    text: str
    iso: str
    start: int
    interval: tuple[date, date] | None = None


def iso_interval(iso: str) -> tuple[date, date]:
    """The half-open day interval ``(first, end)`` of an ISO form :func:`find_dates` gives.

    Example:
        >>> iso_interval("2023-02")
        (datetime.date(2023, 2, 1), datetime.date(2023, 3, 1))
        >>> iso_interval("2023-W18")
        (datetime.date(2023, 5, 1), datetime.date(2023, 5, 8))

    Raises:
        ValueError: ``iso`` is none of those forms.
    """
    if "/" in iso:
        first, end = iso.split("/", 1)
        return date.fromisoformat(first), date.fromisoformat(end)
    if "-W" in iso:
        year, week = iso.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return monday, monday + timedelta(days=7)
    parts = [int(p) for p in iso.split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return day, day + timedelta(days=1)
    if len(parts) == 2:
        return date(parts[0], parts[1], 1), _shift_month(date(parts[0], parts[1], 1), 1)
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0] + 1, 1, 1)
    raise ValueError(f"not an ISO date form: {iso!r}")


def _day(d: date) -> str:
    return d.isoformat()


def _shift_month(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def _span(first: date, end: date) -> str:
    return f"{first.isoformat()}/{end.isoformat()}"


def _season(name: str, year: int) -> tuple[date, date]:
    """The season ``name`` that starts in ``year`` (winter: December of ``year`` to February)."""
    first = date(year, _SEASONS[name], 1)
    return first, _shift_month(first, 3)


def _relative_season(which: str, name: str, ref: date) -> str:
    """``last``/``past``: the latest one over before ``ref``; ``this``: the one under way at ``ref``,
    else the coming one; ``next``: the first one that starts after ``ref``."""
    current = _season(name, ref.year if _SEASONS[name] != 12 or ref.month == 12 else ref.year - 1)
    if which == "this":  # the one under way, else the coming one
        return _span(*(current if current[1] > ref else _season(name, current[0].year + 1)))
    if which == "next":
        first, end = current
        return _span(*(current if first > ref else _season(name, first.year + 1)))
    first, end = current
    return _span(*(current if end <= ref else _season(name, first.year - 1)))


def _resolve(name: str, m: re.Match[str], ref: date | None, year: int | None = None) -> str | None:
    """The ISO form of one match; ``year`` is the year a day without one takes (else ``ref``'s)."""
    g = m.groups()
    try:
        if name == "season_year":
            return _span(*_season(g[0].casefold(), int(g[1])))
        if name == "dmy":
            return _day(date(int(g[2]), _MONTHS[g[1].casefold()], int(g[0])))
        if name == "mdy":
            return _day(date(int(g[2]), _MONTHS[g[0].casefold()], int(g[1])))
        if name == "iso":
            return _day(date(int(g[0]), int(g[1]), int(g[2])))
        if name == "my":
            return f"{int(g[1]):04d}-{_MONTHS[g[0].casefold()]:02d}"
        if name == "year":
            return g[0]
        if name in ("dm", "md") and (year is not None or ref is not None):
            day, month = (int(g[0]), g[1]) if name == "dm" else (int(g[1]), g[0])
            return _day(date(year if year is not None else ref.year, _MONTHS[month.casefold()], day))
        if ref is None:
            return None
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
        word = g[0].casefold()
        n = int(word) if word.isdigit() else _NUMBERS[word]
        unit = g[1].casefold()
        if unit == "day":
            return _day(ref - timedelta(days=n))
        if unit == "week":
            return _day(ref - timedelta(days=7 * n))
        if unit == "weekend":
            saturday = ref + timedelta(days=5 - ref.weekday())
            saturday = saturday - timedelta(days=7) if saturday >= ref else saturday  # last weekend
            return _day(saturday - timedelta(days=7 * (n - 1)))
        if unit == "month":
            return _shift_month(ref, -n).isoformat()[:7]
        return str(ref.year - n)
    which = g[0].casefold()
    if name == "season":
        return _relative_season(which, g[1].casefold(), ref)
    if name == "weekday":
        target = _WEEKDAYS[g[1].casefold()]
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
    unit = g[1].casefold()
    step = {"last": -1, "past": -1, "this": 0, "next": 1}[which]
    if unit == "week":
        return _week(ref + timedelta(days=7 * step))
    if unit == "month":
        return _shift_month(ref, step).isoformat()[:7]
    return str(ref.year + step)


_NEXT_YEAR = re.compile(r"^[^.?!;]{0,40}?\b((?:19|20)\d{2})\b")
_SHIFT = re.compile(r"\b(?:the\s+)?(day|weekend|week|month|year)\s+(before|after)\b(?:\s+(?:on|in)\b)?\s*",
                    re.IGNORECASE)
#: The words (case-folded) of which every date expression above contains one, or a digit (a cheap test
#: before running them all: see :func:`_date_words`).
_DATE_WORDS = frozenset({*_MONTHS, *_WEEKDAYS, *_SEASONS, "yesterday", "today", "tonight", "tomorrow", "ago", "day",
                         "weekend", "week", "month", "year", "morning", "afternoon", "evening", "night"})
_WORD_RUN = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
#: The :data:`_DATE_WORDS` (``"0"`` for a digit) each pattern of :data:`_PATTERNS` contains one of.
_NEEDS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("dmy", "mdy", "my", "dm", "md"), frozenset(_MONTHS)),
    "iso": frozenset("0"), "year": frozenset("0"), "season_year": frozenset(_SEASONS),
    "before_yesterday": frozenset({"yesterday"}), "yesterday": frozenset({"yesterday", "night"}),
    "today": frozenset({"today", "tonight", "morning", "afternoon", "evening"}), "tomorrow": frozenset({"tomorrow"}),
    "ago": frozenset({"ago"}), "season": frozenset(_SEASONS), "weekday": frozenset(_WEEKDAYS),
    "weekend": frozenset({"weekend"}), "period": frozenset({"week", "month", "year"}),
}
_RANGE_START = re.compile(r"\b(?:between|from)\s+$", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:and|to|until|till|through|-|–)\s*$", re.IGNORECASE)


def _with_interval(found: FoundDate, name: str) -> FoundDate:
    first, end = iso_interval(found.iso)
    if name in ("weekend", "ago") and found.text.casefold().rstrip().endswith(("weekend ago", "weekends ago", "weekend")):
        end = first + timedelta(days=2)
    return FoundDate(found.text, found.iso, found.start, (first, end))


def _shifted(unit: str, direction: str, anchor: tuple[date, date]) -> tuple[date, date]:
    """The ``unit`` just before the start of ``anchor``, or just after its end."""
    if unit in ("month", "year"):
        months = 1 if unit == "month" else 12
        if direction == "before":
            return _shift_month(anchor[0], -months) if anchor[0].day == 1 else anchor[0] - timedelta(days=30 * months), \
                anchor[0]
        return anchor[1], _shift_month(anchor[1], months) if anchor[1].day == 1 else anchor[1] + timedelta(days=30 * months)
    days = timedelta(days=_SPAN_DAYS[unit])
    return (anchor[0] - days, anchor[0]) if direction == "before" else (anchor[1], anchor[1] + days)


def _apply_shifts(text: str, found: list[FoundDate], ref: date | None) -> list[FoundDate]:
    """"the week before 16 May 2023" -> the 7 days before it; "the week before" alone: before ``ref``."""
    out = list(found)
    for m in _SHIFT.finditer(text):
        unit, direction = m.group(1).casefold(), m.group(2).casefold()
        anchor = next((f for f in out if f.start == m.end() and f.interval is not None), None)
        if anchor is not None:
            first, end = _shifted(unit, direction, anchor.interval)
            out[out.index(anchor)] = FoundDate(text[m.start():anchor.start + len(anchor.text)], _span(first, end),
                                               m.start(), (first, end))
        elif ref is not None and not any(f.start <= m.start() < f.start + len(f.text) for f in out):
            first, end = _shifted(unit, direction, (ref, ref + timedelta(days=1)))
            out.append(FoundDate(m.group(0).strip(), _span(first, end), m.start(), (first, end)))
    return out


def _join_ranges(text: str, found: list[FoundDate]) -> list[FoundDate]:
    """"between 11 August and 15 August 2023" -> one find from the first day to the end of the second."""
    out: list[FoundDate] = []
    for f in found:
        prev = out[-1] if out else None
        if (prev is not None and prev.interval and f.interval and _RANGE_START.search(text[:prev.start])
                and _RANGE_JOIN.match(text[prev.start + len(prev.text):f.start])):
            first, end = prev.interval[0], max(prev.interval[1], f.interval[1])
            out[-1] = FoundDate(text[prev.start:f.start + len(f.text)], _span(first, end), prev.start, (first, end))
        else:
            out.append(f)
    return out


def _date_words(text: str) -> frozenset[str]:
    """The :data:`_DATE_WORDS` that are whole words of ``text`` (case-folded), and ``"0"`` if it holds a digit
    (empty: it names no date). Words are split once and looked up in a set: a regular expression alternating
    over every date word took about two thirds of :func:`find_dates`' time."""
    words = {w for w in map(str.casefold, _WORD_RUN.findall(text)) if w in _DATE_WORDS}
    if _DIGIT.search(text):
        words.add("0")
    return frozenset(words)


def find_dates(text: str, said_at: datetime | date | None = None) -> list[FoundDate]:
    """Every date expression of ``text`` resolved against ``said_at`` (relative ones need it).

    Overlapping expressions keep the most specific match ("7 May 2023" rather than "May 2023");
    an impossible date ("31 February 2023") gives nothing. A day named without a year
    ("August 11") takes the year written soon after it in the same sentence ("... and August 15
    2023"), else the year of ``said_at``. "The week/month... before/after" shifts the date that
    follows it (or ``said_at``), and "between A and B" joins two finds into one interval.
    """
    ref = said_at.date() if isinstance(said_at, datetime) else said_at
    words = _date_words(text)
    if not words:  # one pass for the many texts that name no date
        return []
    taken: list[tuple[int, int]] = []
    found: list[FoundDate] = []
    for name, pattern in _PATTERNS:
        if words.isdisjoint(_NEEDS[name]):  # it cannot match: none of the words it needs is there
            continue
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            later = _NEXT_YEAR.match(text[m.end():]) if name in ("dm", "md") else None
            iso = _resolve(name, m, ref, int(later.group(1)) if later else None)
            taken.append((m.start(), m.end()))  # an impossible "31 February 2023" hides "February 2023" too
            if iso is not None:
                found.append(_with_interval(FoundDate(text=m.group(0), iso=iso, start=m.start()), name))
    found.sort(key=lambda d: d.start)
    return sorted(_join_ranges(text, _apply_shifts(text, found, ref)), key=lambda d: d.start)


__all__ = ["FoundDate", "find_dates", "iso_interval"]
