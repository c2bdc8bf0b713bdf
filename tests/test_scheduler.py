"""MemScheduler: background jobs with a bounded queue, wait/status/shutdown, LangGraph nodes, and no write lost
when the process is killed mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, TypedDict

import pytest

from langchain_memos import MemOS, Tier
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.lifecycle import LifecycleConfig, MemLifecycle, TierConfig
from langchain_memos.scheduler import (
    Job,
    MemScheduler,
    SchedulerClosedError,
    SchedulerConfig,
    SchedulerFullError,
    consolidate_node,
    preload_node,
)

REPO = Path(__file__).resolve().parents[1]
NS = ("users", "alice")


@pytest.fixture
def memos():
    with MemOS.ephemeral(embeddings=HashingEmbeddings(dims=64)) as m:
        yield m


def blocker() -> tuple[threading.Event, threading.Event, Job]:
    """A job that signals it started and waits until released."""
    started, release = threading.Event(), threading.Event()

    def run(_: Any) -> str:
        started.set()
        assert release.wait(10)
        return "released"

    return started, release, Job("block", run)


def test_submit_wait_status_and_results(memos):
    with MemScheduler(memos) as scheduler:
        ids = scheduler.add(["Alice likes green tea", "alice likes green tea."], NS, thread="t1")
        assert [c is not None for c in memos.get_many(ids, touch=False)] == [True, True]  # acknowledged at once
        handle = scheduler.consolidate(NS)
        assert scheduler.wait(10)
        report = handle.result(1)
        assert handle.state == "done" and report.namespace == NS
        status = scheduler.status()
        assert status.running and status.idle and status.failed == 0
        assert status.jobs == {"fuse": 1, "consolidate": 1}
        assert status.lifecycle["deduplicated"] == 1  # the background fuse job merged the duplicate
        assert scheduler.submit(lambda life: life.tier_counts(NS)).result(5)["archive"] == 1
    assert not scheduler.status().running


def test_bounded_queue_coalescing_failures_and_shutdown(memos):
    scheduler = MemScheduler(memos, SchedulerConfig(queue_size=2))
    started, release, job = blocker()
    running = scheduler.submit(job)
    assert started.wait(5) and scheduler.status().in_flight == "block"
    first = scheduler.consolidate(NS)
    assert scheduler.consolidate(NS) is first  # coalesced while queued
    failing = scheduler.submit(Job("boom", lambda life: 1 / 0))
    with pytest.raises(SchedulerFullError):
        scheduler.submit(Job("extra", lambda life: None), block=False)
    with pytest.raises(SchedulerFullError):
        scheduler.submit(Job("extra", lambda life: None), timeout=0.05)
    assert not scheduler.wait(0.05)
    release.set()
    assert scheduler.wait(10)
    assert running.result() == "released" and first.state == "done"
    assert failing.state == "failed" and isinstance(failing.exception(), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        failing.result()
    status = scheduler.status()
    assert (status.failed, status.coalesced) == (1, 1) and "ZeroDivisionError" in status.last_error
    # the scheduler survived the failure
    assert scheduler.submit(lambda life: 42).result(5) == 42
    # shutdown with cancel_pending: the running job finishes, queued ones are cancelled
    started, release, job = blocker()
    scheduler.submit(job)
    assert started.wait(5)
    queued = scheduler.submit(Job("later", lambda life: None))
    threading.Timer(0.2, release.set).start()
    assert scheduler.shutdown(wait=True, timeout=10, cancel_pending=True)
    assert queued.state == "cancelled" and scheduler.status().cancelled == 1
    with pytest.raises(SchedulerClosedError):
        queued.result(1)
    with pytest.raises(SchedulerClosedError):
        scheduler.submit(lambda life: None)


def test_shutdown_runs_queued_jobs_and_periodic_consolidation(memos):
    scheduler = MemScheduler(memos, SchedulerConfig(period_s=0.05, namespaces=(NS,)))
    memos.add(["a fact about owls"], NS)
    deadline = time.monotonic() + 10
    while scheduler.status().jobs.get("consolidate", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scheduler.status().jobs.get("consolidate", 0) >= 1  # ran without being asked
    handle = scheduler.submit(Job("last", lambda life: "ran"))
    assert scheduler.shutdown(wait=True, timeout=10)
    assert handle.result(0) == "ran"


def test_warmer_is_refreshed_when_activation_changes(memos):
    class Warmer:
        refreshed = 0

        def request_refresh(self) -> None:
            self.refreshed += 1

    warmer = Warmer()
    config = SchedulerConfig(lifecycle=LifecycleConfig(tiers=TierConfig(activation_heat=3.0)))
    with MemScheduler(memos, config, warmer=warmer) as scheduler:
        [cube_id] = scheduler.add(["Alice's allergy: peanuts"], NS, thread="t")
        memos.mark_used([cube_id], visits=5)
        scheduler.consolidate(NS)
        assert scheduler.wait(10)
    assert memos.get(cube_id, touch=False).tier is Tier.ACTIVATION and warmer.refreshed == 1


# ------------------------------------------------------------------------------------------ LangGraph nodes
class State(TypedDict, total=False):
    messages: list
    namespace: list
    memos_preload: dict
    memos_consolidation: dict


def _graph(**compile_kwargs: Any):
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(State)
    builder.add_node("preload", preload_node)
    builder.add_node("consolidate", consolidate_node)
    builder.add_edge(START, "preload")
    builder.add_edge("preload", "consolidate")
    builder.add_edge("consolidate", END)
    return builder.compile(**compile_kwargs)


def test_nodes_run_with_a_memos_context(memos):
    from langchain_core.messages import AIMessage, HumanMessage

    ids = memos.add(["Alice's cat is called Miso", "Bob collects stamps"], NS)
    memos.move_tiers({ids[0]: Tier.ARCHIVE})
    out = _graph().invoke({"messages": [AIMessage("Hi Alice!"), HumanMessage("What is my cat called? Miso?")],
                           "namespace": list(NS)}, context=memos, config={"configurable": {"thread_id": "th-9"}})
    assert ids[0] in out["memos_preload"]["ids"]
    assert memos.get(ids[0], touch=False).tier is Tier.WORKING
    assert memos.records.working_set(NS, "th-9")[0][1] == ids[0]
    assert out["memos_consolidation"]["namespace"] == list(NS)


def test_nodes_find_memos_through_a_memos_store(tmp_path):
    from langchain_core.messages import HumanMessage

    from langchain_memos.integrations import MemOSStore

    memos = MemOS(str(tmp_path / "m"), embeddings=HashingEmbeddings(dims=64))
    store = MemOSStore(memos)
    try:
        store.put(("notes",), "k1", {"text": "The wifi password is hunter2"})
        out = _graph(store=store).invoke({"messages": [HumanMessage("what is the wifi password")],
                                          "namespace": ["notes"]})
        assert len(out["memos_preload"]["ids"]) == 1
        assert out["memos_consolidation"]["namespace"] == ["notes"]
    finally:
        store.close()


def test_node_without_memory_names_the_fix():
    from langchain_core.messages import HumanMessage

    with pytest.raises(LookupError, match="MemOSStore"):
        _graph().invoke({"messages": [HumanMessage("hi")]})


def test_node_context_may_hold_a_lifecycle_or_scheduler(memos):
    from langchain_core.messages import HumanMessage

    life = MemLifecycle(memos)
    memos.add(["Alice runs marathons"], NS)
    out = _graph().invoke({"messages": [HumanMessage("marathons?")], "namespace": list(NS)},
                          context={"lifecycle": life})
    assert out["memos_preload"]["ids"] and life.stats.preloads == 1
    with MemScheduler(life) as scheduler:
        _graph().invoke({"messages": [HumanMessage("marathons?")], "namespace": list(NS)}, context=scheduler)
    assert life.stats.preloads == 2


# ------------------------------------------------------------------------------------------ crash safety
_CHILD = textwrap.dedent("""
    import json, os, sys, time
    from langchain_core.language_models import FakeListChatModel
    from langchain_memos import MemOS, MemCube, MemoryType, Provenance
    from langchain_memos.embeddings import HashingEmbeddings
    from langchain_memos.lifecycle import FuseConfig, LifecycleConfig, LLMBudget, TierConfig
    from langchain_memos.scheduler import MemScheduler, SchedulerConfig

    class SlowModel(FakeListChatModel):
        def _call(self, *args, **kwargs):
            marker = os.path.join(sys.argv[1], "job-running")
            open(marker, "w").close()
            time.sleep(0.05)
            return "A short summary of several turns."

    path, ack = sys.argv[1], os.path.join(sys.argv[1], "acknowledged.jsonl")
    memos = MemOS(os.path.join(path, "store"), embeddings=HashingEmbeddings(dims=64))
    policy = LifecycleConfig(tiers=TierConfig(working_capacity=4, mid_term_capacity=4),
                             fuse=FuseConfig(cluster_max_size=3, llm_budget=LLMBudget(max_calls=None)))
    scheduler = MemScheduler(memos, SchedulerConfig(lifecycle=policy, queue_size=4),
                             model=SlowModel(responses=["x"]))
    ns = ("users", "crash")
    with open(ack, "a") as out:
        for i in range(100000):
            cube = MemCube(content=f"turn {i}: note about subject{i % 37} and item{i}", namespace=ns,
                           key=f"k{i}", memory_type=MemoryType.EPISODE,
                           provenance=[Provenance("message", f"m{i}", "session")])
            [cube_id] = scheduler.add([cube], ns, thread="chat")
            if i % 3 == 0:
                [dup] = scheduler.add([f"turn {i}: note about subject{i % 37} and item{i}."], ns)
                out.write(json.dumps([dup, f"turn {i}: note about subject{i % 37} and item{i}."]) + "\\n")
            out.write(json.dumps([cube_id, cube.content]) + "\\n")
            out.flush()
            os.fsync(out.fileno())
            if i % 4 == 0:
                scheduler.consolidate(ns)  # waits for queue room: write-time fuse jobs never starve it
            committed = os.path.join(path, "summary-committed")
            if not os.path.exists(committed) and scheduler.status().lifecycle.get("summaries", 0) > 0:
                open(committed, "w").close()
