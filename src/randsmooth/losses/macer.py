"""MACER (Zhai et al. 2020, "MACER: Attack-free and scalable robust training via maximizing
certified radius"), Eq. (8) with the hinge of their Sec. 4.

With k = m noisy copies per input (``num_noise``; MACER uses 16), the soft smoothed classifiers
g = mean_j softmax(f(x + delta_j)) and h = mean_j softmax(beta * f(x + delta_j)) give the
per-example loss

    l_i = -log(g_y(x_i) + 1e-10) + lambda * (sigma / 2) * (gamma - xi_i) * 1[i in I],
    xi_i = Phi^-1(h_y) - Phi^-1(max_{j != y} h_j),

where I holds the examples h ranks correctly (argmax h = y, so xi >= 0) with a finite xi <= gamma:
the hinge max(0, gamma - xi) on the certified-radius surrogate (sigma / 2) xi, restricted like the
reference implementation. The batch loss is the mean of l_i (the reference sums both terms and
divides by the batch size). sigma is the Gaussian noise level in [0, 1] pixel units.

Deferral (``defer_epochs``): lambda = 0 in the first ``defer_epochs`` epochs (MACER's deferred
robustness term for sigma = 1.0).
"""

from __future__ import annotations

import torch
from torch import nn

from ..sampling import Noise
from . import params as P
from .base import PerExample, PerExampleLoss, StepContext, noisy_copies
from .registry import register_loss
from .smoothing import repeat_copies, smoothed_nll, smoothed_probs, true_class_margin, window_hinge


def macer_terms(
    logits: torch.Tensor, y: torch.Tensor, m: int, sigma: float, beta: float, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(classification -log(g_y + 1e-10), robustness (sigma/2) * hinge), each (N,), from (N*m, K) logits."""
    nll = smoothed_nll(smoothed_probs(logits, m), y)
    h = smoothed_probs(logits, m, beta)
    xi, finite = true_class_margin(h, y)
    active = (h.argmax(dim=1) == y) & finite & (xi <= gamma)
    return nll, 0.5 * sigma * window_hinge(xi, active, gamma)


@register_loss
class MacerLoss(PerExampleLoss):
    """MACER; registered as ``macer``. Needs Gaussian noise.

    Args:
        lbd: weight lambda of the robustness term (>= 0). Default 12.0 (MACER's default).
        gamma: hinge threshold gamma on xi (> 0). Default 8.0.
        beta: inverse temperature of h (> 0). Default 16.0.
        defer_epochs: epochs with lambda = 0 at the start (>= 0). Default 0.
    """

    name = "macer"

    def __init__(self, lbd: float = 12.0, gamma: float = 8.0, beta: float = 16.0, defer_epochs: int = 0) -> None:
        self.lbd = P.number(self.name, "lbd", lbd, low=0.0)
        self.gamma = P.number(self.name, "gamma", gamma, low=0.0, strict=True)
        self.beta = P.number(self.name, "beta", beta, low=0.0, strict=True)
        self.defer_epochs = P.integer(self.name, "defer_epochs", defer_epochs, low=0)

    def params(self) -> dict[str, object]:
        return {"lbd": self.lbd, "gamma": self.gamma, "beta": self.beta, "defer_epochs": self.defer_epochs}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise, gaussian=True)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = ctx.num_noise
        noise = P.require_noise(self.name, ctx.noise, gaussian=True)
        logits = model(noisy_copies(x, m, noise, ctx.generator))
        nll, robust = macer_terms(logits, y, m, noise.sigma, self.beta, self.gamma)
        lbd = 0.0 if ctx.epoch < self.defer_epochs else self.lbd
        stats = {"nll": nll, "robustness": robust}
        return PerExample(losses=nll + lbd * robust, logits=logits, labels=repeat_copies(y, m), stats=stats)
