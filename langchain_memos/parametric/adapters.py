"""Add and remove named LoRA adapters on a plain transformers model with peft's own integration API.

``peft.functional`` is the API peft publishes for libraries that integrate it into models that
are not a ``PeftModel`` (transformers' ``load_adapter`` is built on it). Going to it directly,
instead of through transformers' ``model.load_adapter``/``delete_adapter``, keeps the registry
independent of the peft version each transformers release demands for its own wrapper
(transformers 5.24 refuses every peft before 0.22 there, and no such peft exists yet).

Example (``model`` a transformers causal LM, ``path`` a directory written by
``PeftModel.save_pretrained``)::

    load_adapter(model, path, "memos_alice")
    delete_adapter(model, "memos_alice")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._deps import require
from .errors import AdapterMismatchError

#: The prefix ``PeftModel.save_pretrained`` puts before the wrapped model's module names.
_SAVED_PREFIX = "base_model.model."


def load_adapter(model: Any, path: str | Path, name: str) -> None:
    """Inject the adapter saved in ``path`` into ``model`` under ``name`` and load its weights.

    The new adapter may be left active on some layers; the caller chooses the active one.

    Raises:
        AdapterMismatchError: The saved weights do not fit the model's layers (a different
            architecture, or files of another kind of adapter); nothing stays injected.
    """
    require("peft")
    from peft import PeftConfig
    from peft.functional import inject_adapter_in_model, set_peft_model_state_dict
    from peft.utils import load_peft_weights

    config = PeftConfig.from_pretrained(str(path))
    config.inference_mode = True
    weights = load_peft_weights(str(path), device="cpu")
    weights = {key[len(_SAVED_PREFIX):] if key.startswith(_SAVED_PREFIX) else key: value
               for key, value in weights.items()}
    inject_adapter_in_model(config, model, adapter_name=name)
    result = set_peft_model_state_dict(model, weights, adapter_name=name)
    unexpected = [key for key in result.unexpected_keys if name in key or "lora_" in key]
    if unexpected:
        delete_adapter(model, name)
        raise AdapterMismatchError(
            f"the adapter at {path} has {len(unexpected)} weights this model has no place for "
            f"(e.g. {unexpected[0]!r}); fix: mount it on the base model it was trained on")


def delete_adapter(model: Any, name: str) -> None:
    """Remove the adapter ``name`` from every layer of ``model`` and from its peft config."""
    require("peft")
    from peft.functional import delete_adapter as peft_delete

    config = getattr(model, "peft_config", None) or {}
    entry = config.get(name)
    prefix = f"{entry.peft_type.value.lower()}_" if entry is not None else "lora_"
    peft_delete(model, adapter_name=name, prefix=prefix)
    if name in config:
        del config[name]


__all__ = ["delete_adapter", "load_adapter"]
