"""The on-disk format of a KV prefix: one safetensors file per prefix, written atomically.

The file holds ``token_ids`` and ``layer.<i>.keys`` / ``layer.<i>.values`` tensors; its
metadata holds the format name and version, the model id and the layer kinds.
:meth:`~langchain_memos.activation.kv_cache.KVPrefixCache.save` / ``load`` are these functions.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._deps import require_safetensors, require_torch
from .errors import CacheFormatError
from .forward import model_device, model_fingerprint
from .kv_prefix import KVPrefix, LayerState

#: The format name and version saved prefixes carry (a file of another version is refused).
FORMAT_NAME = "langchain_memos.kv_prefix"
FORMAT_VERSION = "1"


def save_prefix(entry: KVPrefix, path: str | os.PathLike) -> Path:
    """Write ``entry`` to one safetensors file (atomically) and return its path.

    The file holds ``token_ids`` and ``layer.<i>.keys`` / ``layer.<i>.values`` tensors;
    its metadata holds the model id, the format version and the layer kinds.
    """
    torch = require_torch()
    st = require_safetensors()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Any] = {"token_ids": torch.tensor(entry.token_ids, dtype=torch.int64)}
    layer_meta: list[dict[str, Any]] = []
    for i, layer in enumerate(entry.layers):
        layer_meta.append({"present": layer.keys is not None, "sliding_window": layer.sliding_window,
                           "cumulative_length": layer.cumulative_length})
        if layer.keys is not None:
            tensors[f"layer.{i}.keys"] = layer.keys.detach().to("cpu").contiguous()
            tensors[f"layer.{i}.values"] = layer.values.detach().to("cpu").contiguous()
    metadata = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model_id": entry.model_id,
                "layers": json.dumps(layer_meta), "created_at": repr(entry.created_at)}
    fd, tmp = tempfile.mkstemp(prefix=".kvprefix-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        st.save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

def load_prefix(path: str | os.PathLike, *, model: Any = None, model_id: str | None = None,
                device: Any = None) -> KVPrefix:
    """Read a prefix written by :func:`save_prefix`.

    Args:
        path: The safetensors file.
        model: If given, the prefix must have been built for this model (same
            :func:`model_fingerprint`), and tensors move to its device and dtype check.
        model_id: If given (and no ``model``), the saved model id must equal it.
        device: Where to put the tensors (default: the model's device, else CPU).

    Raises:
        CacheFormatError: Not a prefix file, another format version, or another model.
    """
    st = require_safetensors()
    path = Path(path)
    if not path.exists():
        raise CacheFormatError(f"no saved prefix at {path}; fix: save one with KVPrefixCache.save(entry, path)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        # Read the bytes into memory (no mmap): load time is paid here, not at first use,
        # and later changes to the file cannot reach the loaded tensors.
        tensors = st.load(path.read_bytes())
    except Exception as exc:
        raise CacheFormatError(f"{path} is not a readable safetensors file ({exc}); fix: rebuild the prefix "
                               "with KVPrefixCache.build(model, ids) and save it again") from exc
    if metadata.get("format") != FORMAT_NAME or metadata.get("version") != FORMAT_VERSION:
        raise CacheFormatError(
            f"{path} is not a {FORMAT_NAME} v{FORMAT_VERSION} file (format={metadata.get('format')!r}, "
            f"version={metadata.get('version')!r}); fix: rebuild it with KVPrefixCache.build(model, ids)"
        )
    saved_id = metadata.get("model_id", "")
    expected = model_fingerprint(model) if model is not None else model_id
    if expected is not None and saved_id != expected:
        raise CacheFormatError(
            f"{path} was built for model {saved_id!r}, not {expected!r}; fix: rebuild the prefix for this model "
            "with KVPrefixCache.build(model, ids), or pass the right model_id"
        )
    if device is None and model is not None:
        device = model_device(model)
    layers: list[LayerState] = []
    for i, meta in enumerate(json.loads(metadata.get("layers", "[]"))):
        if not meta.get("present", True):
            layers.append(LayerState(None, None))
            continue
        try:
            keys, values = tensors[f"layer.{i}.keys"], tensors[f"layer.{i}.values"]
        except KeyError as exc:
            raise CacheFormatError(f"{path} lacks layer {i}'s tensors; fix: rebuild the prefix") from exc
        if device is not None:
            keys, values = keys.to(device), values.to(device)
        layers.append(LayerState(keys, values, meta.get("sliding_window"), meta.get("cumulative_length")))
    if model is not None:
        param_dtype = next(model.parameters()).dtype
        dtypes = {layer.keys.dtype for layer in layers if layer.keys is not None}
        if dtypes and dtypes != {param_dtype}:
            raise CacheFormatError(f"{path} holds {dtypes} tensors but the model runs in {param_dtype}; "
                                   "fix: rebuild the prefix with the model in its current dtype")
    token_ids = tuple(int(t) for t in tensors["token_ids"].tolist())
    return KVPrefix(saved_id, token_ids, tuple(layers), source="disk")


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_prefix", "save_prefix"]
