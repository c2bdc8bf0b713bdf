"""The graph signal of hybrid retrieval (pure): cubes linked to the query's entities.

``MemOS.search`` links the query to entities (names, aliases and keywords that name a node),
walks their relations one hop, then a second hop from the entities of the hop-1 relations
that match the query, and scores each relation:

* ``1.0`` when it joins two query entities ("What did Caroline say about Sweden?" ->
  ``Caroline -mentions-> Sweden``);
* otherwise the share of the query's other content words found in the relation's text
  (verb forms folded by :func:`~langchain_memos.graph.extract.lemma`), halved on hop 2;
* halved again for a fact no longer valid (``valid_to`` set), unless the query asks "as of".

A cube's graph score is the best score of the relations it is a source of. These scores
enter :func:`~langchain_memos.retrieval.fusion.rank` with ``RetrievalConfig.graph_weight``.

Example:
    >>> from langchain_memos.graph.model import Relation
    >>> r = Relation("e_mel", "paint", "e_lake", ("c",), provenance=("cube1",), text="Melanie painted lake sunrise")
    >>> cube_scores(["painting", "melanie"], {"e_mel": "Melanie"}, [r], [])
    {'cube1': 1.0}
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping, Sequence

from .extract import lemma
from .model import Relation

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=16384)
def _stems(text: str) -> frozenset[str]:
    """The folded words of ``text`` (memoised: a search scores the same relations query after query)."""
    return frozenset(lemma(w) for w in _WORD.findall(text.lower()) if len(w) > 1)


def relation_stems(relation: Relation) -> frozenset[str]:
    """The stemmed words of a relation: its text and its predicate ("moved to Denver" also says "lives in")."""
    return _stems(f"{relation.text} {relation.predicate.replace('_', ' ')}")


def relation_score(relation: Relation, linked: Mapping[str, str], terms: set[str], *, hop: int = 1,
                   as_of_query: bool = False) -> float:
    """How well one relation answers a query linked to ``linked`` (entity id -> name) with content ``terms``."""
    linked_ends = {relation.subject, relation.object} & linked.keys()
    if len(linked_ends) >= 2:
        score = 1.0
    elif not terms:
        score = 0.5 if linked_ends else 0.0
    else:
        score = len(terms & relation_stems(relation)) / len(terms)
    if hop == 2:
        score *= 0.5
    if relation.valid_to is not None and not as_of_query:
        score *= 0.5
    return score


def query_terms(keywords: Sequence[str], linked_names: Sequence[str]) -> set[str]:
    """The query's content words (stemmed) other than the words of the linked entity names."""
    names = set().union(*(_stems(n) for n in linked_names)) if linked_names else set()
    return {lemma(k) for k in keywords if len(k) > 1} - names


def relation_scores(keywords: Sequence[str], linked: Mapping[str, str], hop1: Sequence[Relation],
                    hop2: Sequence[Relation], *, as_of_query: bool = False) -> dict[str, tuple[float, Relation]]:
    """Relation id -> (score, relation) for every relation that scores above 0 (best hop kept)."""
    terms = query_terms(keywords, list(linked.values()))
    out: dict[str, tuple[float, Relation]] = {}
    for hop, rels in ((1, hop1), (2, hop2)):
        for r in rels:
            s = relation_score(r, linked, terms, hop=hop, as_of_query=as_of_query)
            if s > 0 and s > out.get(r.id, (0.0, r))[0]:
                out[r.id] = (s, r)
    return out


def cube_scores(keywords: Sequence[str], linked: Mapping[str, str], hop1: Sequence[Relation],
                hop2: Sequence[Relation], *, as_of_query: bool = False) -> dict[str, float]:
    """Cube id -> best score of the relations it is a source of (only positive scores)."""
    out: dict[str, float] = {}
    for s, r in relation_scores(keywords, linked, hop1, hop2, as_of_query=as_of_query).values():
        for cube_id in r.provenance:
            if s > out.get(cube_id, 0.0):
                out[cube_id] = s
    return out


def hop2_seeds(linked: Mapping[str, str], hop1: Sequence[Relation], keywords: Sequence[str],
               limit: int = 10) -> list[str]:
    """Entities to expand on hop 2: the far ends of the hop-1 relations that match the query best."""
    terms = query_terms(keywords, list(linked.values()))
    scored = sorted(((relation_score(r, linked, terms), r.id, r) for r in hop1), key=lambda t: (-t[0], t[1]))
    seeds: list[str] = []
    for score, _, r in scored:
        if score <= 0 or len(seeds) >= limit:
            break
        for end in (r.subject, r.object):
            if end not in linked and end not in seeds:
                seeds.append(end)
    return seeds[:limit]


__all__ = ["cube_scores", "hop2_seeds", "query_terms", "relation_score", "relation_scores", "relation_stems"]
