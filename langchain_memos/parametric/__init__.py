"""Parametric memory: per-namespace LoRA adapters distilled from long-term memory, mounted per user.

* :mod:`.dataset`: question/answer and statement examples rendered from cubes (template
  paraphrases, no LLM).
* :mod:`.train`: LoRA training with ``peft`` and NLL scoring (:class:`LoRASettings`, :func:`train_lora`,
  :func:`mean_nll`).
* :class:`AdapterStore`: adapter files + JSON manifests (base model, source cubes and versions,
  settings, metrics, staleness), one directory per namespace and version.
* :class:`AdapterRegistry`: mount, switch and unmount adapters on one loaded base model
  (peft's ``inject_adapter_in_model``/``delete_adapter``, layer flags to switch), LRU eviction.
* :class:`ParametricMemory`: distillation policy and scheduler job, staleness from MemOS change
  events (supersede, update, delete, expire, forget), rebuilds.
* :class:`~langchain_memos.activation.ChatMemOSLocal` takes ``adapters=`` (a registry) and
  answers with the current user's adapter; KV prefix caches are keyed by adapter.

Names are imported lazily: importing this package loads neither torch nor peft.
Install the extras with ``pip install 'langchain-memos[parametric]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Example": "langchain_memos.parametric.dataset",
    "Fact": "langchain_memos.parametric.dataset",
    "fact_of": "langchain_memos.parametric.dataset",
    "render_examples": "langchain_memos.parametric.dataset",
    "LoRASettings": "langchain_memos.parametric.train",
    "TrainReport": "langchain_memos.parametric.train",
    "train_lora": "langchain_memos.parametric.train",
    "mean_nll": "langchain_memos.parametric.train",
    "AdapterManifest": "langchain_memos.parametric.manifest",
    "SourceRef": "langchain_memos.parametric.manifest",
    "AdapterStore": "langchain_memos.parametric.store",
    "AdapterRegistry": "langchain_memos.parametric.registry",
    "RegistryStats": "langchain_memos.parametric.registry",
    "Distiller": "langchain_memos.parametric.distill",
    "DistillPolicy": "langchain_memos.parametric.policy",
    "DistillDecision": "langchain_memos.parametric.policy",
    "eligible_cubes": "langchain_memos.parametric.policy",
    "distill_decision": "langchain_memos.parametric.policy",
    "stale_reason": "langchain_memos.parametric.staleness",
    "reconcile": "langchain_memos.parametric.staleness",
    "distill_job": "langchain_memos.parametric.jobs",
    "ParametricMemory": "langchain_memos.parametric.manager",
    "ParametricError": "langchain_memos.parametric.errors",
    "ParametricDependencyError": "langchain_memos.parametric.errors",
    "NoTrainingDataError": "langchain_memos.parametric.errors",
    "AdapterNotFoundError": "langchain_memos.parametric.errors",
    "AdapterMismatchError": "langchain_memos.parametric.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Example, Fact, fact_of, render_examples
    from .distill import Distiller
    from .errors import (
        AdapterMismatchError,
        AdapterNotFoundError,
        NoTrainingDataError,
        ParametricDependencyError,
        ParametricError,
    )
    from .jobs import distill_job
    from .manager import ParametricMemory
    from .manifest import AdapterManifest, SourceRef
    from .policy import DistillDecision, DistillPolicy, distill_decision, eligible_cubes
    from .registry import AdapterRegistry, RegistryStats
    from .staleness import reconcile, stale_reason
    from .store import AdapterStore
    from .train import LoRASettings, TrainReport, mean_nll, train_lora
