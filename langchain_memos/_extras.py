"""Check, before the heavy imports, that the installed packages of an extra can work together.

pyproject's ranges are the single source of truth: when a release is known to break us, its
range gets an upper bound there, and this check turns the deep ``ValueError`` a bad pair would
raise at run time into a typed error that names the pin fixing it. It reads package metadata
only (no import), so it costs about a millisecond.

Two kinds of conflict are reported, among the extra's packages that are installed (a missing
package is left to the import that needs it, which names its own fix):

* an installed version outside the range this package declares for it;
* an installed version outside the range another installed package of the extra declares for it
  (e.g. peft's own requirement on transformers).
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Callable, Iterable, Mapping, Sequence

DISTRIBUTION = "langchain-memos"


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def conflicts(wanted: Iterable[str], installed: Mapping[str, str],
              requires_of: Callable[[str], Sequence[str]]) -> list[str]:
    """Describe each conflict between requirements and installed versions (pure; empty when all fit).

    Args:
        wanted: The extra's requirement strings (e.g. ``"transformers>=4.56,<5.24"``), markers removed.
        installed: Installed version by normalised distribution name (only the extra's packages).
        requires_of: The requirement strings an installed distribution declares itself.

    Returns:
        One line per conflict, each ending with the ``pip install`` pin that resolves it.

    Example:
        >>> conflicts(["transformers>=4.56,<5.24", "peft>=0.18"], {"transformers": "5.24.0", "peft": "0.21.2"},
        ...           lambda name: [])
        ["transformers 5.24.0 is installed, but langchain-memos needs transformers<5.24,>=4.56; fix: pip install 'transformers<5.24,>=4.56'"]
    """
    from packaging.requirements import InvalidRequirement, Requirement

    lines: list[str] = []
    own = [Requirement(w) for w in wanted]
    checks = [(DISTRIBUTION, r) for r in own]
    for dist in sorted(installed):
        for text in requires_of(dist):
            try:
                req = Requirement(text)
            except InvalidRequirement:  # pragma: no cover - malformed third-party metadata
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                checks.append((dist, req))
    for who, req in checks:
        version = installed.get(_normal(req.name))
        if version is None or not req.specifier or req.specifier.contains(version, prereleases=True):
            continue
        lines.append(f"{req.name} {version} is installed, but {who} needs {req.name}{req.specifier}; "
                     f"fix: pip install '{req.name}{req.specifier}'")
    return lines


@functools.lru_cache(maxsize=None)
def extra_conflicts(extra: str) -> tuple[str, ...]:
    """:func:`conflicts` of this package's ``extra`` against what is installed (cached per process).

    Empty when the package's own metadata is absent (a source tree that was never installed).
    """
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return ()
    wanted: list[str] = []
    for text in declared:
        req = Requirement(text)
        if req.marker is not None and req.marker.evaluate({"extra": extra}) and not req.marker.evaluate({"extra": ""}):
            req.marker = None
            wanted.append(str(req))
    installed: dict[str, str] = {}
    for text in wanted:
        name = _normal(Requirement(text).name)
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(conflicts(wanted, installed, lambda dist: metadata.requires(dist) or []))


def check_extra(extra: str, error: type[Exception]) -> None:
    """Raise ``error`` listing every conflict of ``extra`` (see :func:`extra_conflicts`); nothing when all fit."""
    found = extra_conflicts(extra)
    if found:
        raise error(f"the installed packages of langchain-memos[{extra}] cannot work together: " + "; ".join(found)
                    + f" (or install the tested set: pip install -c constraints.txt 'langchain-memos[{extra}]')")


__all__ = ["check_extra", "conflicts", "extra_conflicts"]
