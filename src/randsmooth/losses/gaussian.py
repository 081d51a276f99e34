"""Gaussian data augmentation (Cohen et al. 2019; Yang et al.'s default "noise augmentation").

Loss = mean cross-entropy of the model on m noisy copies x + delta_j of every input, with delta
drawn from the training noise (any family of :mod:`randsmooth.sampling`, in [0, 1] pixel units,
unclipped). m = ``ctx.num_noise`` (Cohen: 1; Sun et al.'s trainer: m copies per image, one step).
The per-example loss is the mean over its m copies; the batch loss the (optionally weighted) mean
over examples. With ``ctx.noise`` None this is plain clean cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossResult, StepContext, TrainingLoss, noisy_copies, weighted_mean
from .registry import register_loss


@register_loss
class GaussianAugmentationLoss(TrainingLoss):
    """Cross-entropy on noisy copies; registered as ``gaussian`` (works with every noise family)."""

    name = "gaussian"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        m = ctx.num_noise
        inputs = noisy_copies(x, m, ctx.noise, ctx.generator)
        logits = model(inputs)
        labels = y.repeat_interleave(m) if m > 1 else y
        per_copy = F.cross_entropy(logits, labels, reduction="none")
        loss = weighted_mean(per_copy.view(x.shape[0], m).mean(dim=1), ctx.weights)
        return LossResult(loss=loss, logits=logits, labels=labels, stats={"ce": loss.detach()})
