"""Extraction, the "generate" step: what a message says as entities, facts and dates (no LLM).

:class:`RuleExtractor` reads one text at a time (a chat turn, a tool output, a note) with
its speaker and the time it was said, and returns an :class:`Extraction`: the speaker,
capitalised named entities, dates resolved to absolute ISO forms
(:func:`~langchain_memos.graph.dates.find_dates`) and subject-verb-object facts. First
person ("I", "we", "my") resolves to the speaker. Text is kept in the language it came in:
nothing is translated, and names are stored verbatim.

:class:`~langchain_memos.graph.llm.LLMExtractor` returns the same :class:`Extraction` from a
chat model; both implement :class:`Extractor`.

Example:
    >>> from datetime import datetime
    >>> x = RuleExtractor().extract(ExtractionInput("I moved to Denver last Saturday!", speaker="Ann",
    ...                                             said_at=datetime(2023, 5, 8)))
    >>> [(f.subject, f.predicate, f.object, f.date) for f in x.facts]
    [('Ann', 'lives_in', 'Denver', '2023-05-06')]
    >>> x.entities
    (('Ann', 'person'), ('Denver', 'place'))
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Protocol, Sequence, runtime_checkable

from ..retrieval.query import STOPWORDS, entity_phrases
from .dates import find_dates

#: (verb lemma, preposition) -> canonical predicate; lets "moved to X" supersede "live in Y".
CANONICAL_PREDICATES: dict[tuple[str, str], str] = {
    ("liv", "in"): "lives_in", ("mov", "to"): "lives_in", ("relocat", "to"): "lives_in",
    ("mov", "in"): "lives_in", ("bas", "in"): "lives_in", ("stay", "in"): "lives_in",
    ("work", "at"): "works_at", ("work", "for"): "works_at", ("marry", "to"): "married_to",
    ("marry", ""): "married_to",
}

#: Predicates that hold one value at a time: a new object supersedes the old one.
EXCLUSIVE_PREDICATES: frozenset[str] = frozenset({"lives_in", "works_at", "married_to", "name_is", "age_is"})

_IRREGULAR = {
    "went": "go", "gone": "go", "goes": "go", "bought": "buy", "got": "get", "gotten": "get", "made": "make",
    "took": "take", "taken": "take", "met": "meet", "saw": "see", "seen": "see", "had": "have", "has": "have",
    "ran": "run", "began": "begin", "begun": "begin", "found": "find", "gave": "give", "given": "give",
    "felt": "feel", "kept": "keep", "left": "leave", "lost": "lose", "paid": "pay", "read": "read",
    "sold": "sell", "sent": "send", "spent": "spend", "taught": "teach", "thought": "think", "told": "tell",
    "won": "win", "wrote": "write", "written": "write", "built": "build", "brought": "bring", "caught": "catch",
    "drew": "draw", "drove": "drive", "ate": "eat", "fell": "fall", "flew": "fly", "grew": "grow", "heard": "hear",
    "held": "hold", "led": "lead", "learnt": "learn", "rode": "ride", "sang": "sing", "sat": "sit", "swam": "swim",
    "married": "marry", "moved": "move", "based": "base", "lives": "live", "living": "live", "lived": "live",
    "loves": "love", "loved": "love", "likes": "like", "liked": "like", "adopted": "adopt", "joined": "join",
    "started": "start", "visited": "visit", "painted": "paint", "played": "play", "worked": "work",
    "works": "work", "working": "work", "relocated": "relocate", "enjoyed": "enjoy", "tried": "try",
    "studied": "study", "finished": "finish", "attended": "attend", "celebrated": "celebrate", "stayed": "stay",
}
_NOT_VERBS = frozenset("""am is are was were be been being do does did can could should would will shall may might must
    think thought know knew guess mean meant hope wish feel felt agree bet suppose say said tell told ask asked
    totally really just also so too very not never always still even only already it that this there here the a an
    and but or if to of in on at for with as by about from into want wanted wants need needed needs try tried
    trying going gonna wanna used let get gets getting keen glad happy sorry sure able all some super
    both each lot much more most""".split())
_SUBJECT_RE = r"(?P<subj>I|[Ww]e|[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)"
_ADVERBS = r"(?:(?:really|just|also|recently|finally|always|never|actually|still|even|already|totally|only|"\
    r"usually|often|sometimes|have|has|had|am|was|were|will|would|been|got)\s+)*"
_PREPS = "to|in|at|for|with|on|about|into|from|of|by|up|out|around|through|over"
_SVO = re.compile(rf"(?:^|(?<=[,;:])\s*|\b(?:and|but|so|then|because|when|after|before)\s+){_SUBJECT_RE}\s+"
                  rf"{_ADVERBS}(?P<verb>[a-z][a-z']+)\s+(?:(?P<prep>{_PREPS})\s+)?(?P<obj>[^.,;:!?()\n]{{2,90}})")
_COPULA = re.compile(r"\b(?:[Mm]y|[Oo]ur)\s+(?:(?P<fav>favou?rite)\s+)?(?P<what>[a-z]+(?:\s+[a-z]+)?)\s+"
                     r"(?:is|was|are)\s+(?P<obj>[^.,;:!?()\n]{2,60})")
_BOUNDARY = re.compile(r"\s+(?:and|but|because|so|when|while|since|which|who|where|if|as|though|although|than|"
                       r"yesterday|today|tonight|tomorrow|last|this|next|ago|recently|lately|now|too|again|"
                       r"with|for|after|before|until|during|it's|that's|i'm|i|you|we|they|he|she)\b.*$",
                       re.IGNORECASE)
_DETERMINERS = re.compile(r"^(?:(?:the|a|an|my|our|your|his|her|their|its|some|this|that|these|those|any|own|"
                          r"new|first|whole)\s+)+", re.IGNORECASE)
_PRONOUN_OBJECT = re.compile(r"^(?:them|it|you|him|her|us|me|myself|yourself|ourselves|something|everything|anything|"
                             r"nothing|one|lot|bit|way|time|thing|things|sure|so|such|what|how|why|to)\b", re.IGNORECASE)
_CONTRACTIONS = ((re.compile("\u2019"), "'"), (re.compile(r"\b(I|[Ww]e)'m\b"), r"\1 am"), (re.compile(r"\b(I|[Ww]e)'ve\b"), r"\1 have"),
                 (re.compile(r"\b(I|[Ww]e)'d\b"), r"\1 would"), (re.compile(r"\b(I|[Ww]e)'ll\b"), r"\1 will"),
                 (re.compile(r"\b([Ww]e)'re\b"), r"\1 are"))
_SENTENCES = re.compile(r"[^.!?\n]+[.!?]*")
_FIRST_PERSON = frozenset({"i", "we"})
#: Capitalised words that start sentences without naming anything.
_NOT_NAMES = frozenset("""hey hi hello thanks thank wow yeah yes no oh ok okay sure great awesome cool nice sounds
    that's it's i'm i've i'd i'll you're we're they're he's she's what's let's congrats congratulations good
    well so just also sorry totally absolutely definitely really haha lol omg aw aww hmm anyway btw glad love
    agreed exactly true right maybe please bye see take keep hope same""".split()) | STOPWORDS | frozenset(
    d.lower() for d in (*calendar.day_name, *calendar.month_name) if d)
_PERSON_CUE = re.compile(r"\b(?:[Hh]ey|[Hh]i|[Hh]ello|[Tt]hanks|[Tt]hank you|[Cc]ongrats|[Cc]ongratulations|[Dd]ear|"
                         r"[Bb]ye|[Ss]orry|with|friend|sister|brother|mom|dad|wife|husband|son|daughter|cousin|"
                         r"aunt|uncle|grandma|grandpa|met|told|asked)\s*,?\s+(?P<name>[^\W\d_][\w'-]*)")
_PLACE_PREPS = frozenset({"in", "at", "from", "to", "near", "around"})


@dataclass(frozen=True)
class ExtractionInput:
    """One text to extract from.

    Attributes:
        text: The text, as it came (any language).
        speaker: Who said or wrote it (first person resolves to it); ``None``: unknown.
        said_at: When it was said (relative dates resolve against it).
        known_names: Names already known in the namespace (persons, places...), so a
            sentence-initial name is recognised.
        source_id: The cube the text belongs to.
    """

    text: str
    speaker: str | None = None
    said_at: datetime | None = None
    known_names: tuple[str, ...] = ()
    source_id: str | None = None


@dataclass(frozen=True)
class ExtractedFact:
    """A subject-predicate-object fact.

    Attributes:
        subject / object: Entity names as written (first person replaced by the speaker).
        predicate: Normalised predicate (see :data:`CANONICAL_PREDICATES`).
        text: The fact as a short sentence.
        subject_kind / object_kind: Entity kinds.
        date: An absolute date the sentence mentions (ISO), if any.
    """

    subject: str
    predicate: str
    object: str
    text: str
    subject_kind: str = "person"
    object_kind: str = "thing"
    date: str | None = None


@dataclass(frozen=True)
class Extraction:
    """What one text says.

    Attributes:
        entities: ``(name, kind)`` pairs, the speaker first, each once.
        facts: Subject-predicate-object facts.
        dates: Absolute ISO dates mentioned, in order.
    """

    entities: tuple[tuple[str, str], ...] = ()
    facts: tuple[ExtractedFact, ...] = ()
    dates: tuple[str, ...] = field(default=())


@runtime_checkable
class Extractor(Protocol):
    """Turns texts into :class:`Extraction` objects (one per input, in order)."""

    def extract_many(self, inputs: Sequence[ExtractionInput]) -> list[Extraction]:
        """Extract from each input."""


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """A rough English verb key, the same for every form of a verb ("went" -> "go", "moved"/"moving" -> "mov").

    A final "e" is dropped so regular forms agree without a dictionary ("share", "shared", "sharing").

    Example:
        >>> [lemma(w) for w in ("went", "moved", "moving", "painting", "studies", "visits", "shared")]
        ['go', 'mov', 'mov', 'paint', 'study', 'visit', 'shar']

    Memoised (the last 65,536 words): retrieval folds the same words query after query.
    """
    base = _base(word.lower().strip("'"))
    return base[:-1] if base.endswith("e") and len(base) > 3 else base


def _base(w: str) -> str:
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ing") and len(w) > 5:
        return w[:-3]
    if w.endswith("ed") and len(w) > 4:
        return w[:-2]
    if w.endswith("es") and len(w) > 4 and w[-3] in "sxz":
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def canonical_predicate(verb: str, prep: str | None) -> str:
    """The predicate label of a verb and its preposition ("moved", "to" -> ``"lives_in"``)."""
    base = lemma(verb)
    prep = (prep or "").lower()
    return CANONICAL_PREDICATES.get((base, prep)) or (f"{base}_{prep}" if prep else base)


def _clean_object(text: str) -> str:
    obj = _BOUNDARY.sub("", " " + text.strip()).strip()
    obj = _DETERMINERS.sub("", obj).strip(" '\"-")
    words = obj.split()
    return " ".join(words[:6])


class RuleExtractor:
    """The no-LLM extractor: speakers, capitalised named entities, resolved dates, SVO facts.

    Args:
        default_speaker: The subject of first-person sentences when an input has no speaker.
    """

    def __init__(self, default_speaker: str = "user") -> None:
        self.default_speaker = default_speaker

    def extract_many(self, inputs: Sequence[ExtractionInput]) -> list[Extraction]:
        """Extract from each input (see :meth:`extract`)."""
        return [self.extract(i) for i in inputs]

    def _names(self, sentence: str, known: frozenset[str]) -> list[str]:
        """Named entities of a sentence (a sentence-initial capital counts when known or addressed: "Mel, ...")."""
        names: list[str] = []
        stripped = sentence.lstrip()
        for phrase in entity_phrases(sentence):
            words = phrase.split()
            if words and stripped.startswith(words[0]) and phrase.lower() not in known:
                vocative = len(words) == 1 and stripped[len(words[0]):].lstrip().startswith(",")
                if words[0].lower() in _NOT_NAMES or (len(words) == 1 and not vocative):
                    words = words[1:]
            name = " ".join(words)
            if name and name.lower() not in _NOT_NAMES and not name.isdigit() and name not in names:
                names.append(name)
        return names

    @staticmethod
    def _kind(name: str, sentence: str, known: frozenset[str]) -> str:
        """``"person"`` for known names and names addressed or introduced as people, else ``"thing"``."""
        if name.lower() in known:
            return "person"
        cue = _PERSON_CUE.search(sentence)
        while cue is not None:
            if cue.group("name") == name.split()[0]:
                return "person"
            cue = _PERSON_CUE.search(sentence, cue.end("name"))
        return "person" if sentence.lstrip().startswith(name + ",") and " " not in name else "thing"

    def extract(self, item: ExtractionInput) -> Extraction:
        """Extract entities, dates and facts from one input."""
        speaker = item.speaker or self.default_speaker
        known = frozenset(n.lower() for n in (*item.known_names, speaker))
        entities: dict[str, str] = {speaker: "person"}
        facts: list[ExtractedFact] = []
        dates: list[str] = []
        for m in _SENTENCES.finditer(item.text):
            sentence = m.group(0).strip()
            for pattern, repl in _CONTRACTIONS:
                sentence = pattern.sub(repl, sentence)
            if not sentence:
                continue
            found = find_dates(sentence, item.said_at)
            dates.extend(d.iso for d in found if d.iso not in dates)
            when = found[0].iso if found else None
            names = self._names(sentence, known)
            for name in names:
                entities.setdefault(name, self._kind(name, sentence, known))
            for fact in self._facts(sentence, speaker, names, when):
                facts.append(fact)
                entities.setdefault(fact.subject, fact.subject_kind)
                if fact.object_kind != "thing" or fact.object in entities:
                    entities[fact.object] = entities.get(fact.object, fact.object_kind) \
                        if entities.get(fact.object, "thing") != "thing" else fact.object_kind
        for fact in facts:
            entities.setdefault(fact.object, fact.object_kind)
        return Extraction(entities=tuple(entities.items()), facts=tuple(dict.fromkeys(facts)), dates=tuple(dates))

    def _facts(self, sentence: str, speaker: str, names: Sequence[str], when: str | None) -> list[ExtractedFact]:
        out: list[ExtractedFact] = []
        capitalised = {n.lower(): n for n in names}
        for m in _SVO.finditer(sentence):
            verb = m.group("verb").lower()
            if verb in _NOT_VERBS or "'" in verb:
                continue
            subj = m.group("subj")
            if subj.lower() in _FIRST_PERSON:
                subject = speaker
            elif subj.lower() in capitalised or subj in names:
                subject = capitalised.get(subj.lower(), subj)
            else:
                continue
            prep = m.group("prep")
            obj = _clean_object(m.group("obj"))
            if not obj or obj.lower() in STOPWORDS or _PRONOUN_OBJECT.match(obj):
                continue
            predicate = canonical_predicate(verb, prep)
            named = next((n for n in names if obj.startswith(n) or n.startswith(obj)), None)
            if named:
                obj = named
            kind = ("place" if named and ((prep or "").lower() in _PLACE_PREPS or predicate == "lives_in")
                    else "person" if named and obj.lower() in capitalised and predicate in ("meet", "marry")
                    else "named" if named else "thing")
            said = f"{subject} {m.group('verb')}{' ' + prep if prep else ''} {obj}"
            out.append(ExtractedFact(subject=subject, predicate=predicate, object=obj, text=said,
                                     subject_kind="person", object_kind=kind, date=when))
        for m in _COPULA.finditer(sentence):
            what = m.group("what").lower()
            obj = _clean_object(m.group("obj"))
            if not obj:
                continue
            predicate = ("favorite_" if m.group("fav") else "") + what.replace(" ", "_")
            predicate = {"name": "name_is", "age": "age_is"}.get(predicate, predicate)
            out.append(ExtractedFact(subject=speaker, predicate=predicate, object=obj,
                                     text=f"{speaker}'s {m.group('fav') + ' ' if m.group('fav') else ''}{what} is {obj}",
                                     object_kind="thing", date=when))
        return out


__all__ = ["CANONICAL_PREDICATES", "EXCLUSIVE_PREDICATES", "ExtractedFact", "Extraction", "ExtractionInput",
           "Extractor", "RuleExtractor", "canonical_predicate", "lemma"]
