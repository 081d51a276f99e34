"""Margin-CS (Xin et al. 2025, "Provably cost-sensitive adversarial defense via randomized
smoothing", Sec. 5), the reference implementation's seedwise ("v0") and pairwise ("v1") losses
plus an optional cost-weighted pairwise form.

With m noisy copies per input (``num_noise``; 16 in the paper), g = mean_j softmax(f(x + delta_j))
and h = mean_j softmax(beta * f(x + delta_j)), the per-example loss is

    l_i = -log(g_y + 1e-10) + (sigma / 2) * (lambda1 * N_i + lambda2 * S_i),

N_i the *normal* hinge and S_i the *sensitive* hinge, xi = Phi^-1(h_y) - Phi^-1(max_{j != y} h_j)
the true-class probit margin, seeds and Omega_y from the cost matrix:

* ``seedwise``: S_i = (gamma1 - xi) if y_i is a seed and |xi| < gamma1 (misclassified seeds
  included); N_i = (gamma2 - xi) if y_i is *not* a seed and 0 < xi < gamma2.
* ``pairwise``: xi_cs = Phi^-1(max_k h_k) - Phi^-1(max_{j in Omega_y} h_j) (top class over all
  classes against the worst sensitive target); S_i = (gamma1 - xi_cs) if y_i is a seed and
  |xi_cs| < gamma1; N_i = (gamma2 - xi) for *every* example with 0 < xi < gamma2.
* ``cost_weighted`` (the paper's cost-weighted pairwise sum, as summarised second-hand):
  S_i = sum_{j in Omega_y} C[y, j] (gamma1 - xi_j) over |xi_j| < gamma1, xi_j = Phi^-1(max_k h_k) -
  Phi^-1(h_j), for seeds; N_i as in ``pairwise``. Real-valued costs enter only here.

Every hinge needs a finite margin (probabilities strictly inside (0, 1)). lambda2 = null uses
lambda1 for both terms (the reference parses ``--lbd2`` but never uses it). sigma is the Gaussian
noise level in [0, 1] pixel units.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..costs import CostMatrix, to_config
from ..sampling import Noise
from . import params as P
from .base import PerExample, PerExampleLoss, StepContext, noisy_copies
from .cost_sensitive import CostSensitive, cost_param, cost_rows, seed_mask
from .registry import register_loss
from .smoothing import probit_margin, repeat_copies, smoothed_nll, smoothed_probs, true_class_margin, window_hinge

VARIANTS = ("seedwise", "pairwise", "cost_weighted")


def margin_cs_terms(
    h: torch.Tensor, y: torch.Tensor, cost: CostMatrix, variant: str, gamma1: float, gamma2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sensitive S, normal N) hinge values, each (N,), of the soft smoothed probabilities h (N, K)."""
    seeds = seed_mask(cost, y)
    xi, finite = true_class_margin(h, y)
    normal_window = finite & (xi > 0) & (xi < gamma2)
    if variant == "seedwise":
        sensitive = window_hinge(xi, seeds & finite & (xi.abs() < gamma1), gamma1)
        return sensitive, window_hinge(xi, ~seeds & normal_window, gamma2)
    costs = cost_rows(cost, y, h.dtype)
    top = h.max(dim=1, keepdim=True).values
    if variant == "pairwise":
        worst = h.masked_fill(costs <= 0, float("-inf")).max(dim=1).values
        xi_cs, finite_cs = probit_margin(top.squeeze(1), worst)
        sensitive = window_hinge(xi_cs, seeds & finite_cs & (xi_cs.abs() < gamma1), gamma1)
    else:
        xi_j, finite_j = probit_margin(top.expand_as(h), h)
        active = seeds[:, None] & (costs > 0) & finite_j & (xi_j.abs() < gamma1)
        sensitive = (costs * window_hinge(xi_j, active, gamma1)).sum(dim=1)
    return sensitive, window_hinge(xi, normal_window, gamma2)


@register_loss
class MarginCSLoss(CostSensitive, PerExampleLoss):
    """Margin-CS; registered as ``margin_cs``. Needs Gaussian noise.

    Args:
        cost: cost matrix config (required; seeds and Omega_y).
        variant: "seedwise", "pairwise" or "cost_weighted". Default seedwise.
        lambda1: weight of the hinge terms (>= 0). Default 3.0.
        lambda2: weight of the sensitive term (>= 0), null = lambda1. Default null.
        gamma1: sensitive hinge threshold (> 0). Default 16.0.
        gamma2: normal hinge threshold (> 0). Default 4.0.
        beta: inverse temperature of h (> 0). Default 16.0.
    """

    name = "margin_cs"

    def __init__(
        self,
        cost: Any = None,
        variant: str = "seedwise",
        lambda1: float = 3.0,
        lambda2: float | None = None,
        gamma1: float = 16.0,
        gamma2: float = 4.0,
        beta: float = 16.0,
    ) -> None:
        self.cost = cost_param(self.name, cost)
        self.variant = P.choice(self.name, "variant", variant, VARIANTS)
        self.lambda1 = P.number(self.name, "lambda1", lambda1, low=0.0)
        self.lambda2 = None if lambda2 is None else P.number(self.name, "lambda2", lambda2, low=0.0)
        self.gamma1 = P.number(self.name, "gamma1", gamma1, low=0.0, strict=True)
        self.gamma2 = P.number(self.name, "gamma2", gamma2, low=0.0, strict=True)
        self.beta = P.number(self.name, "beta", beta, low=0.0, strict=True)

    def params(self) -> dict[str, Any]:
        keys = ("variant", "lambda1", "lambda2", "gamma1", "gamma2", "beta")
        return {"cost": to_config(self.cost), **{key: getattr(self, key) for key in keys}}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise, gaussian=True)
        super().check(num_noise=num_noise, noise=noise, num_classes=num_classes)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = ctx.num_noise
        noise = P.require_noise(self.name, ctx.noise, gaussian=True)
        logits = model(noisy_copies(x, m, noise, ctx.generator))
        nll = smoothed_nll(smoothed_probs(logits, m), y)
        h = smoothed_probs(logits, m, self.beta)
        sensitive, normal = margin_cs_terms(h, y, self.cost, self.variant, self.gamma1, self.gamma2)
        lambda2 = self.lambda1 if self.lambda2 is None else self.lambda2
        robust = 0.5 * noise.sigma * (self.lambda1 * normal + lambda2 * sensitive)
        stats = {"nll": nll, "sensitive": sensitive, "normal": normal}
        return PerExample(losses=nll + robust, logits=logits, labels=repeat_copies(y, m), stats=stats)
