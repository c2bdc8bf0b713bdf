"""What the facade stores per memory unit for retrieval: index texts for BM25 and embeddings.

A memory unit (one conversation turn, one note, ...) keeps its own content; only
its *index* texts get context. Two index texts are derived from the units of a
thread (a session/conversation, in order):

* the **embedding text** is the unit alone, speaker-prefixed, with an image
  caption appended: ``"Caroline: I went to a support group. [shares an image: a poster]"``
  (:func:`unit_text`). Context does not go in the embedding: it dilutes MiniLM.
* the **keyword document** is an FTS5 row with four columns
  (:data:`KEYWORD_COLUMNS`), built by :func:`keyword_columns`:

  ``body``     the unit's :func:`unit_text`;
  ``context``  the previous ``context_turns`` units of the same thread (their unit texts, newline-joined);
  ``next``     the next unit of the same thread;
  ``date``     the unit's day, ``"08 May 2023"`` (:func:`date_text`).

  It is ranked with ``bm25(table, *RetrievalConfig.keyword_column_weights)``
  (default ``1.0, 0.5, 0.2, 1.0``): a turn that answers a question is found
  through the words of the question it answers, at half weight.

Because ``context`` and ``next`` depend on neighbours, appending a unit to a
thread must also refresh the ``next`` column of the previous last unit (and
inserting in the middle refreshes the units around it).

Example:
    >>> from datetime import datetime
    >>> texts = [unit_text("Hi!", "Ann"), unit_text("I adopted a cat.", "Bob", "a cat on a sofa")]
    >>> keyword_columns(texts, 1, datetime(2023, 5, 8))["context"]
    'Ann: Hi!'
    >>> texts[1]
    'Bob: I adopted a cat. [shares an image: a cat on a sofa]'
"""

from __future__ import annotations

from datetime import datetime
from typing import Collection, Sequence

from ..storage.base import KEYWORD_COLUMNS

__all__ = ["KEYWORD_COLUMNS", "date_text", "keyword_columns", "thread_keyword_docs", "unit_text"]


def unit_text(text: str, speaker: str | None = None, image_caption: str | None = None) -> str:
    """The unit as indexed and rendered: ``"Speaker: text [shares an image: caption]"``."""
    s = text.strip()
    if image_caption:
        s = f"{s} [shares an image: {image_caption.strip()}]"
    if speaker:
        s = f"{speaker}: {s}"
    return s


def date_text(when: datetime | None) -> str:
    """The day of ``when`` as words BM25 can match (``"08 May 2023"``); ``""`` for ``None``."""
    return when.strftime("%d %B %Y") if when is not None else ""


def keyword_columns(
    thread_texts: Sequence[str],
    position: int,
    when: datetime | None = None,
    *,
    context_turns: int = 2,
) -> dict[str, str]:
    """The FTS5 row of the unit at ``position`` in its thread.

    Args:
        thread_texts: The :func:`unit_text` of every unit of the thread, in order.
        position: Index of the unit in ``thread_texts``.
        when: The unit's timestamp (its ``created_at`` / session date).
        context_turns: How many previous units go in the ``context`` column.
    """
    lo = max(0, position - context_turns)
    return {
        "body": thread_texts[position],
        "context": "\n".join(thread_texts[lo:position]),
        "next": thread_texts[position + 1] if position + 1 < len(thread_texts) else "",
        "date": date_text(when),
    }


def thread_keyword_docs(
    units: Sequence[tuple[str, str, datetime | None]],
    targets: Collection[str],
    *,
    context_turns: int = 2,
) -> dict[str, dict[str, str]]:
    """Keyword documents for the ``targets`` among a window of one thread's units.

    Args:
        units: ``(id, unit text, created_at)`` of consecutive units of a thread, in order.
            The window must hold ``context_turns`` units before the first target and one after
            the last (where they exist), or those columns come out short.
        targets: Ids whose documents to build.
        context_turns: How many previous units go in the ``context`` column.

    Example:
        >>> docs = thread_keyword_docs([("a", "Ann: Hi", None), ("b", "Bob: Hello", None)], {"a"})
        >>> docs["a"]["next"]
        'Bob: Hello'
    """
    texts = [text for _, text, _ in units]
    return {unit_id: keyword_columns(texts, i, when, context_turns=context_turns)
            for i, (unit_id, _, when) in enumerate(units) if unit_id in targets}
