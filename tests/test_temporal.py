"""Event-time resolution and the time signal, on dates and phrasings written for these tests."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from langchain_memos.graph.dates import find_dates, iso_interval
from langchain_memos.retrieval.fusion import Candidate, RetrievalConfig, rank
from langchain_memos.retrieval.query import analyze_query
from langchain_memos.retrieval.temporal import event_intervals, overlap_share, question_interval, time_signal

THURSDAY = datetime(2021, 10, 14, 18, 30)  # a Thursday in autumn


def _days(first: str, end: str) -> tuple[date, date]:
    return date.fromisoformat(first), date.fromisoformat(end)


@pytest.mark.parametrize("text, interval", [
    ("we hiked yesterday", _days("2021-10-13", "2021-10-14")),
    ("my cousin visited the week before", _days("2021-10-07", "2021-10-14")),
    ("the kayak trip was last summer", _days("2021-06-01", "2021-09-01")),
    ("we are skiing this winter", _days("2021-12-01", "2022-03-01")),
    ("the garden opens next spring", _days("2022-03-01", "2022-06-01")),
    ("I baked bread two weekends ago", _days("2021-10-02", "2021-10-04")),
    ("I quit smoking 3 years ago", _days("2018-01-01", "2019-01-01")),
    ("the choir sang a couple of days ago", _days("2021-10-12", "2021-10-13")),
    ("back in 2009 I lived by the sea", _days("2009-01-01", "2010-01-01")),
    ("in March 2020 the shop closed", _days("2020-03-01", "2020-04-01")),
    ("the gig was on 2 September", _days("2021-09-02", "2021-09-03")),
    ("I was away the month after July 2019", _days("2019-08-01", "2019-09-01")),
    ("we sailed in winter 2017", _days("2017-12-01", "2018-03-01")),
])
def test_memory_dates_resolve_against_when_they_were_said(text: str, interval: tuple[date, date]) -> None:
    assert event_intervals(text, THURSDAY) == [interval]



def test_patterns_skipped_for_missing_words_change_no_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_dates runs only the patterns whose words a text holds (its whole words, looked up in a set);
    running all of them on every text a reference pattern finds a date word or digit in finds the same."""
    import itertools
    import random
    import re

    from langchain_memos.graph import dates

    pieces = ["yesterday", "last night", "this morning", "tonight", "tomorrow", "the day before yesterday",
              "two weekends ago", "3 years ago", "a couple of days ago", "last summer", "next spring", "this Friday",
              "last Tuesday", "next weekend", "this week", "last month", "next year", "in 2009", "winter 2017",
              "2 September", "September 2", "March 2020", "7 May 2023", "May 7, 2023", "2023-05-07", "Sept. 4",
              "the week before", "the month after July 2019", "between 11 August and 15 August 2023",
              "I may go", "a weekend", "every Sunday", "the 4th", "at 10", "AUGUST 11", "ſeptember 2",
              "mid-May", "today's plan", "for weeks", "may_day", "the 2nd", "ſunday", "WEEKEND", "Mondays"]
    rng = random.Random(5)
    texts = [" ".join(p) for p in itertools.combinations(pieces[:12], 2)]
    texts += [" and ".join(rng.sample(pieces, rng.randint(1, 4))) + "." for _ in range(300)]
    gated = [find_dates(t, THURSDAY) for t in texts]
    # every pattern runs on every text that names a date (the behaviour without the gate)
    reference = re.compile(rf"\d|\b(?:{'|'.join(sorted(dates._DATE_WORDS, key=len, reverse=True))})\b", re.IGNORECASE)
    monkeypatch.setattr(dates, "_date_words", lambda text: frozenset({"*"}) if reference.search(text) else frozenset())
    monkeypatch.setattr(dates, "_NEEDS", {name: frozenset({"*"}) for name in dates._NEEDS})
    assert [find_dates(t, THURSDAY) for t in texts] == gated
    assert sum(map(len, gated)) > len(texts)  # the texts do name dates


