"""Reliability benchmark: concurrency, crashes, bad input, isolation, injection (issue 10).

Run from the repo root::

    python -m benchmarks.reliability --json OUT.json             # full figures
    python -m benchmarks.reliability --quick --json OUT.json     # the reduced run the tests use

Each scenario lives in its own module and returns a dict of figures; the tests in
``tests/reliability/`` run the same functions with smaller parameters. Every run
uses the embedded default (SQLite + Chroma persistent) with ``HashingEmbeddings``;
``--chroma-server HOST:PORT`` adds the concurrency scenario against a Chroma server.
"""
