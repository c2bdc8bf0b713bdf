"""Runnable recipes: each module has a ``main(argv)`` and runs offline by default (see cookbook/README.md)."""
