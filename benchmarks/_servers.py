"""Local servers on loopback for the benchmarks and tests: a `chroma run` server, free ports, process-group stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

#: How long a start waits for the server to answer its heartbeat.
START_TIMEOUT_S = 60.0


class ChromaServer(NamedTuple):
    """A running server: where it listens and its process id."""

    host: str
    port: int
    pid: int


class ChromaServerError(RuntimeError):
    """``chroma run`` is missing or did not come up; the message says which and carries the log tail."""


def chroma_command() -> list[str] | None:
    """The ``chroma`` CLI (or its module form), or ``None`` when chromadb has no CLI."""
    exe = shutil.which("chroma")
    if exe:
        return [exe]
    import importlib.util

    try:
        if importlib.util.find_spec("chromadb.cli.cli") is not None:
            return [sys.executable, "-m", "chromadb.cli.cli"]
    except ImportError:
        pass
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def heartbeat(host: str, port: int) -> bool:
    """Whether a Chroma server answers its heartbeat at ``host:port``."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v2/heartbeat", timeout=1.0) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started in its own session (its process group): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def chroma_server(data: Path, *, timeout_s: float = START_TIMEOUT_S) -> Iterator[ChromaServer]:
    """Run ``chroma run --path data`` on 127.0.0.1 and a free port; yield where it listens; stop it on exit.

    Raises:
        ChromaServerError: The CLI is not installed (install ``chromadb>=1.0``), or the
            server exited or did not answer its heartbeat within ``timeout_s``.
    """
    command = chroma_command()
    if command is None:
        raise ChromaServerError("the `chroma` CLI is not installed (it ships with chromadb); install chromadb>=1.0")
    host, port = "127.0.0.1", free_port()
    data.mkdir(parents=True, exist_ok=True)
    log_path = data.parent / f"chroma-server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*command, "run", "--path", str(data), "--host", host, "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not heartbeat(host, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise ChromaServerError(f"`chroma run` did not answer its heartbeat on {host}:{port} "
                                        f"(exit code {proc.poll()}); log tail:\n{tail}")
            time.sleep(0.1)
        yield ChromaServer(host, port, proc.pid)
    finally:
        stop(proc)


def process_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of another process in MB; 0.0 where ``/proc`` cannot tell."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0
