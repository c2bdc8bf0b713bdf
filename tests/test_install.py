"""The install tooling: the lock, the drift report and CI's fresh venv (no network, nothing installed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.deps_latest import drift, failures, pins
from tools.lock import normalise, preferences

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```bash\n") + len("```bash\n"):]
    return block[:block.index("```")].strip().splitlines()


def test_the_lock_pins_every_package_exactly_and_torch_at_the_cpu_build() -> None:
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    requirement_lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(requirement_lines) > 50
    assert all("==" in line for line in requirement_lines)
    locked = pins(text)
    assert locked["torch"] == "2.13.0" and "+" not in text.split("torch==")[1].split()[0]
    for package in ("langchain-core", "langgraph", "chromadb", "faiss-cpu", "tantivy", "transformers", "peft",
                    "sentence-transformers", "neo4j", "langchain-community", "pytest", "uv"):
        assert package in locked, package
    assert not any(name.startswith("nvidia-") for name in locked)  # the CPU build needs no CUDA packages


def test_both_readme_commands_install_with_the_lock() -> None:
    demo, tests = _readme_commands()[:2]
    assert demo.startswith('pip install -c constraints.txt -e ".[local]"') and demo.endswith("memos demo")
    assert tests == 'pip install -c constraints.txt -e ".[all,dev]" && python -m pytest'


def test_ci_runs_the_readme_test_command_in_a_fresh_venv() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv" in script and "--system-site-packages" not in script
    extracted = subprocess.run(
        ["bash", "-c", script[script.index("command=$("):].split("\n", 1)[0] + ' && printf "%s" "$command"'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert extracted == _readme_commands()[1]


def test_normalise_drops_local_version_suffixes_only() -> None:
    assert normalise("torch==2.13.0+cpu  # via x\nnumpy==2.4.6\n") == "torch==2.13.0  # via x\nnumpy==2.4.6\n"


def test_a_lock_refresh_prefers_the_current_pins_but_not_the_hand_kept_ones() -> None:
    kept = preferences().splitlines()
    assert any(line.startswith("numpy==") for line in kept) and any(line.startswith("faiss-cpu==") for line in kept)
    assert not any(line.split("==")[0] in ("torch", "langchain-core", "langchain") for line in kept)


def test_drift_lists_moved_new_and_missing_packages() -> None:
    locked = pins("transformers==5.23.0\npeft==0.21.2\nTyping_Extensions==4.1\n")
    installed = pins("transformers==5.24.0\npeft==0.21.2\ntyping-extensions==4.1\nkernels==0.19.1\n")
    assert drift(locked, installed) == ["  + kernels 0.19.1 (not in the lock)", "  ~ transformers 5.23.0 -> 5.24.0"]
    assert drift(installed, locked)[0] == "  - kernels 0.19.1 (locked, not installed)"


def test_failures_reads_failed_and_erroring_cases_from_junit(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="tests.test_a" name="test_ok"/>'
                     '<testcase classname="tests.test_a" name="test_bad"><failure message="assert 1 == 2&#10;more"/>'
                     '</testcase><testcase classname="tests.test_b" name="test_err"><error message="boom"/>'
                     '</testcase></testsuite></testsuites>')
    assert failures(junit) == ["tests.test_a::test_bad: assert 1 == 2", "tests.test_b::test_err: boom"]
    assert failures(tmp_path / "missing.xml") == []
