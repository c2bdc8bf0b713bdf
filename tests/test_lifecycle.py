"""MemLifecycle: heat, every tier move, fuse with provenance, supersede, summaries, archive search, expiry audit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.language_models import FakeListChatModel

from langchain_memos import MemCube, MemOS, MemOSConfig, MemoryType, Provenance, Status, Tier
from langchain_memos.embeddings import HashingEmbeddings
from langchain_memos.lifecycle import FuseConfig, LifecycleConfig, LLMBudget, MemLifecycle, PreloadConfig, TierConfig
from langchain_memos.lifecycle.fuse import contradicts, extractive_summary, near_duplicate, segment_thread
from langchain_memos.lifecycle.llm import BudgetedLLM, cut_tokens
from langchain_memos.scheduler.heat import HeatConfig, cube_heat, estimate_importance, heat_score, recency
from langchain_memos.storage.base import TierMove

NS = ("users", "alice")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memos():
    config = MemOSConfig(path=None, vector_backend="chroma-ephemeral", track_access=False)
    with MemOS(config=config, embeddings=HashingEmbeddings(dims=64)) as m:
        yield m


def life_of(memos: MemOS, clock: Clock, **tiers) -> MemLifecycle:
    return MemLifecycle(memos, LifecycleConfig(tiers=TierConfig(**tiers)), clock=clock)


def turns(n: int, *, session: int = 1, start: datetime = T0, words: str = "") -> list[MemCube]:
    """``n`` conversation turns of one session, each with its own topic word."""
    return [MemCube(content=f"Alice: turn {session}-{i} about topic{session}x{i} {words}".strip(), namespace=NS,
                    key=f"D{session}:{i}", memory_type=MemoryType.EPISODE,
                    created_at=start + timedelta(seconds=i), metadata={"speaker": "Alice"},
                    provenance=[Provenance("message", f"D{session}:{i}", f"session_{session}")])
            for i in range(1, n + 1)]


def tiers_of(memos: MemOS, ids) -> list[str]:
    return [c.tier.value for c in memos.get_many(list(ids), touch=False)]


# ------------------------------------------------------------------------------------------ heat
def test_heat_is_a_pure_documented_function():
    cfg = HeatConfig()
    base = dict(access_count=0, interactions=1, last_touch=T0, importance=0.5, now=T0, config=cfg)
    fresh = heat_score(**base)
    assert heat_score(**{**base, "access_count": 5}) > fresh  # visits
    assert heat_score(**{**base, "interactions": 6}) > fresh  # interaction length
    assert heat_score(**{**base, "importance": 0.9}) > fresh  # importance
    assert heat_score(**{**base, "now": T0 + timedelta(days=3)}) < fresh  # decay
    assert heat_score(**{**base, "last_touch": T0 + timedelta(days=1)}) == fresh  # future touch counts as now
    assert recency(cfg.tau_hours, cfg) == pytest.approx(1 / 2.718281828, rel=1e-6)
    power = HeatConfig(decay="power", power=1.0, tau_hours=10)
    assert recency(10, power) == 0.5 and recency(90, power) == 0.1
    linear = HeatConfig(visit_transform="linear", recency_weight=0, importance_weight=0, interaction_weight=0)
    assert heat_score(**{**base, "access_count": 7, "config": linear}) == 7
    for bad in (dict(tau_hours=0), dict(visit_weight=-1), dict(decay="cubic"), dict(use_visits=0)):
        with pytest.raises(ValueError):
            HeatConfig(**bad)
    assert estimate_importance("Thanks!") < 0.3 < estimate_importance("Caroline: I moved to Oslo in May 2023")
    summary = MemCube("s", NS, provenance=[Provenance("message", f"D1:{i}") for i in range(4)], created_at=T0)
    single = MemCube("s", NS, provenance=[Provenance("message", "D1:1")], created_at=T0)
    assert cube_heat(summary, T0) > cube_heat(single, T0)


def test_hits_reads_and_use_raise_heat(memos, clock):
    life = life_of(memos, clock)
    [a, b] = life.add(["Alice adopted a greyhound named Comet", "Bob plays chess on Sundays"], NS)
    clock.advance(days=10)
    cold = life.heat(memos.get(a, touch=False))
    life.search("greyhound Comet", NS, k=1)  # a retrieval hit
    hit = memos.get(a, touch=False)
    assert hit.access_count == 1 and hit.last_accessed_at == clock.now and life.heat(hit) > cold
    life.mark_used([a])  # use in an answer counts HeatConfig.use_visits accesses and stores heat
    used = memos.get(a, touch=False)
    assert used.access_count == 1 + HeatConfig().use_visits
    assert used.heat == pytest.approx(life.heat(used), abs=1e-3)
    life.touch([b])  # an explicit read
    assert memos.get(b, touch=False).access_count == 1


# ------------------------------------------------------------------------------------------ tiers
def test_admit_and_working_capacity_evicts_coldest(memos, clock):
    life = life_of(memos, clock, working_capacity=3)
    ids = life.add(turns(3), NS, thread="t1")
    assert tiers_of(memos, ids) == ["working"] * 3
    life.mark_used([ids[1]])
    clock.advance(hours=1)
    [new] = life.add(turns(1, session=2, start=clock.now), NS, thread="t1")
    assert set(life.working_set("t1", NS)) == {ids[1], ids[2], new}
    assert tiers_of(memos, ids) == ["mid_term", "working", "working"]  # the coldest, oldest join left
    log = memos.audit_log(ids[0])[0]
    assert log.action == "tier_move" and log.reason == "working set over capacity" and log.detail["capacity"] == 3
    # other threads have their own working sets
    life.admit([ids[0]], "t2", namespace=NS)
    assert life.working_set("t2", NS) == [ids[0]] and tiers_of(memos, [ids[0]]) == ["working"]


def test_activation_promotion_and_demotion_notify_listener(memos, clock):
    calls: list[int] = []
    life = MemLifecycle(memos, LifecycleConfig(tiers=TierConfig(activation_heat=4.0, activation_capacity=1)),
                        clock=clock, on_activation_change=lambda: calls.append(1))
    a, b = life.add(["hot fact about tea", "warm fact about coffee"], NS, thread="t")
    life.mark_used([a])
    life.mark_used([a])
    life.mark_used([b])
    life.rebalance(NS)
    assert tiers_of(memos, [a, b]) == ["activation", "working"] and calls == [1]
    clock.advance(days=30)
    life.rebalance(NS)
    assert tiers_of(memos, [a]) == ["mid_term"] and calls == [1, 1]


def test_capacity_demotion_heat_promotion_and_unarchive(memos, clock):
    life = life_of(memos, clock, mid_term_capacity=2, long_term_capacity=2, mid_term_heat=3.0,
                   unarchive_heat=3.0)
    ids = life.add([f"fact number {i} about item{i}" for i in range(6)], NS)
    for i, cube_id in enumerate(ids):
        for _ in range(i):
            life.touch([cube_id])  # later ones are hotter
    clock.advance(days=5)
    life.rebalance(NS)
    assert tiers_of(memos, ids) == ["archive", "archive", "long_term", "long_term", "mid_term", "mid_term"]
    assert memos.check(repair=False).ok
    assert set(memos.vectors.ids()) == set(ids[2:])  # archived cubes left the hot index
    # heat brings cubes back up: long-term -> mid-term, archive -> long-term
    for _ in range(3):
        life.mark_used([ids[0], ids[2]])
    life.rebalance(NS)
    tiers = dict(zip(ids, tiers_of(memos, ids)))
    assert tiers[ids[0]] == "long_term" and tiers[ids[2]] == "mid_term"
    assert life.stats.unarchived == 1 and memos.check(repair=False).ok
    assert sum(1 for t in tiers.values() if t == "mid_term") == 2  # capacity still holds


def test_archived_cubes_stay_retrievable_and_out_of_hot_search(memos, clock):
    life = life_of(memos, clock)
    [x] = life.add(["Alice keeps bees in her garden"], NS)
    memos.move_tiers({x: Tier.ARCHIVE}, reason="test")
    assert memos.get(x, touch=False).tier is Tier.ARCHIVE and memos.get(x, touch=False).version == 1
    assert memos.search("bees garden", NS) == []
    assert [h.cube.id for h in life.search_archive("bees garden", NS)] == [x]
    assert memos.check(repair=False).ok


# ------------------------------------------------------------------------------------------ fuse
def test_dedup_keeps_provenance_of_all_sources(memos, clock):
    life = life_of(memos, clock)
    a = life.add("Alice is allergic to peanuts", NS, provenance=[Provenance("message", "m1", "th")],
                 memory_type="fact", tags=["health"])[0]
    b = life.add("alice is allergic to peanuts!", NS, provenance=[Provenance("message", "m2", "th")],
                 memory_type="fact", importance=0.9)[0]
    survivor, dup = memos.get_many([a, b], touch=False)
    assert survivor.tier is Tier.MID_TERM and survivor.version == 2
    assert [p.ref for p in survivor.provenance] == ["m1", "m2", b]
    assert survivor.importance == 0.9 and survivor.tags == ("health",)
    assert (dup.tier, dup.status, dup.metadata["fused_into"]) == (Tier.ARCHIVE, Status.FUSED, a)
    assert dup.content == "alice is allergic to peanuts!"  # the acknowledged write is kept as written
    assert memos.audit_log(b)[0].action == "fuse"
    assert life.stats.deduplicated == 1 and life.stats.fused == 1
    # background dedup (consolidate) finds duplicates written around the lifecycle
    c = memos.add("Bob drives a red Volvo", NS)[0]
    d = memos.add("Bob drives a red volvo.", NS)[0]
    report = life.consolidate(NS)
    assert report.deduplicated == 1 and tiers_of(memos, [c, d]) == ["mid_term", "archive"]
    assert life.consolidate(NS).deduplicated == 0  # idempotent


def test_supersede_rules_and_as_of(memos, clock):
    life = life_of(memos, clock)
    old = life.add("Alice lives in Oslo", NS, memory_type="fact", valid_from=T0 - timedelta(days=100))[0]
    new = life.add("Alice lives in Trondheim", NS, memory_type="fact", valid_from=T0)[0]
    o = memos.get(old, touch=False)
    assert o.valid_to == T0 and o.metadata["superseded_by"] == new
    assert o.history[-1].reason == "supersede"
    assert memos.audit_log(old)[0].action == "supersede" and life.stats.superseded == 1
    assert memos.get(new, touch=False).valid_to is None
    then = [h.cube.id for h in memos.search("where does Alice live", NS, as_of=T0 - timedelta(days=1))]
    assert then == [old]
    assert [h.cube.id for h in memos.search("where does Alice live", NS, as_of=T0 + timedelta(days=1))] == [new]
    # multi-valued predicates do not conflict
    tea, coffee = life.add(["Alice likes tea", "Alice likes coffee"], NS, memory_type="preference")
    assert memos.get(tea, touch=False).valid_to is None


def test_conflict_check_by_a_scripted_model_within_budget(memos, clock):
    model = FakeListChatModel(responses=["YES", "NO"])
    life = MemLifecycle(memos, LifecycleConfig(fuse=FuseConfig(llm_budget=LLMBudget(max_calls=2),
                                                               conflict_min_cosine=0.2)),
                        model=model, clock=clock)
    a = life.add("Bob is a vegetarian who avoids meat", NS, memory_type="fact")[0]
    b = life.add("Bob eats a big steak with meat every day", NS, memory_type="fact")[0]
    assert memos.get(a, touch=False).metadata.get("superseded_by") == b  # the rules alone would not see it
    c = life.add("Bob eats meat, mostly steak, every Friday", NS, memory_type="fact")[0]
    assert memos.get(b, touch=False).valid_to is None  # the model said NO
    assert life.llm.stats.calls == 2
    life.add("Bob eats a steak with meat every Monday", NS, memory_type="fact")
    assert life.llm.stats.skipped >= 1  # over budget: the no-LLM rules ran instead
    assert memos.get(c, touch=False) is not None


def test_summaries_archive_sources_and_search_reaches_them(memos, clock):
    life = life_of(memos, clock, working_capacity=4, mid_term_capacity=1)
    first = life.add(turns(6, words="lighthouse trip"), NS, thread="chat")
    clock.advance(days=20)
    life.add(turns(4, session=2, start=clock.now), NS, thread="chat")
    report = life.consolidate(NS)
    assert report.summaries >= 1 and report.summarized >= 2
    summaries = memos.list(NS, types=["summary"])
    assert summaries and all(s.tier is Tier.LONG_TERM for s in summaries)
    archived = [c for c in memos.get_many(first, touch=False) if c.tier is Tier.ARCHIVE]
    assert archived and all(c.status is Status.FUSED for c in archived)
    for s in summaries:  # provenance keeps every source: its message and the cube itself
        sources = [p.ref for p in s.provenance if p.kind == "cube"]
        assert set(sources) <= set(first)
        assert {p.ref for p in s.provenance if p.kind == "message"} == {
            c.source_refs[0] for c in memos.get_many(sources, touch=False)}
        assert s.thread_id is None and s.key.startswith("summary:")
    target = archived[0]
    word = target.content.split()[4]  # its own topic word
    assert target.id not in [h.cube.id for h in memos.search(word, NS)]  # not in the hot indexes
    found = life.search(word, NS, k=3)
    assert found[0].cube.id == target.id and found[0].cube.tier is Tier.ARCHIVE
    assert memos.get(target.id, touch=False).content == target.content
    assert memos.check(repair=False).ok


def test_summary_by_a_scripted_model_and_fallbacks(memos, clock):
    model = FakeListChatModel(responses=["Alice planned a lighthouse trip with friends. " + "word " * 400])
    cfg = LifecycleConfig(tiers=TierConfig(mid_term_capacity=1),
                          fuse=FuseConfig(llm_budget=LLMBudget(max_output_tokens=12)))
    life = MemLifecycle(memos, cfg, model=model, clock=clock)
    life.add(turns(4, words="lighthouse"), NS)
    clock.advance(days=10)
    life.consolidate(NS)
    [summary] = memos.list(NS, types=["summary"])
    assert summary.content.startswith("Alice planned a lighthouse trip") and len(summary.content.split()) <= 12
    assert life.llm.stats.calls == 1 and life.llm.stats.output_tokens <= 12
    broken = BudgetedLLM(FakeListChatModel(responses=[]), LLMBudget())
    assert broken.ask("s", "p") is None and broken.stats.errors == 1  # a failing model: no-LLM path
    assert BudgetedLLM(None).ask("s", "p") is None
    assert BudgetedLLM(model, LLMBudget(max_input_tokens=3)).ask("system prompt", "a long prompt") is None


def test_fuse_helpers():
    assert near_duplicate("I love tea.", "i love TEA") and not near_duplicate("I love tea", "I love jazz", 0.99)
    assert contradicts("Alice works at Google", "Alice works for Microsoft") == "value changed: google -> microsoft"
    assert contradicts("Alice works at Google", "Alice works at Google now") is None
    assert contradicts("I am 30", "I am a teacher") is None
    assert extractive_summary(["Hi!", "I adopted a dog named Rex", "Cool"], [0.1, 0.8, 0.1], 7) == \
        "I adopted a dog named Rex"
    assert segment_thread([("a", [1, 0]), ("b", [1, 0.1]), ("c", [0, 1]), ("d", [0, 1])], max_size=3, min_size=2,
                          break_cosine=0.5) == [["a", "b"], ["c", "d"]]
    assert cut_tokens("one, two three", 2) == "one,"


# ------------------------------------------------------------------------------------------ forget
def test_expiry_by_ttl_and_heat_floor_is_audited(memos, clock):
    life = MemLifecycle(memos, LifecycleConfig(tiers=TierConfig(forget_heat_floor=0.5, forget_min_age_hours=24,
                                                                forget_tiers=("archive",))), clock=clock)
    [ttl] = life.add("Temporary door code 4711", NS, ttl_minutes=30, created_at=T0)
    [keep] = life.add("Alice's passport number is stored in the safe", NS, created_at=T0, importance=0.9)
    [small] = life.add("ok", NS, created_at=T0, importance=0.1)
    memos.move_tiers({small: Tier.ARCHIVE, keep: Tier.ARCHIVE})
    clock.advance(hours=1)
    assert life.forget_expired(NS) == 1 and memos.get(ttl, touch=False) is None
    rec = memos.audit_log(ttl)[0]
    assert rec.action == "delete" and rec.reason.startswith("forgotten: ttl expired")
    assert rec.detail["content"] == "Temporary door code 4711"
    clock.advance(days=30)
    assert life.forget(NS) == {"expired": 0, "forgotten": 1}
    assert memos.get(small, touch=False) is None and memos.get(keep, touch=False) is not None
    why = memos.audit_log(small)[0].reason
    assert why.startswith("forgotten: heat") and "below floor 0.5" in why
    assert (life.stats.expired, life.stats.forgotten) == (1, 1)
    assert memos.check(repair=False).ok


# ------------------------------------------------------------------------------------------ preload
def test_preload_predicts_intent_entities_and_coaccess(memos, clock):
    life = MemLifecycle(memos, LifecycleConfig(preload=PreloadConfig(intent_k=2, entity_k=2, coaccess_min=2)),
                        clock=clock)
    ids = life.add(["Caroline went to the Pride parade in Boston", "The parade had a huge rainbow flag",
                    "Melanie painted a sunset over the lake", "Caroline's friend Jolene lives in Vermont",
                    "Melanie's kids love pottery class"], NS)
    for _ in range(2):
        memos.records.record_coaccess([[ids[0], ids[4]]], clock.now)
    memos.move_tiers({ids[3]: Tier.ARCHIVE})
    result = life.predict(NS, query="What did Caroline see at the Pride parade?",
                          recent=["Jolene says hi from Vermont"])
    assert result.reasons[ids[0]] == "intent"
    assert result.reasons[ids[3]] == "entity"  # found in the archive by an entity of the recent turns
    assert result.reasons[ids[4]] == "co-access"
    assert all(c.access_count == 0 for c in memos.get_many(ids, touch=False))  # a prediction is not a read
    done = life.preload(NS, "t1", query="What did Caroline see at the Pride parade?",
                        recent=["Jolene says hi from Vermont"])
    assert ids[3] in done.admitted and set(done.ids) <= set(life.working_set("t1", NS))
    assert memos.get(ids[3], touch=False).tier is Tier.WORKING and ids[3] in memos.vectors.ids()
    life.search("Jolene Vermont", NS, k=1, thread="t1")
    assert life.stats.working_hits == 1  # the retrieval hit the preloaded working set


def test_search_records_coaccess(memos, clock):
    life = life_of(memos, clock)
    a, b, _ = life.add(["red apples grow here", "green apples grow there", "blue sky"], NS)
    life.search("apples grow", NS, k=2)
    assert {s.id for s in memos.records.coaccessed([a])} == {b}


# ------------------------------------------------------------------------------------------ safety
def test_a_plan_from_a_stale_read_never_overrides_a_concurrent_update(memos, clock):
    life = life_of(memos, clock)
    a, b = memos.add(["Carol plays the cello", "carol plays the cello."], NS)
    survivor, dup = memos.get_many([a, b], touch=False)
    memos.update(b, content="Carol plays the viola")  # lands between the plan's read and its commit
    assert life._merge(survivor, dup, 0.99) is False and life.stats.conflicts_skipped == 1
    assert memos.get(b, touch=False).content == "Carol plays the viola"
    assert memos.get(b, touch=False).tier is Tier.MID_TERM
    assert memos.move_tiers([TierMove(a, Tier.ARCHIVE, expected_version=99)]) == []  # same for tier moves
    assert memos.get(a, touch=False).tier is Tier.MID_TERM


def test_consolidate_report_and_idempotence(memos, clock):
    life = life_of(memos, clock, working_capacity=3, mid_term_capacity=2)
    life.add(turns(8), NS, thread="chat")
    clock.advance(days=10)
    first = life.consolidate(NS)
    data = first.to_dict()
    assert data["namespace"] == list(NS) and data["summaries"] >= 1 and data["elapsed_ms"] > 0
    counts = life.tier_counts(NS)
    again = life.consolidate(NS)
    assert (again.summaries, again.deduplicated, again.summarized) == (0, 0, 0)
    assert life.tier_counts(NS) == counts
    assert sum(counts.values()) == 8 + first.summaries


def test_redundant_cubes_leave_working_straight_for_the_archive(memos, clock):
    life = life_of(memos, clock, working_capacity=1, mid_term_capacity=1)
    life.add(turns(4, words="glacier hike"), NS)
    clock.advance(days=10)
    life.consolidate(NS)
    source = next(c for c in memos.list(NS, tiers=["archive"]) if c.metadata.get("fused_into"))
    life.admit([source.id], "t", namespace=NS)  # swapped back in (e.g. by a preload)
    assert memos.get(source.id, touch=False).tier is Tier.WORKING and source.id in memos.vectors.ids()
    [other] = life.add(["an unrelated new note"], NS, thread="t")
    assert life.working_set("t", NS) == [other]
    assert memos.get(source.id, touch=False).tier is Tier.ARCHIVE  # covered by its summary: no mid-term stop
    assert source.id not in memos.vectors.ids() and memos.check(repair=False).ok


def test_search_within_ranks_a_given_set_across_tiers(memos):
    a, b, c = memos.add(["owls hunt at night", "owls sleep by day", "cats hunt mice"], NS)
    memos.move_tiers({b: Tier.ARCHIVE})
    vector = memos.embed_query("owls hunt")
    hits = memos.search_within("owls hunt", vector, [a, b], NS, k=5, touch=False)
    assert [h.cube.id for h in hits][0] == a and {h.cube.id for h in hits} == {a, b}
    assert memos.search_within("owls", vector, [], NS) == []
    hot = [h.cube.id for h in memos.search_by_vector("owls hunt", vector, NS, k=5)]
    assert hot[0] == a and b not in hot  # hot tiers only
