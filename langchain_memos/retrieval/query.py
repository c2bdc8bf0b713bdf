"""Query analysis: keywords, named entities, speakers, temporal intent and date ranges.

Everything here is pure and deterministic (no model, no I/O). The result feeds
the keyword engine (``analysis.keywords``, which the engine quotes and ORs) and the ranker
(:func:`langchain_memos.retrieval.fusion.rank`, which uses ``speakers`` for the
soft speaker preference and ``time_range`` for the optional time boost).

Example:
    >>> from datetime import datetime
    >>> qa = analyze_query("When did Caroline go to the support group in May 2023?",
    ...                    speakers=("Caroline", "Melanie"))
    >>> qa.keywords
    ('caroline', 'go', 'support', 'group', 'may', '2023')
    >>> qa.speakers, qa.temporal
    (('Caroline',), True)
    >>> qa.time_range[0].date().isoformat(), qa.time_range[1].date().isoformat()
    ('2023-05-01', '2023-06-01')
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence

from .temporal import as_datetimes, question_interval

#: English stopwords removed from keyword queries (question words included).
STOPWORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below between
    both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from
    further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor not of
    off on once only or other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they they'd they'll they're
    they've this those through to too under until up very was wasn't we we'd we'll we're we've were weren't what what's
    when when's where where's which while who who's whom why why's with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves s t also just will get got one ever""".split()
)

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # words in any script
_WORD_RUN = re.compile(r"[^\W_][\w'\-]*", re.UNICODE)  # a word in any script, with inner ' and -
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_TEMPORAL_CUES = re.compile(
    r"\b(when|what (?:year|month|day|date|time)|how long|how many (?:years|months|weeks|days)|since|until|"
    r"before|after|ago|last (?:year|month|week|weekend|night)|yesterday|today|recently|first time|lately)\b",
    re.IGNORECASE,
)
# Capitalised words that are not entities when they start a question or sentence.
_NON_ENTITY = frozenset(
    "what when where who whom whose why how which did does do is are was were has have had can could would should "
    "will the a an in on at of for to and or but i my me we our you your he she it they their his her if "
    "yesterday today tomorrow".split()
) | frozenset(_MONTHS)


@dataclass(frozen=True)
class QueryAnalysis:
    """What a query asks for, as seen by classic IR.

    Attributes:
        text: The query as given.
        keywords: Lower-cased content words in order of appearance, stopwords removed, no duplicates.
        entities: Capitalised phrases (proper nouns) found in the query, plus any known ``entities``
            the query names.
        speakers: The known speakers the query names (matched on full name or first name, case-insensitive).
        temporal: True when the query asks about time ("when", "how long ago", "what year", ...).
        time_range: ``(start, end)`` half-open datetime window of the query's time expressions
            ("in May 2023", "in 2022", "last week", "yesterday", "last summer", "the week before
            16 May 2023", "between 11 and 15 August 2023"), or ``None``.
    """

    text: str
    keywords: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    temporal: bool = False
    time_range: tuple[datetime, datetime] | None = field(default=None)


def keywords(text: str, stopwords: Iterable[str] = STOPWORDS) -> tuple[str, ...]:
    """Lower-cased content tokens of ``text`` without stopwords or 1-letter tokens, deduplicated."""
    stop = stopwords if isinstance(stopwords, (set, frozenset)) else frozenset(stopwords)
    out: list[str] = []
    for w in _TOKEN.findall(text.lower()):
        if w in stop or (len(w) < 2 and not w.isdigit()):
            continue
        if w not in out:
            out.append(w)
    return tuple(out)


def _names(text: str, known: Iterable[str]) -> tuple[str, ...]:
    low = text.lower()
    found: list[str] = []
    for name in known:
        if not name:
            continue
        forms = {name.lower(), name.split()[0].lower()}
        if any(re.search(r"(?<![a-z0-9])" + re.escape(f) + r"(?![a-z0-9])", low) for f in forms):
            if name not in found:
                found.append(name)
    return tuple(found)


