"""LoRA training and NLL scoring on a local causal LM (torch, transformers and peft, imported lazily).

Examples (:class:`~.dataset.Example`) are tokenised the way the local chat model prompts:
a question goes through the tokenizer's chat template as a user turn, and the loss covers
only the answer and the end of the assistant turn; plain text (statements, replay) is
scored on every token after the first. :func:`mean_nll` scores with the very same
tokenisation and loss, so training metrics and benchmarks agree.

To keep CPU training short, LoRA goes into the last ``top_layers`` decoder layers only
(the backward pass stops there) and logits are computed only for the scored positions
(sequences are left-padded so those are the last ones).

Example:
    >>> LoRASettings(rank=4, epochs=2).to_dict()["rank"]
    4
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from ._deps import require
from .dataset import Example
from .errors import InvalidInputError, NoTrainingDataError

#: Every linear projection of a Llama-style decoder layer.
ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoRASettings:
    """How an adapter is trained.

    Attributes:
        rank / alpha / dropout: The LoRA shape (``alpha / rank`` scales the update).
        target_modules: Module names that get LoRA (default: every projection of a Llama-style
            layer), or ``("all-linear",)``.
        top_layers: LoRA only in the last this-many decoder layers (``None``: all); fewer
            layers train faster on CPU (the backward pass stops at the lowest one).
        epochs / batch_size / learning_rate / weight_decay: The optimiser loop (AdamW).
        max_length: Tokens per example (longer ones are cut).
        paraphrases: Question/answer paraphrases rendered per fact.
        max_seconds: Stop after this much training time (``None``: no limit).
        threads: ``torch.set_num_threads`` while training (``None``: leave as is).
        seed: Seeds the initialisation and the shuffling.
    """

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ALL_PROJECTIONS
    top_layers: int | None = 10
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 5e-4
    weight_decay: float = 0.0
    max_length: int = 96
    paraphrases: int = 4
    max_seconds: float | None = None
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "alpha", "epochs", "batch_size", "max_length", "paraphrases"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"LoRASettings.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"LoRASettings.learning_rate must be > 0, got {self.learning_rate}")
        if self.top_layers is not None and self.top_layers < 1:
            raise InvalidInputError(f"LoRASettings.top_layers must be >= 1 or None, got {self.top_layers}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict."""
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass(frozen=True)
class Encoded:
    """One tokenised example: ``ids`` and how many leading ids are context (not scored)."""

    ids: tuple[int, ...]
    context: int


def _chat_parts(tokenizer: Any, question: str, answer: str) -> tuple[str, str]:
    """``(prompt text, completion text)`` of a question/answer pair as the chat model renders it."""
    if getattr(tokenizer, "chat_template", None):
        from ..activation.prompts import render_chat

        user = {"role": "user", "content": question}
        prompt = render_chat(tokenizer, [user], add_generation_prompt=True)
        full = render_chat(tokenizer, [user, {"role": "assistant", "content": answer}], add_generation_prompt=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):].rstrip("\n")
        return prompt, answer + (tokenizer.eos_token or "")
    return f"Question: {question}\nAnswer: ", answer + (tokenizer.eos_token or "")


def encode_example(tokenizer: Any, example: Example, max_length: int) -> Encoded:
    """Token ids of ``example`` and the length of its unscored context."""
    if example.prompt is not None:
        prompt, completion = _chat_parts(tokenizer, example.prompt, example.completion)
        head = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        tail = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
        ids, context = head + tail, len(head)
    else:
        ids = list(tokenizer(example.completion, add_special_tokens=True)["input_ids"])
        eos = getattr(tokenizer, "eos_token_id", None)
        if isinstance(eos, int) and (not ids or ids[-1] != eos):
            ids.append(eos)
        context = 1
    ids = ids[:max_length]
    if len(ids) <= context:
        raise InvalidInputError(f"example {example.completion[:40]!r} leaves no tokens to score within "
                                f"max_length={max_length}; fix: raise LoRASettings.max_length")
    return Encoded(tuple(ids), context)


def _pad_id(tokenizer: Any) -> int:
    for value in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(value, int):
            return value
    return 0


def _batch_nll(model: Any, batch: Sequence[Encoded], pad_id: int) -> tuple[Any, int]:
    """``(sum of the scored tokens' NLL as a tensor, number of scored tokens)`` for one batch (left-padded)."""
    torch = require("torch")
    width = max(len(e.ids) for e in batch)
    keep = max(len(e.ids) - e.context for e in batch) + 1  # logits of the last `keep` positions
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, e in enumerate(batch):
        start = width - len(e.ids)
        ids[row, start:] = torch.tensor(e.ids)
        mask[row, start:] = 1
        labels[row, start + e.context:] = torch.tensor(e.ids[e.context:])
    device = next(model.parameters()).device
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=keep)
    logits = out.logits[:, -keep:-1, :].float()
    target = labels[:, width - keep + 1:].to(device)
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                            ignore_index=-100, reduction="sum")
    return nll, int((target != -100).sum().item())


