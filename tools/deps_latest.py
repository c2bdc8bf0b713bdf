"""Install the newest releases pyproject allows into a scratch venv, run the suite, report the drift.

Run from the repository root (a separate command, not part of the default test run)::

    python -m tools.deps_latest                 # scratch venv in a temp dir, removed afterwards
    python -m tools.deps_latest --keep /tmp/v   # keep the venv to investigate
    python -m tools.deps_latest -- -x tests/test_parametric.py   # pytest arguments after --

It installs ``.[all,dev]`` with pyproject's ranges and only the hand-kept pins of
``constraints.in`` (the local CPU torch), not the lock, so it sees what a user who installs
without ``constraints.txt`` gets today. It prints every package whose version differs from the
lock (and those the lock lacks), then the suite's summary and each failing test. Exit status: 0
when the suite passes, 1 when tests fail, 2 when the install fails. When it passes and the drift is
wanted, refresh the lock with ``python -m tools.lock``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
PINS = ROOT / "constraints.in"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", re.M)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line (names normalised, ``+local`` suffixes dropped)."""
    return {_name(m.group(1)): m.group(2).split("+")[0] for m in _PIN.finditer(text)}


def drift(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per package whose installed version differs from the lock, or that only one side has."""
    lines = []
    for name in sorted(set(locked) | set(installed)):
        old, new = locked.get(name), installed.get(name)
        if old == new:
            continue
        if old is None:
            lines.append(f"  + {name} {new} (not in the lock)")
        elif new is None:
            lines.append(f"  - {name} {old} (locked, not installed)")
        else:
            lines.append(f"  ~ {name} {old} -> {new}")
    return lines


def failures(junit: Path) -> list[str]:
    """``test id: first line of the message`` of each failed or erroring test case of a JUnit XML file."""
    if not junit.exists():
        return []
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            message = (bad.get("message") or "").strip().splitlines()
            out.append(f"{case.get('classname')}::{case.get('name')}: {message[0][:200] if message else bad.tag}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m tools.deps_latest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=None, help="create the venv here and keep it")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="memos-deps-latest-"))
    venv = args.keep or scratch / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        print(f"installing the newest releases pyproject allows into {venv} ...", flush=True)
        install = subprocess.run([python, "-m", "pip", "install", "-q", "-c", str(PINS), "-e", ".[all,dev]"],
                                 cwd=ROOT, capture_output=True, text=True)
        if install.returncode != 0:
            print(install.stdout + install.stderr)
            print("the install failed: pyproject's ranges do not resolve today (pip's message is above)")
            return 2
        frozen = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude-editable", "--exclude", "pip"],
                                capture_output=True, text=True, check=True).stdout
        moved = drift(pins(LOCK.read_text(encoding="utf-8")), pins(frozen))
        print(f"{len(moved)} packages differ from constraints.txt:" if moved else "no package moved from the lock")
        print("\n".join(moved))
        junit = scratch / "junit.xml"
        tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                                *pytest_args], cwd=ROOT, capture_output=True, text=True)
        summary = [line for line in tests.stdout.splitlines() if line.strip()][-1:] or ["(no pytest output)"]
        print(f"suite: {summary[0].strip('= ')}")
        broken = failures(junit)
        if broken:
            print("what broke:")
            print("\n".join(f"  {line}" for line in broken))
        return 0 if tests.returncode == 0 else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
