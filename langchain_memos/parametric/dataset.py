"""Training examples rendered from cubes: question/answer and statement forms, with template paraphrases.

No LLM is needed. Each cube becomes a :class:`Fact` (subject, attribute, value) when it can
be read as one, from metadata (``subject``/``attribute``/``value``, or ``relation``/``object``)
or from its text (``"Maya's cat is called Pixel"``, ``"Maya lives in Leeds"``); a fact
gets several question/answer paraphrases and statement forms. Any other cube still
gives a generic question/answer pair and its content as a statement.

Example:
    >>> from langchain_memos.cube import MemCube
    >>> cube = MemCube("Maya's cat is called Pixel.", ("users", "maya"), id="c1")
    >>> fact_of(cube)
    Fact(subject='Maya', attribute='cat', value='called Pixel', verb='is')
    >>> [e.prompt for e in render_examples([cube], paraphrases=2) if e.form == "qa"]
    ["What is Maya's cat?", "Tell me about Maya's cat."]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..cube import MemCube


@dataclass(frozen=True)
class Example:
    """One training (or evaluation) example.

    Attributes:
        prompt: The user's question (rendered with the chat template); ``None`` for plain text.
        completion: The answer, or the whole text when ``prompt`` is ``None``; the loss covers it.
        cube_id: The cube it was rendered from (``None`` for replay text).
        form: ``"qa"``, ``"statement"`` or ``"replay"``.
    """

    prompt: str | None
    completion: str
    cube_id: str | None = None
    form: str = "qa"


@dataclass(frozen=True)
class Fact:
    """A cube read as ``subject`` + ``attribute`` (+ ``verb``) + ``value``.

    ``verb == "is"`` means a possessive fact (``"<subject>'s <attribute> is <value>"``);
    other verbs are relations (``"<subject> lives in <value>"``, attribute ``"lives in"``).
    """

    subject: str
    attribute: str
    value: str
    verb: str = "is"

    def sentence(self) -> str:
        """The fact as one sentence."""
        if self.verb == "is":
            return f"{self.subject}'s {self.attribute} is {self.value}."
        return f"{self.subject} {self.attribute} {self.value}."


_POSSESSIVE = re.compile(r"^(?P<s>[A-Z][\w\- ]{0,40}?)'s (?P<a>[\w\- ]{1,40}?) (?:is|are|was) (?P<v>.+?)\.?$")
#: Relations read from text: the phrase, its question, and the bare verb for "What does X <verb>?".
_RELATIONS: tuple[tuple[str, str], ...] = (
    ("lives in", "Where does {s} live?"),
    ("works as", "What does {s} work as?"),
    ("works at", "Where does {s} work?"),
    ("works for", "Who does {s} work for?"),
    ("was born in", "Where was {s} born?"),
    ("is allergic to", "What is {s} allergic to?"),
    ("likes", "What does {s} like?"),
    ("loves", "What does {s} love?"),
    ("enjoys", "What does {s} enjoy?"),
    ("prefers", "What does {s} prefer?"),
    ("hates", "What does {s} hate?"),
    ("dislikes", "What does {s} dislike?"),
    ("plays", "What does {s} play?"),
    ("speaks", "Which language does {s} speak?"),
    ("drives", "What does {s} drive?"),
    ("has", "What does {s} have?"),
)
_RELATION_RE = re.compile(
    r"^(?P<s>[A-Z][\w\-]*(?: [A-Z][\w\-]*)?) (?P<r>" + "|".join(re.escape(r) for r, _ in _RELATIONS) + r") (?P<v>.+?)\.?$")

#: Question/answer templates of a possessive fact, most direct first.
POSSESSIVE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("What is {s}'s {a}?", "{s}'s {a} is {v}."),
    ("Tell me about {s}'s {a}.", "{s}'s {a} is {v}."),
    ("Do you know {s}'s {a}?", "Yes, {s}'s {a} is {v}."),
    ("{s}'s {a}: what is it?", "{v}."),
    ("What do you remember about {s}'s {a}?", "I remember that {s}'s {a} is {v}."),
    ("Quick question: {s}'s {a}?", "{v}."),
)
#: Question/answer templates of a relation (the first question comes from the relation table).
RELATION_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("{q}", "{s} {a} {v}."),
    ("Tell me: {q_lower}", "{v}."),
    ("Do you remember? {q}", "Yes, {s} {a} {v}."),
    ("What do you know about where or what {s} {a}?", "{s} {a} {v}."),
    ("Quick question: {q_lower}", "{v}."),
)
#: Statement forms (plain text, no chat template).
STATEMENT_TEMPLATES: tuple[str, ...] = ("{sentence}", "Remember: {sentence}", "Fact about {s}: {sentence}")


def fact_of(cube: MemCube) -> Fact | None:
    """Read ``cube`` as a :class:`Fact` (from metadata, else from its text), or ``None``."""
    meta = cube.metadata or {}
    subject, value = meta.get("subject"), meta.get("value", meta.get("object"))
    attribute = meta.get("attribute", meta.get("relation"))
    if all(isinstance(x, str) and x.strip() for x in (subject, attribute, value)):
        verb = "is" if "attribute" in meta else "rel"
        return Fact(subject.strip(), attribute.strip(), value.strip().rstrip("."), verb)
    text = " ".join(cube.content.split())
    m = _POSSESSIVE.match(text)
    if m:
        return Fact(m["s"].strip(), m["a"].strip(), m["v"].strip())
    m = _RELATION_RE.match(text)
    if m:
        return Fact(m["s"], m["r"], m["v"].strip(), "rel")
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _relation_question(fact: Fact) -> str:
    for phrase, question in _RELATIONS:
        if phrase == fact.attribute:
            return question.format(s=fact.subject)
    return f"What about {fact.subject} and '{fact.attribute}'?"


def examples_for(cube: MemCube, *, paraphrases: int = 4, statements: bool = True) -> list[Example]:
    """The examples of one cube: up to ``paraphrases`` question/answer pairs and the statement forms."""
    fact = fact_of(cube)
    out: list[Example] = []
    if fact is None:
        content = " ".join(cube.content.split())
        out.append(Example("What do you remember about me?", content, cube.id, "qa"))
        if statements:
            out.append(Example(None, content, cube.id, "statement"))
        return out
    sentence = fact.sentence()
    if fact.verb == "is":
        for q, a in POSSESSIVE_TEMPLATES[:paraphrases]:
            out.append(Example(q.format(s=fact.subject, a=fact.attribute),
                               a.format(s=fact.subject, a=fact.attribute, v=fact.value), cube.id, "qa"))
    else:
        question = _relation_question(fact)
        for q, a in RELATION_TEMPLATES[:paraphrases]:
            out.append(Example(q.format(q=question, q_lower=_lower_first(question), s=fact.subject, a=fact.attribute),
                               a.format(s=fact.subject, a=fact.attribute, v=fact.value), cube.id, "qa"))
    if statements:
        texts = dict.fromkeys(t.format(sentence=sentence, s=fact.subject) for t in STATEMENT_TEMPLATES)
        original = " ".join(cube.content.split())
        texts.setdefault(original if original.endswith(".") else original + ".", None)
        out.extend(Example(None, t, cube.id, "statement") for t in texts)
    return out


def render_examples(cubes: Iterable[MemCube], *, paraphrases: int = 4, statements: bool = True,
                    replay: Sequence[str] = ()) -> list[Example]:
    """Examples of every cube (in order), then one ``"replay"`` example per text of ``replay``.

    Replay text (general prose unrelated to the memories) keeps the adapter from drifting
    away from the base model's general language.
    """
    out: list[Example] = []
    for cube in cubes:
        out.extend(examples_for(cube, paraphrases=paraphrases, statements=statements))
    out.extend(Example(None, text, None, "replay") for text in replay if text.strip())
    return out


__all__ = ["Example", "Fact", "POSSESSIVE_TEMPLATES", "RELATION_TEMPLATES", "STATEMENT_TEMPLATES",
           "examples_for", "fact_of", "render_examples"]