def test_question_intervals_need_no_reference_when_absolute() -> None:
    assert question_interval("Where did Oskar stay in the week before 3 February 2019?") == \
        _days("2019-01-27", "2019-02-03")
    assert question_interval("What did Oskar cook between March 4 and March 6 2018?") == \
        _days("2018-03-04", "2018-03-07")
    assert question_interval("What did Oskar do from 1 July to 3 July 2016?") == _days("2016-07-01", "2016-07-04")
    assert question_interval("Which film did Oskar see in autumn 2015?") == _days("2015-09-01", "2015-12-01")
    assert question_interval("What did Oskar do last summer?") is None  # relative: needs a reference
    assert question_interval("What did Oskar do last summer?", THURSDAY) == _days("2021-06-01", "2021-09-01")
    assert question_interval("What does Oskar like to eat?") is None


def test_iso_forms_map_to_intervals() -> None:
    assert iso_interval("2021") == _days("2021-01-01", "2022-01-01")
    assert iso_interval("2021-12") == _days("2021-12-01", "2022-01-01")
    assert iso_interval("2021-W01") == _days("2021-01-04", "2021-01-11")
    assert iso_interval("2021-02-03/2021-02-10") == _days("2021-02-03", "2021-02-10")
    with pytest.raises(ValueError):
        iso_interval("soon")
    assert [d.iso for d in find_dates("the day after tomorrow", THURSDAY)] == ["2021-10-16/2021-10-17"]


def test_time_signal_matches_event_time_not_the_day_it_was_said() -> None:
    asked = question_interval("What happened in August 2021?")
    # Said in October about August: it matches; said in August about something else: the day said counts.
    assert time_signal(asked, True, "I broke my wrist in August 2021.", THURSDAY) == 1.0
    assert time_signal(asked, True, "I like tea.", datetime(2021, 8, 20)) == 1.0
    assert time_signal(asked, True, "I broke my wrist yesterday.", THURSDAY) == 0.0
    # A year that overlaps the asked month covers a twelfth of it.
    assert time_signal(asked, True, "That was in 2021.", datetime(2023, 1, 5)) == pytest.approx(31 / 365)
    assert overlap_share(_days("2021-08-30", "2021-09-02"), asked) == pytest.approx(2 / 3)
    # No interval asked: a memory that states a time can answer "when".
    assert time_signal(None, True, "We adopted the puppy last weekend.", THURSDAY) == 1.0
    assert time_signal(None, True, "We adopted a puppy.", THURSDAY) == 0.0
    assert time_signal(None, False, "We adopted the puppy last weekend.", THURSDAY) == 0.0


def test_when_boost_lifts_a_memory_that_states_its_time() -> None:
    said = datetime(2021, 10, 14)
    cands = [Candidate("plain", text="Oskar: I started rowing, it's great.", created_at=said),
             Candidate("dated", text="Oskar: I started rowing two weeks ago!", created_at=said),
             Candidate("far", text="Oskar: Nice weather.", created_at=said)]
    question = analyze_query("When did Oskar start rowing?")
    lists = dict(vector=[("dated", 0.6), ("plain", 0.55), ("far", 0.1)],
                 keyword=[("plain", 1.0), ("dated", 0.8), ("far", 0.2)])
    off = RetrievalConfig(when_boost=0.0)
    assert rank(cands, analysis=question, config=off, **lists)[0].id == "plain"
    boosted = rank(cands, analysis=question, config=RetrievalConfig(when_boost=0.3), **lists)
    assert boosted[0].id == "dated" and boosted[0].reasons["time"] > 0


def test_time_boost_uses_the_event_time_of_the_text() -> None:
    said = datetime(2021, 10, 14)
    cands = [Candidate("told_later", text="Oskar: I sold the boat in June 2020.", created_at=said),
             Candidate("other", text="Oskar: I sold the bike.", created_at=said),
             Candidate("far", text="Oskar: Nice weather.", created_at=said)]
    question = analyze_query("What did Oskar sell in June 2020?")
    lists = dict(vector=[("told_later", 0.6), ("other", 0.55), ("far", 0.1)],
                 keyword=[("other", 1.0), ("told_later", 0.8), ("far", 0.2)])
    assert rank(cands, analysis=question, config=RetrievalConfig(time_boost=0.0), **lists)[0].id == "other"
    hits = rank(cands, analysis=question, config=RetrievalConfig(time_boost=0.3), **lists)
    assert hits[0].id == "told_later" and "time" not in hits[1].reasons