""")


@pytest.mark.parametrize("delay", [1.5, 3.0])
def test_kill_mid_job_loses_no_acknowledged_write(tmp_path, delay):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        marker = tmp_path / "job-running"
        while not marker.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode()[-3000:]
        assert marker.exists(), "the background job never started"
        committed = tmp_path / "summary-committed"  # a job committed: the kill can land after it, not before
        while not committed.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert committed.exists(), child.stderr.read().decode()[-3000:] if child.poll() is not None else \
            "no job committed a summary within the deadline"
        time.sleep(delay)  # let jobs and writes interleave, then kill in the middle of whatever runs
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    lines = (tmp_path / "acknowledged.jsonl").read_text().splitlines()
    acknowledged = [json.loads(line) for line in lines if line.strip()]
    assert len(acknowledged) > 10
    with MemOS(str(tmp_path / "store"), embeddings=HashingEmbeddings(dims=64)) as memos:
        got = memos.get_many([cube_id for cube_id, _ in acknowledged], touch=False)
        missing = [cid for (cid, content), cube in zip(acknowledged, got) if cube is None or cube.content != content]
        assert missing == []
        memos.check(repair=True)
        assert memos.check(repair=False).ok
        summaries = memos.list(("users", "crash"), types=["summary"], limit=10000)
        assert summaries, "no job committed before the kill; raise the delay"
        # the interrupted work simply runs again, and nothing is lost either
        life = MemLifecycle(memos, LifecycleConfig(tiers=TierConfig(working_capacity=4, mid_term_capacity=4)))
        life.consolidate(("users", "crash"))
        again = memos.get_many([cube_id for cube_id, _ in acknowledged], touch=False)
        assert all(c is not None for c in again) and memos.check(repair=False).ok
        for s in summaries:
            sources = [p.ref for p in s.provenance if p.kind == "cube"]
            assert all(c is not None and c.tier is Tier.ARCHIVE for c in memos.get_many(sources, touch=False))
