"""The engine: flows run the same steps for sync and async callers; plan steps never touch a store."""

from __future__ import annotations

import threading

import pytest

from langchain_memos import MemOS
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.engine import (
    Call,
    Embed,
    EmbedQuery,
    add_flow,
    apply_update,
    arun,
    plan_add,
    plan_fuse,
    run,
    update_flow,
)
from langchain_memos.errors import GraphIngestError, InvalidInputError, StorageError
from langchain_memos.graph.sqlite import SQLiteGraphStore

NS = ("users", "ann")


def test_a_flow_yields_its_io_steps_in_order_and_plans_in_between() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        flow = add_flow(memos.engine, ["Ann likes tea", "Ann owns a cat"], NS, {})
        embed = next(flow)
        assert isinstance(embed, Embed) and embed.texts == ["Ann likes tea", "Ann owns a cat"]
        commit = flow.send(memos.engine.embed_documents(embed.texts))
        assert isinstance(commit, Call) and commit.fn == memos.engine.commit
        assert memos.list(NS) == []  # nothing is written until the commit step runs
        ids = commit.run(memos.engine)
        ingest = flow.send(ids)
        assert isinstance(ingest, Call)
        with pytest.raises(StopIteration) as done:
            flow.send(ingest.run(memos.engine))
        assert done.value.value == ids and len(memos.list(NS)) == 2


async def test_sync_and_async_runs_of_one_flow_agree() -> None:
    with MemOS.ephemeral(embeddings=HashingEmbeddings()) as memos:
        first = run(memos.engine, add_flow(memos.engine, "Ann moved to Oslo", NS, {}))
        second = await arun(memos.engine, add_flow(memos.engine, "Ann moved to Bergen", NS, {}))
        updated = await arun(memos.engine, update_flow(memos.engine, first[0], {"content": "Ann moved to Tromsø"},
                                                       "update", None))
        assert updated.version == 2 and updated.content == "Ann moved to Tromsø"
        sync_hits = memos.search("Tromsø", NS, k=2)
        async_hits = await memos.asearch("Tromsø", NS, k=2)
        assert [(h.cube.id, h.score) for h in sync_hits] == [(h.cube.id, h.score) for h in async_hits]
        assert sync_hits[0].cube.id == first[0] and memos.get(second[0]).content == "Ann moved to Bergen"


async def test_a_graph_failure_inside_an_async_flow_is_a_graph_ingest_error() -> None:
    class Down(SQLiteGraphStore):
        def put_relations(self, relations):  # noqa: ANN001, ANN201
            raise StorageError("graph engine down (start it)")

    with MemOS.ephemeral(embeddings=HashingEmbeddings(), graph=Down(None)) as memos:
        with pytest.raises(GraphIngestError) as caught:
            await memos.aadd("I live in Oslo", NS)
        assert [c.content for c in memos.get_many(caught.value.ids)] == ["I live in Oslo"]


async def test_async_exit_closes_the_engines_off_the_event_loop() -> None:
    memos = MemOS.ephemeral(embeddings=HashingEmbeddings())
    closing_threads: list[int] = []
    close = memos.close

    def recording_close() -> None:
        closing_threads.append(threading.get_ident())
        close()

    memos.close = recording_close  # type: ignore[method-assign]
    async with memos:
        await memos.aadd("a note", NS)
    assert closing_threads and closing_threads[0] != threading.get_ident()


def test_plan_steps_are_pure() -> None:
    planned = plan_add("Ann likes tea", NS, {"importance": 0.4}, max_chars=100)
    cube = planned[0].cube
    update = apply_update(cube, {"content": "Ann likes coffee"}, reason="r", actor="ann", max_chars=100)
    assert (cube.version, cube.content) == (1, "Ann likes tea")  # the input is left as it was
    assert update.cube.version == 2 and update.embed_text == "Ann likes coffee"
    assert update.cube.history[-1].actor == "ann"
    other = plan_add("Ann likes green tea", NS, {}, max_chars=100)[0].cube
    fused = plan_fuse([cube, other], None, None, {}, max_chars=100)
    assert fused[0].cube.content == "Ann likes tea Ann likes green tea"
    assert [p.cube.metadata["fused_into"] for p in fused[1:]] == [fused[0].cube.id] * 2
    with pytest.raises(InvalidInputError, match="one namespace"):
        plan_fuse([cube, plan_add("x", ("other",), {}, max_chars=10)[0].cube], None, None, {}, max_chars=100)
    assert EmbedQuery("q").text == "q"


async def test_the_query_rewrite_and_the_second_round_are_steps_of_the_one_search_flow() -> None:
    from langchain_memos import RetrievalConfig
    from langchain_memos.engine import search_flow

    config = RetrievalConfig(rewrite_query=True, expansion_weight=0.3)
    with MemOS.ephemeral(embeddings=HashingEmbeddings(), retrieval=config) as memos:
        memos.add([MemCubeFor("Ann", "I baked a lemon cake for my brother"),
                   MemCubeFor("Bob", "I fixed the bike"), MemCubeFor("Ann", "the lemon cake had poppy seeds")], NS)
        flow = search_flow(memos.engine, "What did Ann bake for her brother?", NS, 2, {})
        rewrite = next(flow)
        assert isinstance(rewrite, Call) and rewrite.fn == memos.engine.query_text
        embed = flow.send(rewrite.run(memos.engine))
        assert isinstance(embed, EmbedQuery) and embed.text == "Ann: What did I bake for my brother?"
        sync = [h.cube.content for h in memos.search("What did Ann bake for her brother?", NS, k=2)]
        assert sync == [h.cube.content for h in await memos.asearch("What did Ann bake for her brother?", NS, k=2)]
        assert sync[0] == "Ann: I baked a lemon cake for my brother"
        assert memos.embed_query("What did Ann bake for her brother?", NS) == memos.embed_query(embed.text)


def MemCubeFor(speaker: str, text: str):  # noqa: N802 - reads as a constructor in the test above
    from langchain_memos import MemCube

    return MemCube(content=f"{speaker}: {text}", namespace=NS, metadata={"speaker": speaker})
