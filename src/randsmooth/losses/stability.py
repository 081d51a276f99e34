"""Stability training, in the two variants used by the reproduced papers.

* ``variant="yang"`` (default; Yang et al. 2020, rs4a after its 2020-03-09 fix): two independent
  noisy copies x1 = x + d1, x2 = x + d2 (two separate forward passes);
  loss = CE(f(x1), y) + weight * KL(p(x1) || p(x2)), p = softmax of the logits, KL summed over
  classes and averaged over the batch, gradients through both copies; weight defaults to 6.0.
  This differs from Li et al.'s original stability training, which compares clean and noisy
  outputs.
* ``variant="li"`` (Li et al. style, Sun et al.'s "Stability" baseline ``train_stab``):
  loss = CE(f(x), y) + weight * H(softmax(f(x)), softmax(f(x + d))) with the soft cross-entropy
  H(p, q) = -sum_k p_k log q_k (not a KL: it includes the entropy of p), gradients through both;
  weight defaults to 2.0.

Both use exactly one noise draw per copy: ``ctx.num_noise`` must be 1. The logits returned for
the training accuracy are those of the (first) noisy copy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import Noise
from .base import LossResult, StepContext, TrainingLoss, weighted_mean
from .registry import register_loss

_DEFAULT_WEIGHTS = {"yang": 6.0, "li": 2.0}


def kl_categorical(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Per-row KL(softmax(logits_p) || softmax(logits_q)), shape (N,)."""
    log_p = F.log_softmax(logits_p, dim=1)
    log_q = F.log_softmax(logits_q, dim=1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=1)


def soft_cross_entropy(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-row H(softmax(target_logits), softmax(logits)) = -sum_k p_k log q_k, shape (N,)."""
    return -(F.softmax(target_logits, dim=1) * F.log_softmax(logits, dim=1)).sum(dim=1)


@register_loss
class StabilityLoss(TrainingLoss):
    """Stability training; registered as ``stability``. See the module docstring for the variants."""

    name = "stability"
    held_passes = 2  # two noisy copies (yang) or the clean input and one copy, one backward through both

    def __init__(self, weight: float | None = None, variant: str = "yang") -> None:
        if variant not in _DEFAULT_WEIGHTS:
            raise ValueError(f"stability variant must be one of {sorted(_DEFAULT_WEIGHTS)}, got {variant!r}")
        weight = _DEFAULT_WEIGHTS[variant] if weight is None else weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"stability weight must be a finite number >= 0, got {weight!r}")
        self.weight = float(weight)
        self.variant = variant

    def params(self) -> dict[str, object]:
        return {"weight": self.weight, "variant": self.variant}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        if noise is None:
            raise ValueError("stability training needs a noise distribution (noise sigma > 0)")
        if num_noise != 1:
            raise ValueError(f"stability training uses one noise draw per copy; num_noise must be 1, got {num_noise}")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        if ctx.noise is None:
            raise ValueError("stability training needs a noise distribution (noise sigma > 0)")
        if ctx.num_noise != 1:
            raise ValueError(
                f"stability training uses one noise draw per copy; num_noise must be 1, got {ctx.num_noise}"
            )
        if self.variant == "yang":
            logits = model(ctx.noise.sample(x, ctx.generator))
            logits_other = model(ctx.noise.sample(x, ctx.generator))
            ce = F.cross_entropy(logits, y, reduction="none")
            reg = kl_categorical(logits, logits_other)
        else:
            logits_clean = model(x)
            logits = model(ctx.noise.sample(x, ctx.generator))
            ce = F.cross_entropy(logits_clean, y, reduction="none")
            reg = soft_cross_entropy(logits_clean, logits)
        loss = weighted_mean(ce + self.weight * reg, ctx.weights)
        stats = {"ce": weighted_mean(ce, ctx.weights).detach(), "stability": weighted_mean(reg, ctx.weights).detach()}
        return LossResult(loss=loss, logits=logits, labels=y, stats=stats)
