"""Entity resolution (pure): the same person or thing named differently becomes one node.

A mention resolves to a known entity of its namespace, in this order:

1. the same normalised name or alias;
2. a nickname or a name prefix of a person ("Mel" -> "Melanie", "Bob" -> "Robert"),
   only when exactly one known person fits;
3. near-identical spelling (``difflib`` ratio >= ``min_ratio``) with an entity of the same kind
   (never for dates).

Otherwise the mention becomes a new entity.

Example:
    >>> from langchain_memos.graph.model import Entity
    >>> known = [Entity("Melanie", ("c",), "person"), Entity("Caroline", ("c",), "person")]
    >>> resolve_mention("Mel", "thing", known).name
    'Melanie'
    >>> resolve_mention("Carolin", "person", known).name
    'Caroline'
    >>> resolve_mention("Boston", "place", known) is None
    True
"""

from __future__ import annotations

import difflib
from typing import Sequence

from .model import Entity, normalize_name

#: Common English nicknames -> full first names.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "bob": ("robert",), "rob": ("robert",), "bobby": ("robert",), "bill": ("william",), "will": ("william",),
    "liz": ("elizabeth",), "beth": ("elizabeth",), "kate": ("katherine", "catherine"), "katie": ("katherine",),
    "mike": ("michael",), "jim": ("james",), "jimmy": ("james",), "jon": ("jonathan",), "dave": ("david",),
    "tom": ("thomas",), "chris": ("christopher", "christina", "christine"), "jen": ("jennifer",),
    "jenny": ("jennifer",), "sam": ("samuel", "samantha"), "alex": ("alexander", "alexandra"), "dan": ("daniel",),
    "nick": ("nicholas",), "matt": ("matthew",), "steve": ("steven", "stephen"), "joe": ("joseph",),
    "tony": ("anthony",), "andy": ("andrew",), "ben": ("benjamin",), "peggy": ("margaret",),
    "maggie": ("margaret",), "sue": ("susan",), "abby": ("abigail",), "becky": ("rebecca",), "ed": ("edward",),
    "greg": ("gregory",), "jeff": ("jeffrey",), "josh": ("joshua",), "pat": ("patrick", "patricia"),
    "rick": ("richard",), "dick": ("richard",), "tim": ("timothy",), "vicky": ("victoria",),
}


def _first(norm: str) -> str:
    return norm.split(" ", 1)[0]


def resolve_mention(name: str, kind: str, known: Sequence[Entity], *, min_prefix: int = 3,
                    min_ratio: float = 0.9) -> Entity | None:
    """The known entity ``name`` refers to, or ``None`` for a new one (see the module rules)."""
    norm = normalize_name(name)
    if not norm:
        return None
    exact = [e for e in known if norm in {normalize_name(n) for n in e.names}]
    if exact:
        return next((e for e in exact if e.kind == kind), exact[0])
    if kind == "date":  # "2023-05-06" and "2023-05-07" are different days, however similar the strings
        return None
    if kind in ("person", "thing") and " " not in norm and norm[:1].isalpha() and name[:1].isupper():
        fulls = NICKNAMES.get(norm, ())
        persons = [e for e in known if e.kind == "person"]
        fits = [e for e in persons if any(_first(normalize_name(n)) in fulls for n in e.names)
                or any(len(norm) >= min_prefix and _first(normalize_name(n)).startswith(norm) for n in e.names)]
        if len(fits) == 1:
            return fits[0]
    same_kind = [e for e in known if e.kind == kind]
    best, best_ratio = None, min_ratio
    for e in same_kind:
        for n in e.names:
            other = normalize_name(n)
            if abs(len(other) - len(norm)) > max(2, len(norm) // 5):
                continue
            ratio = difflib.SequenceMatcher(None, norm, other, autojunk=False).ratio()
            if ratio >= best_ratio and len(norm) >= 5:
                best, best_ratio = e, ratio
    return best


__all__ = ["NICKNAMES", "resolve_mention"]
