"""One optimizer step's gradients, optionally accumulated over micro-batches (``micro_batches``).

A training step whose activations do not fit the GPU is split into micro-batches that run one
after another, each back-propagated on its own (gradient accumulation); the workflow picks their
number from the estimated memory (:mod:`randsmooth.pipeline.memory`). The semantics are those of
data-parallel training on k replicas, see :func:`accumulated_step`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from .losses import LossResult, StepContext, TrainingLoss


def accumulated_step(
    model: nn.Module,
    loss_fn: TrainingLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    ctx: StepContext,
    scaler: torch.amp.GradScaler,
    amp: bool,
    micro_batches: int = 1,
) -> LossResult:
    """Loss and parameter gradients (accumulated in ``.grad``, scaled by ``scaler``) of one step.

    With ``micro_batches`` k > 1 the batch is split into k consecutive chunks of ceil(N / k) rows
    (``torch.tensor_split``), each run through the loss and back-propagated on its own with its
    loss weighted by its share of the batch (its rows / N, or its share of ``ctx.weights``), so
    only one chunk's activations are alive at a time. For a loss that is a (weighted) mean over
    the examples and a model without batch statistics, the accumulated gradient equals the full
    batch's (up to float rounding). Otherwise it is the gradient of data-parallel training on k
    replicas: BatchNorm normalises each micro-batch with its own statistics (as the reference
    runs' DataParallel replicas did), its running statistics are updated once per micro-batch,
    and terms a loss normalises within its batch (e.g. Xin et al.'s seed-class mean) are
    normalised per micro-batch. The noise draws follow one another from ``ctx.generator``.
    Returns the weighted loss (detached), the concatenated logits and labels and the weighted stats.
    """
    if micro_batches == 1:
        with torch.autocast(ctx.device.type, enabled=amp):
            result = loss_fn(model, x, y, ctx)
        scaler.scale(result.loss).backward()
        return result
    rows = torch.arange(x.shape[0])
    total = None if ctx.weights is None else ctx.weights.sum()
    parts: list[tuple[float | torch.Tensor, LossResult, torch.Tensor]] = []
    for chunk in torch.tensor_split(rows, micro_batches):
        if chunk.numel() == 0:
            continue
        index = None if ctx.example_index is None else ctx.example_index[chunk]
        weights = None if ctx.weights is None else ctx.weights[chunk.to(ctx.weights.device)]
        share = chunk.numel() / x.shape[0] if total is None else weights.sum() / total
        chunk = chunk.to(x.device)
        part_ctx = dataclasses.replace(ctx, example_index=index, weights=weights)
        with torch.autocast(ctx.device.type, enabled=amp):
            result = loss_fn(model, x[chunk], y[chunk], part_ctx)
        scaler.scale(result.loss * share).backward()
        labels = y[chunk] if result.labels is None else result.labels
        parts.append((share, result, labels))
    stats: dict[str, Any] = {}
    for share, result, _ in parts:
        for name, value in result.stats.items():
            stats[name] = stats.get(name, 0.0) + torch.as_tensor(value).detach().double() * share
    loss = sum(result.loss.detach().double() * share for share, result, _ in parts)
    logits = torch.cat([result.logits.detach() for _, result, _ in parts])
    return LossResult(loss=loss, logits=logits, labels=torch.cat([labels for *_, labels in parts]), stats=stats)
