"""Prompt text for local chat models: chat templates, memory prefixes, tool calls.

The memory prefix is the system message (instructions plus the byte-stable memory
block of :func:`langchain_memos.render.render_memory_block`) as the model's chat
template renders it. :func:`system_prefix` finds the exact token ids that every
conversation starting with that system message begins with, so its KV cache can be
reused for all of them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable, Mapping, Sequence

from ..cube import MemCube
from ..render import render_memory_block
from .errors import PrefixMismatchError

#: Instructions placed before the memory block when none are given.
DEFAULT_INSTRUCTIONS = "You are a helpful assistant. Use the stored memories below when they are relevant."

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"


def memory_system_text(cubes: Iterable[MemCube], instructions: str = DEFAULT_INSTRUCTIONS) -> str:
    """The system text: ``instructions``, a blank line, then the byte-stable memory block.

    The block is rendered with ``stable_order=True`` (sorted by date, then id), so the
    same cubes in any order give the same bytes.
    """
    block = render_memory_block(list(cubes), stable_order=True)
    return f"{instructions}\n\n{block}" if instructions else block


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True,
                tools: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The prompt text of ``messages`` through the tokenizer's chat template.

    Raises :class:`PrefixMismatchError` (a ``ValueError``) naming the fix when the tokenizer
    has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise PrefixMismatchError(
            "the tokenizer has no chat template; fix: set tokenizer.chat_template (a Jinja string) "
            "or load an instruct model whose tokenizer_config.json has one"
        )
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
    if tools:
        kwargs["tools"] = list(tools)
    return tokenizer.apply_chat_template([dict(m) for m in messages], **kwargs)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of already-templated text (no special tokens added: the template has them)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _common_prefix(a: str, b: str) -> str:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return a[:i]


def system_prefix(tokenizer: Any, system_text: str) -> tuple[str, list[int]]:
    """``(text, token_ids)`` that every conversation opening with this system message starts with.

    Uses the template's rendering of the system message alone when that is a prefix of
    full conversations, else the common head of two conversations that differ only in
    the user's words. The ids are cut back to the common token head of both, so tokenizer
    merges across the boundary can never make them differ from a full prompt's ids.
    """
    system = {"role": "system", "content": system_text}
    full_a = render_chat(tokenizer, [system, {"role": "user", "content": "A"}])
    full_b = render_chat(tokenizer, [system, {"role": "user", "content": "Z"}])
    try:
        alone = render_chat(tokenizer, [system], add_generation_prompt=False)
    except Exception:  # templates that insist on a user turn
        alone = ""
    if alone and full_a.startswith(alone) and full_b.startswith(alone):
        text = alone
    else:
        text = _common_prefix(full_a, full_b)
    ids = encode(tokenizer, text)
    ids_a, ids_b = encode(tokenizer, full_a), encode(tokenizer, full_b)
    n = 0
    limit = min(len(ids), len(ids_a), len(ids_b))
    while n < limit and ids[n] == ids_a[n] == ids_b[n]:
        n += 1
    if n < len(ids):
        ids = ids[:n]
        text = tokenizer.decode(ids)
    return text, ids


# ----------------------------------------------------------------------------- tools
def supports_native_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a ``tools=`` list (probe with a dummy tool)."""
    cached = getattr(tokenizer, "_memos_native_tools", None)
    if isinstance(cached, bool):
        return cached
    probe = {"type": "function", "function": {"name": "memos_probe_tool_7f3a", "description": "probe",
                                              "parameters": {"type": "object", "properties": {}}}}
    try:
        text = render_chat(tokenizer, [{"role": "user", "content": "hi"}], tools=[probe])
        native = "memos_probe_tool_7f3a" in text
    except Exception:
        native = False
    try:
        tokenizer._memos_native_tools = native
    except Exception:  # pragma: no cover
        pass
    return native


def tools_system_text(tools: Sequence[Mapping[str, Any]], tool_choice: Any = None) -> str:
    """Instructions that describe ``tools`` (OpenAI tool dicts) and the call format, for templates without tools."""
    lines = [
        "# Tools",
        "You can call the tools below. To call one, reply with only this, and nothing else:",
        f'{TOOL_CALL_OPEN}{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}{TOOL_CALL_CLOSE}',
        "Available tools:",
    ]
    for tool in tools:
        fn = tool.get("function", tool)
        lines.append(json.dumps({"name": fn.get("name"), "description": fn.get("description", ""),
                                 "parameters": fn.get("parameters", {})}, sort_keys=True, ensure_ascii=False))
    choice = _choice_name(tool_choice)
    if choice == "any":
        lines.append("You must call one of these tools.")
    elif choice:
        lines.append(f"You must call the tool {choice}.")
    return "\n".join(lines)


def _choice_name(tool_choice: Any) -> str | None:
    if tool_choice in (None, "auto", "none", False):
        return None
    if tool_choice in ("any", "required", True):
        return "any"
    if isinstance(tool_choice, str):
        return tool_choice
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function") or {}
        return fn.get("name") or tool_choice.get("name")
    return None


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split model output into ``(plain text, tool calls)``.

    Recognises ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (the
    closing tag may be missing at the end of the output) and an output that is only a
    JSON object with a ``name``. Tool calls are LangChain dicts
    (``{"name", "args", "id", "type": "tool_call"}``); unparsable blocks stay in the text.
    """
    decoder = json.JSONDecoder()
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    pos = 0
    while True:
        start = text.find(TOOL_CALL_OPEN, pos)
        if start < 0:
            kept.append(text[pos:])
            break
        kept.append(text[pos:start])
        body_start = start + len(TOOL_CALL_OPEN)
        end = text.find(TOOL_CALL_CLOSE, body_start)
        body = text[body_start:end] if end >= 0 else text[body_start:]
        call = _json_call(body.strip(), decoder)
        if call is None:
            kept.append(text[start:end + len(TOOL_CALL_CLOSE)] if end >= 0 else text[start:])
        else:
            calls.append(call)
        if end < 0:
            break
        pos = end + len(TOOL_CALL_CLOSE)
    plain = "".join(kept).strip()
    if not calls and plain.startswith("{"):
        call = _json_call(plain, decoder)
        if call is not None:
            return "", [call]
    return (plain if calls else "".join(kept)), calls


def _json_call(body: str, decoder: json.JSONDecoder) -> dict[str, Any] | None:
    brace = body.find("{")
    if brace < 0:
        return None
    try:
        obj, _ = decoder.raw_decode(body[brace:])
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return None
    args = fn.get("arguments", fn.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {"input": args}
    if not isinstance(args, dict):
        args = {"input": args}
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "tool_call"}


def tool_call_text(name: str, args: Mapping[str, Any]) -> str:
    """A tool call as the text format of :func:`tools_system_text`."""
    return f"{TOOL_CALL_OPEN}{json.dumps({'name': name, 'arguments': dict(args)}, ensure_ascii=False)}{TOOL_CALL_CLOSE}"


__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "encode",
    "memory_system_text",
    "parse_tool_calls",
    "render_chat",
    "supports_native_tools",
    "system_prefix",
    "tool_call_text",
    "tools_system_text",
]
