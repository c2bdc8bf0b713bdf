"""Isolation and access control (issue 10, point 4), and erasing a user everywhere."""

from __future__ import annotations

import pytest

from benchmarks.reliability import isolation
from benchmarks.reliability._shared import open_memos
from langchain_memos.cube import Permissions
from langchain_memos.errors import InvalidInputError, StorageError


def test_random_queries_across_users_never_leak_and_erased_users_leave_no_trace(tmp_path):
    figures = isolation.run(tmp_path, users=6, cubes_per_user=8, queries=300, erase=2, seed=4)
    assert figures["isolation_queries"] == 375
    assert figures["leaks"] == 0, figures["leak_examples"]
    assert figures["erased"] > 0


def test_the_visibility_oracle_is_independent_and_strict():
    owners, shared = {"c": "ann"}, {"c": ("bob",)}
    assert isolation._visible("c", "ann", owners, shared) and isolation._visible("c", "bob", owners, shared)
    assert not isolation._visible("c", "eve", owners, shared)


def test_shared_cubes_are_visible_only_to_readers(tmp_path):
    memos = open_memos(None)
    try:
        private = memos.add("ann's diary", ("users", "ann"), owner="ann")[0]
        shared = memos.add("ann's recipe", ("users", "ann"), owner="ann", permissions=Permissions(readers=("bob",)))[0]
        assert {h.cube.id for h in memos.search("ann", k=10, user="bob")} == {shared}
        assert memos.get(private, user="eve") is None
        assert {c.id for c in memos.list(("users",), user="ann")} == {private, shared}
    finally:
        memos.close()


def test_forget_hooks_all_run_and_a_failure_is_typed_and_retryable(tmp_path):
    memos = open_memos(tmp_path / "s")
    try:
        memos.add("ann likes tea", ("users", "ann"), owner="ann")
        calls = []

        def broken(request):
            raise OSError("adapter folder is read-only")

        memos.add_forget_hook(broken)
        memos.add_forget_hook(calls.append)
        with pytest.raises(StorageError, match="broken"):
            memos.delete_user("ann", namespaces=[("users", "ann")])
        assert calls and calls[0].user == "ann" and calls[0].namespaces == (("users", "ann"),)
        assert memos.list(("users", "ann")) == []  # the stores were erased before the hooks ran
        memos.forget_hooks.remove(broken)
        assert memos.delete_user("ann") == []  # idempotent
        with pytest.raises(InvalidInputError):
            memos.delete_user("")
    finally:
        memos.close()


def test_forget_namespace_erases_only_that_prefix(tmp_path):
    memos = open_memos(tmp_path / "s")
    try:
        keep = memos.add("bob's", ("users", "bob"))[0]
        gone = memos.add("al's", ("users", "al"))[0]
        memos.add("alice's", ("users", "alice"))
        assert memos.forget_namespace(("users", "al")) == [gone]
        assert memos.get(keep) is not None and len(memos.list(("users", "alice"))) == 1
        assert memos.check(repair=False).ok
    finally:
        memos.close()
