"""How the activation layer calls a transformers causal LM: its fingerprint, device, cache keyword, a prefill.

Example:
    >>> class Old:
    ...     def forward(self, input_ids, past_key_values=None): ...
    >>> cache_argument(Old())  # a forward without the ``cache`` keyword (transformers < 5.24)
    'past_key_values'
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any, Sequence

from ._deps import dynamic_cache_classes, require_torch
from .errors import PrefixMismatchError

#: Config keys that change with how a model was loaded, not with what it computes.
_VOLATILE_CONFIG = frozenset({"transformers_version", "quantization_config", "name_or_path", "architectures",
                              "torch_dtype", "use_cache", "output_attentions", "output_hidden_states"})


def model_fingerprint(model: Any) -> str:
    """A stable id for a model's weights and config: ``"<model_type>@<16 hex>"``.

    Hashes the config and the first values of every parameter (cheap, a few ms), so two
    randomly initialised models with the same config get different ids. The result is
    memoised on the model object; pass ``model_id=`` explicitly to cache APIs where the
    weights change after loading (fine-tuning).
    """
    cached = getattr(model, "_memos_model_id", None)
    if isinstance(cached, str):
        return cached
    torch = require_torch()
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        try:
            data = {k: v for k, v in config.to_dict().items() if not k.startswith("_") and k not in _VOLATILE_CONFIG}
            h.update(json.dumps(data, sort_keys=True, default=str).encode())
        except Exception:  # pragma: no cover - exotic configs
            h.update(type(config).__name__.encode())
    with torch.no_grad():
        for name, param in model.named_parameters():
            h.update(name.encode())
            h.update(str(tuple(param.shape)).encode())
            h.update(str(param.dtype).encode())
            head = param.detach().reshape(-1)[:256].to("cpu", torch.float32)
            h.update(head.numpy().tobytes())
    name = getattr(config, "model_type", "") or type(model).__name__
    model_id = f"{name}@{h.hexdigest()[:16]}"
    try:
        model._memos_model_id = model_id
    except Exception:  # pragma: no cover - objects that refuse attributes
        pass
    return model_id


_FORWARD_PARAMETERS: dict[type, frozenset[str]] = {}


def _forward_parameters(model: Any) -> frozenset[str]:
    """The keyword names ``model.forward`` takes (cached per model class)."""
    cls = type(model)
    if cls not in _FORWARD_PARAMETERS:
        try:
            _FORWARD_PARAMETERS[cls] = frozenset(inspect.signature(model.forward).parameters)
        except (TypeError, ValueError):  # pragma: no cover
            _FORWARD_PARAMETERS[cls] = frozenset()
    return _FORWARD_PARAMETERS[cls]


def cache_argument(model: Any) -> str:
    """The keyword ``model.forward``/``generate`` takes the KV cache as.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name is deprecated
    and goes in 5.40); earlier releases only know ``past_key_values``.
    """
    return "cache" if "cache" in _forward_parameters(model) else "past_key_values"


def output_cache(output: Any) -> Any:
    """The grown KV cache of a model output (``cache`` from transformers 5.24, else ``past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def model_device(model: Any) -> Any:
    """The device of the model's first parameter (CPU for parameterless stubs)."""
    torch = require_torch()
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def forward_last_logits(model: Any, token_ids: Sequence[int] | Any, past_key_values: Any = None) -> tuple[Any, Any]:
    """Run ``model`` on ``token_ids`` (batch size 1) after ``past_key_values``.

    Returns ``(logits of the last position as a 1-D float tensor, the grown cache)``.
    ``past_key_values`` is grown by transformers; pass a fresh one (see
    :meth:`KVPrefix.to_cache`). ``None`` starts an empty ``DynamicCache``.
    """
    torch = require_torch()
    DynamicCache, _, _ = dynamic_cache_classes()
    if past_key_values is None:
        past_key_values = DynamicCache(config=model.config)
    if isinstance(token_ids, torch.Tensor):
        ids = token_ids.reshape(1, -1).to(model_device(model))
    else:
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=model_device(model))
    if ids.shape[1] == 0:
        raise PrefixMismatchError("nothing to prefill: pass at least one token after the cached prefix")
    kwargs: dict[str, Any] = {"input_ids": ids, cache_argument(model): past_key_values, "use_cache": True}
    if "logits_to_keep" in _forward_parameters(model):
        kwargs["logits_to_keep"] = 1
    with torch.no_grad():
        out = model(**kwargs)
    return out.logits[0, -1].float(), output_cache(out)


__all__ = ["cache_argument", "forward_last_logits", "model_device", "model_fingerprint", "output_cache"]
