"""Hybrid retrieval: query analysis, signal fusion, MMR, relevance floor and token budget.

Everything in this package is pure (no I/O, no storage calls; numpy only). The
facade does the I/O and calls the pieces in this order:

**At write time** (per memory unit, see :mod:`.indexing`):

* embed ``indexing.unit_text(text, speaker, image_caption)`` -- the unit alone,
  ``"Speaker: text [shares an image: caption]"``, no date, no context;
* store an FTS5 row (``tokenize='porter unicode61'``) with the columns
  ``indexing.KEYWORD_COLUMNS`` = ``(body, context, next, date)`` from
  ``indexing.keyword_columns(thread_texts, position, created_at)``: own unit text,
  the 2 previous unit texts of the thread, the next unit text, the day
  (``"08 May 2023"``). Appending a unit refreshes the ``next`` column of the
  previous last unit of its thread;
* keep as metadata: ``speaker``, ``thread`` (session/conversation id),
  ``position`` (index within the thread), ``created_at`` (session date).

**At query time**:

1. ``analysis = query.analyze_query(text, speakers=<known speakers of the namespace>, now=now)``.
2. Candidates: ``vector`` = ``[(id, cosine)]``, the top ``config.vector_pool`` (100)
   of the vector index for the query embedding; ``keyword`` = ``[(id, -bm25)]``, the
   top ``config.keyword_pool`` (100) of
   ``SELECT rowid, bm25(t, 1.0, 0.5, 0.2, 1.0) ... WHERE t MATCH query.fts_match_expression(analysis)``
   (weights: ``config.keyword_column_weights``; skip the keyword engine when the expression is empty).
3. Load each candidate (union of both lists) as a ``fusion.Candidate``: ``text``,
   ``speaker``, ``created_at``, ``thread``, ``position``, ``embedding`` and
   ``next_embedding`` (the embedding of the unit at ``position + 1`` in the same thread,
   ``None`` if last; ``fusion.neighbour_ids`` maps ids to next ids).
4. ``hits = fusion.rank(candidates, vector=vector, keyword=keyword,
   query_embedding=q, analysis=analysis, config=config)`` -> ``[Hit(id, score in [0, 1],
   reasons={"keyword"|"vector"|"neighbour"|"speaker"|"time": contribution})]``,
   the contributions summing to the score.
5. ``hits = mmr.mmr(hits[:3 * k], embeddings, k=config.top_k, lambda_=config.mmr_lambda,
   duplicate_threshold=config.duplicate_threshold)`` (default: relevance order, near-duplicates dropped).
6. ``hits = budget.apply_floor(hits, min_score=config.min_score, min_relative_score=config.min_relative_score)``.
7. ``hits = budget.fit_token_budget(hits, rendered_texts, config.max_tokens, count_tokens)``.

No second retrieval round is needed: pseudo-relevance feedback (query embedding
averaged with the top hits) did not help on LoCoMo and is not part of the method.

Measured on LoCoMo (762 questions, categories 1-4, one unit per turn): evidence
recall@10 0.79 (leave-one-conversation-out 0.79), against 0.59 for BM25 alone
and 0.50 for dense alone; the top 10 render to about 460 tokens (median, len/4).
"""
