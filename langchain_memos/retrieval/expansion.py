"""The second retrieval round (pure): terms from the first round's best hits, to find what they point to.

A multi-hop question ("Where did Ann live before she moved here?") is often answered by two
memories that share a name or phrase the question does not contain ("my home country" ...
"my home country, Sweden"). After the first round, :func:`expansion_terms` takes the names
and content words the top hits share (weighted by hit rank, the query's own words and the
speakers' names left out); the facade runs one more keyword search with the query's
keywords plus these terms (no new embedding) and :func:`~.fusion.rank` adds the normalised
result as the ``expansion`` signal (``RetrievalConfig.expansion_weight``).

Example:
    >>> expansion_terms(["Ann: I miss my home country.", "Ann: My home country has long winters."],
    ...                 query_keywords=("ann", "live"), names=("Ann",))
    ('home', 'country', 'miss', 'long', 'winters')
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from .query import STOPWORDS, entity_phrases, keywords


def expansion_terms(texts: Sequence[str], *, query_keywords: Iterable[str] = (), names: Iterable[str] = (),
                    limit: int = 8) -> tuple[str, ...]:
    """Up to ``limit`` terms of the top hits ``texts`` (best first) to search with in a second round.

    Each word scores ``1 / (rank + 1)`` per hit it appears in, doubled for words of a
    capitalised name inside a sentence; the query's keywords and the ``names`` (speakers)
    are left out. Ties keep first appearance.
    """
    stop = STOPWORDS | {w.lower() for n in names for w in n.split()} | {k.lower() for k in query_keywords}
    score: dict[str, float] = defaultdict(float)
    for rank, text in enumerate(texts):
        body = text.split(": ", 1)[1] if ": " in text[:40] else text  # drop the "Speaker: " prefix
        named = {w.lower() for p in entity_phrases(body[:1].lower() + body[1:]) for w in p.split()}
        for word in keywords(body, stop):
            if word.isdigit():
                continue
            score[word] += (2.0 if word in named else 1.0) / (rank + 1)
    ordered = sorted(score, key=lambda w: -score[w])  # stable: ties keep first appearance
    return tuple(ordered[:limit])


__all__ = ["expansion_terms"]