def mean_nll(model: Any, tokenizer: Any, examples: Sequence[Example], *, batch_size: int = 8,
             max_length: int = 256) -> float:
    """Mean negative log-likelihood (nats per scored token) of the examples' completions under ``model``."""
    torch = require("torch")
    encoded = sorted((encode_example(tokenizer, e, max_length) for e in examples), key=lambda e: len(e.ids))
    if not encoded:
        raise NoTrainingDataError("mean_nll needs at least one example")
    pad_id = _pad_id(tokenizer)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(encoded), batch_size):
                nll, n = _batch_nll(model, encoded[start:start + batch_size], pad_id)
                total += float(nll)
                count += n
    finally:
        model.train(was_training)
    return total / max(count, 1)


@dataclass
class TrainReport:
    """What one training run did.

    Attributes:
        examples / tokens: Training examples and scored tokens per epoch.
        steps: Optimiser steps taken.
        epochs_done: Full epochs completed (less than asked when ``max_seconds`` cut it short).
        loss_first / loss_last: Mean loss of the first and the last epoch.
        train_s: Wall seconds of the training loop.
        trainable_params: LoRA parameters trained.
    """

    examples: int = 0
    tokens: int = 0
    steps: int = 0
    epochs_done: int = 0
    loss_first: float = math.nan
    loss_last: float = math.nan
    train_s: float = 0.0
    trainable_params: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The report as a dict."""
        return asdict(self)


def lora_config(model: Any, settings: LoRASettings) -> Any:
    """The peft ``LoraConfig`` of ``settings`` for ``model``."""
    peft = require("peft")
    layers = getattr(model.config, "num_hidden_layers", None)
    targets: Any = "all-linear" if tuple(settings.target_modules) == ("all-linear",) else list(settings.target_modules)
    extra: dict[str, Any] = {}
    if settings.top_layers is not None and layers:
        extra["layers_to_transform"] = list(range(max(0, layers - settings.top_layers), layers))
    return peft.LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                           target_modules=targets, task_type="CAUSAL_LM", **extra)


def train_lora(model: Any, tokenizer: Any, examples: Sequence[Example],
               settings: LoRASettings | None = None) -> tuple[Any, TrainReport]:
    """Wrap ``model`` with a new LoRA adapter and train it on ``examples``.

    The base weights stay frozen; ``model`` is changed in place (LoRA layers are injected),
    so pass a copy that nothing else uses. Returns ``(peft model, report)``; save the
    adapter with ``peft_model.save_pretrained(directory)``.

    Raises:
        NoTrainingDataError: ``examples`` is empty.
    """
    torch = require("torch")
    peft = require("peft")
    settings = settings or LoRASettings()
    if not examples:
        raise NoTrainingDataError("no training examples; fix: add persona, preference or fact cubes first")
    old_threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        torch.manual_seed(settings.seed)
        peft_model = peft.get_peft_model(model, lora_config(model, settings))
        encoded = [encode_example(tokenizer, e, settings.max_length) for e in examples]
        report = TrainReport(examples=len(encoded), tokens=sum(len(e.ids) - e.context for e in encoded),
                             trainable_params=sum(p.numel() for p in peft_model.parameters() if p.requires_grad))
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        pad_id = _pad_id(tokenizer)
        rng = random.Random(settings.seed)
        order = list(range(len(encoded)))
        peft_model.train()
        started = time.perf_counter()
        out_of_time = False
        for epoch in range(settings.epochs):
            rng.shuffle(order)
            total, count = 0.0, 0
            for start in range(0, len(order), settings.batch_size):
                batch = [encoded[i] for i in order[start:start + settings.batch_size]]
                nll, n = _batch_nll(peft_model, batch, pad_id)
                (nll / max(n, 1)).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                report.steps += 1
                total, count = total + float(nll.detach()), count + n
                if settings.max_seconds is not None and time.perf_counter() - started > settings.max_seconds:
                    out_of_time = True
                    break
            loss = total / max(count, 1)
            if epoch == 0:
                report.loss_first = loss
            report.loss_last = loss
            if out_of_time:
                break
            report.epochs_done += 1
        report.train_s = time.perf_counter() - started
        peft_model.eval()
        return peft_model, report
    finally:
        torch.set_num_threads(old_threads)


__all__ = ["ALL_PROJECTIONS", "Encoded", "LoRASettings", "TrainReport", "encode_example", "lora_config",
           "mean_nll", "train_lora"]
