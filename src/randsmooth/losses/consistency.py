"""Consistency regularization (Jeong & Shin 2020, "Consistency regularization for certified
robustness of smoothed classifiers"), Eq. (6)-(7), the "default" form of their reference code.

With m >= 2 noisy copies per input and p_j = softmax(f(x + delta_j)), p_bar = (1/m) sum_j p_j:

    l_i = (1/m) sum_j CE(f(x_i + delta_ij), y_i)
          + lambda * (1/m) sum_j KL(p_bar_i || p_ij) + eta * H(p_bar_i),

with gradients through p_bar as well (no stop-gradient), H the Shannon entropy (log clamped at
1e-20). lambda = eta = 0 is the m-copy Gaussian loss. The optional SmoothAdv inner attack of the
reference trainer is not offered.
"""

from __future__ import annotations

import torch
from torch import nn

from ..sampling import Noise
from . import params as P
from .base import PerExample, PerExampleLoss, StepContext, noisy_copies
from .gaussian import copies_cross_entropy
from .registry import register_loss
from .smoothing import entropy, kl_to_target, per_input, repeat_copies, smoothed_probs


def consistency_terms(logits: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean_j KL(p_bar || p_j), H(p_bar)), each (N,), from (N*m, K) logits."""
    p_bar = smoothed_probs(logits, m)
    kl = per_input(kl_to_target(repeat_copies(p_bar, m), logits), m).mean(dim=1)
    return kl, entropy(p_bar)


@register_loss
class ConsistencyLoss(PerExampleLoss):
    """Consistency regularization; registered as ``consistency``. Needs num_noise >= 2.

    Args:
        lbd: weight lambda of the KL consistency term (>= 0). Default 10.0.
        eta: weight eta of the entropy term (>= 0). Default 0.5.
    """

    name = "consistency"

    def __init__(self, lbd: float = 10.0, eta: float = 0.5) -> None:
        self.lbd = P.number(self.name, "lbd", lbd, low=0.0)
        self.eta = P.number(self.name, "eta", eta, low=0.0)

    def params(self) -> dict[str, object]:
        return {"lbd": self.lbd, "eta": self.eta}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise)
        P.require_copies(self.name, num_noise, 2)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = P.require_copies(self.name, ctx.num_noise, 2)
        logits = model(noisy_copies(x, m, ctx.noise, ctx.generator))
        ce, labels = copies_cross_entropy(logits, y, m)
        kl, ent = consistency_terms(logits, m)
        stats = {"ce": ce, "kl": kl, "entropy": ent}
        return PerExample(losses=ce + self.lbd * kl + self.eta * ent, logits=logits, labels=labels, stats=stats)
