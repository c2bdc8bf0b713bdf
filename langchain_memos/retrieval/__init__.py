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

Since issue #18 the ranker also has (each behind a ``RetrievalConfig`` constant that
``python -m benchmarks.locomo --cv`` chooses by leave-one-conversation-out):

* an event-time signal (:mod:`.temporal`): the query's interval (``time_range``, from
  :func:`langchain_memos.graph.dates.find_dates`) against the dates memories state, resolved
  against when they were said (``time_boost``), and memories that state a time for "when"
  questions (``when_boost``);
* the previous unit's cosine when it is a candidate too (``previous_neighbour_weight``);
* thread diversity of the top hits (:mod:`.diversity`, ``thread_decay``);
* a second round (:mod:`.expansion`, ``expansion_weight``): one more keyword search with the
  query's keywords plus terms of the first round's best hits (no new embedding);
* derived memories (:mod:`.derived`: extractive session summaries and entity/speaker
  profiles, written next to their sources and pointing back to them; ``derived_weight``);
* :func:`.query.embedding_text`: a question about one speaker is embedded as that speaker
  would say its answer ("Ann: ... my ...").

Measured figures are in the commit messages and the benchmark's JSON, not here.
"""