def entity_phrases(text: str) -> tuple[str, ...]:
    """Capitalised phrases of ``text`` that may name something (question words and months dropped).

    A phrase is a run of words that start with an upper-case letter (any script), separated
    only by white space.

    Example:
        >>> entity_phrases("When did Caroline's New York trip start? Ich wohne in München.")
        ('Caroline', 'New York', 'Ich', 'München')
    """
    runs: list[str] = []
    run: list[str] = []
    end = 0
    for m in _WORD_RUN.finditer(text):
        word = m.group(0)
        if word[0].isupper() and run and text[end:m.start()].isspace():
            run.append(word)
        else:
            if run:
                runs.append(" ".join(run))
            run = [word] if word[0].isupper() else []
        end = m.end()
    if run:
        runs.append(" ".join(run))
    found: list[str] = []
    for phrase_run in runs:
        # A possessive ends a phrase: "Caroline's New York" -> "Caroline", "New York".
        for part in re.split(r"(?<='s)\s+", phrase_run):
            words = part.split()
            while words and words[0].lower().strip("'") in _NON_ENTITY:
                words = words[1:]
            phrase = re.sub(r"'s$", "", " ".join(words)).strip("'")
            if phrase and phrase.lower() not in _NON_ENTITY and phrase not in found:
                found.append(phrase)
    return tuple(found)


def _entities(text: str, known: Iterable[str]) -> tuple[str, ...]:
    found = list(entity_phrases(text))
    for name in _names(text, known):
        if name not in found:
            found.append(name)
    return tuple(found)


def _time_range(text: str, now: datetime | None) -> tuple[datetime, datetime] | None:
    """The window a query names (:func:`~.temporal.question_interval`), as datetimes in ``now``'s zone."""
    asked = question_interval(text, now)
    return as_datetimes(asked, now.tzinfo if now is not None else None) if asked is not None else None


_THIRD_PERSON = {"his": "my", "her": "my", "hers": "mine", "he": "I", "she": "I", "him": "me", "himself": "myself",
                 "herself": "myself", "they": "we", "their": "our", "them": "us"}


def embedding_text(text: str, speakers: Sequence[str]) -> str:
    """The query as its answer would be said, for the dense index: ``"Ann: ... my ..."``.

    Memories are embedded as ``"Speaker: text"`` in the first person; a question about one
    known speaker is put the same way (the name becomes the speaker prefix and "I", third-person
    pronouns become first-person ones), so it lands nearer to what that speaker said. Queries
    naming no speaker, or several, are returned unchanged.

    Example:
        >>> embedding_text("What did Ann bake for her brother?", ["Ann"])
        'Ann: What did I bake for my brother?'
    """
    named = _names(text, speakers)
    if len(named) != 1:
        return text
    name = named[0]
    forms = sorted({name, name.split()[0]}, key=len, reverse=True)
    name_re = "|".join(re.escape(f) for f in forms)
    out = re.sub(rf"\b(?:{name_re})'s\b", "my", text, flags=re.IGNORECASE)
    out = re.sub(rf"\b(?:{name_re})\b", "I", out, flags=re.IGNORECASE)
    out = re.sub(r"\b(" + "|".join(_THIRD_PERSON) + r")\b",
                 lambda m: _THIRD_PERSON[m.group(1).lower()] if m.group(1).islower() else m.group(1), out)
    return f"{name}: {out}"


def analyze_query(
    text: str,
    *,
    speakers: Iterable[str] = (),
    entities: Iterable[str] = (),
    now: datetime | None = None,
) -> QueryAnalysis:
    """Analyse ``text`` for retrieval.

    Args:
        text: The query.
        speakers: Known speaker names of the namespace (e.g. the participants of a conversation).
            The query names a speaker when it contains the full name or the first name as a word.
        entities: Other known entity names; those named in the query are added to ``entities``.
        now: Reference instant for relative expressions ("last week", "3 days ago", "yesterday").
            Without it only absolute expressions ("May 2023", "in 2022", "7 May 2023") give a range.
    """
    known_entities = tuple(entities)
    rng = _time_range(text, now)
    return QueryAnalysis(
        text=text,
        keywords=keywords(text),
        entities=_entities(text, known_entities),
        speakers=_names(text, speakers),
        temporal=bool(_TEMPORAL_CUES.search(text)) or rng is not None,
        time_range=rng,
    )
