"""Extraction with a chat model: any LangChain ``BaseChatModel`` with structured output, under a token budget.

:class:`LLMExtractor` asks the model, once per text, for the entities and
subject-predicate-object facts it states (in the language of the text: the prompt forbids
translation), through ``with_structured_output`` and a
:class:`~langchain_memos.policy.llm_budget.BudgetedLLM` (input trimmed to ``max_input_tokens``,
at most ``max_calls`` calls per :meth:`LLMExtractor.extract_many`). Relative dates the model
leaves unresolved are resolved by :func:`~langchain_memos.graph.dates.find_dates`. A skipped or
failed call falls back to the :class:`~langchain_memos.graph.extract.RuleExtractor` for that text.

Example (a scripted model):
    >>> from langchain_memos.graph.extract import ExtractionInput
    >>> class Scripted:
    ...     def with_structured_output(self, schema):
    ...         return self
    ...     def invoke(self, messages):
    ...         return LLMExtraction(facts=[LLMFact(subject="I", predicate="moved to", object="Denver",
    ...                                             object_kind="place")])
    >>> x = LLMExtractor(Scripted()).extract(ExtractionInput("I moved to Denver", speaker="Ann"))
    >>> [(f.subject, f.predicate, f.object) for f in x.facts]
    [('Ann', 'lives_in', 'Denver')]
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from pydantic import BaseModel, Field

from ..policy.llm_budget import BudgetedLLM, LLMBudget, cut_tokens
from .dates import find_dates
from .extract import ExtractedFact, Extraction, ExtractionInput, RuleExtractor, canonical_predicate

_ISO = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?|-W\d{2})?$")
_FIRST_PERSON = frozenset({"i", "me", "my", "we", "us", "our", "myself"})

SYSTEM_PROMPT = (
    "You extract a knowledge graph from one message of a conversation. List the named entities "
    "(people, places, organisations, things with a name) and the facts the message states as "
    "subject / predicate / object, where the predicate is a short verb phrase ('lives in', 'works at', "
    "'adopted', 'likes'). Use the speaker's name for 'I'. Resolve relative dates against the date the "
    "message was said and give them as ISO dates (YYYY-MM-DD, YYYY-MM or YYYY). Keep every name and "
    "object in the language of the message: never translate. Only state what the message says."
)


class LLMEntity(BaseModel):
    """An entity named in the message."""

    name: str = Field(description="the name as written")
    kind: str = Field(default="thing", description="person, place, organization or thing")


class LLMFact(BaseModel):
    """A fact the message states."""

    subject: str = Field(description="who or what the fact is about (the speaker's name for 'I')")
    predicate: str = Field(description="a short verb phrase, e.g. 'lives in'")
    object: str = Field(description="the value or the other entity")
    subject_kind: str = Field(default="person")
    object_kind: str = Field(default="thing")
    date: str | None = Field(default=None, description="ISO date the fact happened, if the message says")


class LLMExtraction(BaseModel):
    """The structured answer the model gives."""

    entities: list[LLMEntity] = Field(default_factory=list)
    facts: list[LLMFact] = Field(default_factory=list)


def _predicate(text: str) -> str:
    words = re.findall(r"[^\W_]+", text.lower())
    if not words:
        return "related_to"
    prep = words[-1] if len(words) > 1 else None
    return canonical_predicate(words[0], prep)


def to_extraction(answer: LLMExtraction, item: ExtractionInput) -> Extraction:
    """Turn the model's answer into an :class:`Extraction` (speaker for first person, dates checked)."""
    speaker = item.speaker or "user"
    dates = [d.iso for d in find_dates(item.text, item.said_at)]
    entities: dict[str, str] = {speaker: "person"}
    facts: list[ExtractedFact] = []
    for e in answer.entities:
        name = speaker if e.name.strip().lower() in _FIRST_PERSON else e.name.strip()
        if name:
            entities.setdefault(name, e.kind or "thing")
    for f in answer.facts:
        subject = speaker if f.subject.strip().lower() in _FIRST_PERSON else f.subject.strip()
        obj = speaker if f.object.strip().lower() in _FIRST_PERSON else f.object.strip()
        if not subject or not obj or not f.predicate.strip():
            continue
        date = f.date if f.date and _ISO.match(f.date) else (dates[0] if dates else None)
        facts.append(ExtractedFact(subject=subject, predicate=_predicate(f.predicate), object=obj,
                                   text=f"{subject} {f.predicate.strip()} {obj}", subject_kind=f.subject_kind,
                                   object_kind=f.object_kind, date=date))
        entities.setdefault(subject, f.subject_kind)
        entities.setdefault(obj, f.object_kind)
    for d in (f.date for f in facts if f.date):
        if d not in dates:
            dates.append(d)
    return Extraction(entities=tuple(entities.items()), facts=tuple(facts), dates=tuple(dates))


class LLMExtractor:
    """Extraction by a chat model, budgeted, with the rule extractor as fallback.

    Args:
        model: Any LangChain ``BaseChatModel`` that supports ``with_structured_output``.
        budget: Token and call limits per :meth:`extract_many` (default: 1500 input tokens,
            400 output tokens, 50 calls).
        fallback: The extractor used when a call is skipped or fails.
    """

    def __init__(self, model: Any, budget: LLMBudget | None = None, *, fallback: Any = None) -> None:
        self.llm = BudgetedLLM(model, budget or LLMBudget(max_input_tokens=1500, max_output_tokens=400,
                                                         max_calls=50))
        self.fallback = fallback or RuleExtractor()

    def _prompt(self, item: ExtractionInput) -> str:
        head = (f"Speaker: {item.speaker or 'user'}\n"
                f"Said on: {item.said_at.date().isoformat() if item.said_at else 'unknown'}\nMessage:\n")
        room = self.llm.budget.max_input_tokens - 250  # the system prompt and the header
        return head + cut_tokens(item.text, max(room, 16))

    def extract(self, item: ExtractionInput) -> Extraction:
        """Extract from one text (the fallback when the budget or the model says no)."""
        answer = self.llm.ask_structured(SYSTEM_PROMPT, self._prompt(item), LLMExtraction)
        if isinstance(answer, dict):
            try:
                answer = LLMExtraction.model_validate(answer)
            except Exception:
                answer = None
        if not isinstance(answer, LLMExtraction):
            return self.fallback.extract(item)
        return to_extraction(answer, item)

    def extract_many(self, inputs: Sequence[ExtractionInput]) -> list[Extraction]:
        """Extract from each input; the call budget counts per batch."""
        self.llm.reset_pass()
        return [self.extract(i) for i in inputs]


__all__ = ["LLMEntity", "LLMExtraction", "LLMExtractor", "LLMFact", "SYSTEM_PROMPT", "to_extraction"]
