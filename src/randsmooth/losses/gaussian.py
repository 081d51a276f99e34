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

from .base import PerExample, PerExampleLoss, StepContext, noisy_copies
from .registry import register_loss
from .smoothing import per_input, repeat_copies


def copies_cross_entropy(logits: torch.Tensor, y: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-example mean cross-entropy over the m copies (N,), repeated labels (N*m,))."""
    labels = repeat_copies(y, m)
    return per_input(F.cross_entropy(logits, labels, reduction="none"), m).mean(dim=1), labels


@register_loss
class GaussianAugmentationLoss(PerExampleLoss):
    """Cross-entropy on noisy copies; registered as ``gaussian`` (works with every noise family)."""

    name = "gaussian"

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        logits = model(noisy_copies(x, ctx.num_noise, ctx.noise, ctx.generator))
        ce, labels = copies_cross_entropy(logits, y, ctx.num_noise)
        return PerExample(losses=ce, logits=logits, labels=labels, stats={"ce": ce})
