"""Xin et al. (2025), "Provably cost-sensitive adversarial defense via randomized smoothing":
the cost matrix in training, and the seed-reweighted baselines ``gaussian_cs``, ``smoothadv_cs``,
``smoothmix_cs``.

A method's ``cost`` parameter is any value :func:`randsmooth.costs.from_config` reads (a preset
``{"preset": "s-seed", "dataset": "cifar10"}``, sparse ``{"num_classes": 10, "pairs": [[3, 5, 1.0]]}``,
or a dense matrix), so one matrix drives training, certification and the tables. From it:
sensitive *seed* classes (:func:`seed_mask`) and each class's sensitive target set
Omega_y = {j : C[y, j] > 0} with its costs (:func:`cost_rows`).

The "-CS" baselines (Xin et al., Sec. 6 "Reweight"; the reference ``smooth_train.py`` for Gaussian,
the authors' README for SmoothAdv and SmoothMix) add the same loss restricted to the seed examples:

    L = mean_i l_i + seed_weight * mean_{i : y_i seed} l_i,

with l_i the base method's per-example loss (the second term is 0 for a batch without seeds; the
reference's NaN there is not copied). seed_weight = 0 is the base method.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..costs import CostMatrix, from_config, to_config
from ..sampling import Noise
from . import params as P
from .base import LossResult, StepContext, reduce_per_example, weighted_mean
from .gaussian import GaussianAugmentationLoss
from .registry import register_loss
from .smoothadv import SmoothAdvLoss
from .smoothmix import SmoothMixLoss


def cost_param(method: str, value: Any) -> CostMatrix:
    """The cost matrix of ``method.params.cost``, or a one-line ValueError naming that key."""
    if value is None:
        raise P.param_error(method, "cost", "a cost matrix config (preset, pairs or matrix)", value)
    try:
        return from_config(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config key 'method.params.cost' of training method {method!r}: {exc}") from None


def seed_mask(cost: CostMatrix, y: torch.Tensor) -> torch.Tensor:
    """(N,) bool: which labels are sensitive seed classes."""
    seeds = torch.as_tensor(cost.seed_classes, dtype=y.dtype, device=y.device)
    return torch.isin(y, seeds)


def cost_rows(cost: CostMatrix, y: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, K) costs C[y_i, :] (positive exactly on Omega_{y_i})."""
    return torch.from_numpy(cost.matrix.copy()).to(device=y.device, dtype=dtype)[y]


class CostSensitive:
    """Mixin: a ``cost`` parameter checked against the data set's number of classes."""

    name: str
    cost: CostMatrix

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        super().check(num_noise=num_noise, noise=noise, num_classes=num_classes)  # type: ignore[misc]
        if self.cost.num_classes != num_classes:
            raise ValueError(
                f"config key 'method.params.cost' of training method {self.name!r}: the cost matrix has "
                f"{self.cost.num_classes} classes but the data set has {num_classes}"
            )


class SeedReweighted(CostSensitive):
    """Mixin for a :class:`PerExampleLoss`: adds ``seed_weight`` times the mean loss of the seed examples."""

    seed_weight: float

    def _init_cost(self, cost: Any, seed_weight: float) -> None:
        self.cost = cost_param(self.name, cost)
        self.seed_weight = P.number(self.name, "seed_weight", seed_weight, low=0.0)

    def _cost_params(self) -> dict[str, Any]:
        return {"cost": to_config(self.cost), "seed_weight": self.seed_weight}

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        out = self.per_example(model, x, y, ctx)  # type: ignore[attr-defined]
        result = reduce_per_example(out, ctx.weights)
        seeds = seed_mask(self.cost, y)
        weights = None if ctx.weights is None else ctx.weights[seeds]
        seed_loss = torch.zeros((), dtype=result.loss.dtype, device=result.loss.device)
        if self.seed_weight > 0 and seeds.any() and (weights is None or weights.sum() > 0):
            seed_loss = weighted_mean(out.losses[seeds], weights)
            result.loss = result.loss + self.seed_weight * seed_loss
        result.stats["seed_loss"] = seed_loss.detach()
        return result


@register_loss
class GaussianCSLoss(SeedReweighted, GaussianAugmentationLoss):
    """Gaussian-CS ("Reweight"); registered as ``gaussian_cs``.

    Args:
        cost: cost matrix config (required).
        seed_weight: beta >= 0 of the seed term. Default 0.1 (reference ``--beta``).
    """

    name = "gaussian_cs"

    def __init__(self, cost: Any = None, seed_weight: float = 0.1) -> None:
        self._init_cost(cost, seed_weight)

    def params(self) -> dict[str, Any]:
        return self._cost_params()


@register_loss
class SmoothAdvCSLoss(SeedReweighted, SmoothAdvLoss):
    """SmoothAdv-CS; registered as ``smoothadv_cs``: ``smoothadv`` plus the seed term (params of both)."""

    name = "smoothadv_cs"

    def __init__(
        self, cost: Any = None, seed_weight: float = 0.1, epsilon: float = 1.0, steps: int = 10, warmup: int = 10
    ) -> None:
        SmoothAdvLoss.__init__(self, epsilon=epsilon, steps=steps, warmup=warmup)
        self._init_cost(cost, seed_weight)

    def params(self) -> dict[str, Any]:
        return {**self._cost_params(), **SmoothAdvLoss.params(self)}


@register_loss
class SmoothMixCSLoss(SeedReweighted, SmoothMixLoss):
    """SmoothMix-CS; registered as ``smoothmix_cs``: ``smoothmix`` plus the seed term (params of both)."""

    name = "smoothmix_cs"

    def __init__(
        self,
        cost: Any = None,
        seed_weight: float = 0.1,
        alpha: float = 1.0,
        steps: int = 8,
        eta: float = 1.0,
        mix_step: int = 0,
        warmup: int = 10,
        maxnorm: float | None = None,
        maxnorm_s: float | None = None,
    ) -> None:
        SmoothMixLoss.__init__(
            self,
            alpha=alpha,
            steps=steps,
            eta=eta,
            mix_step=mix_step,
            warmup=warmup,
            maxnorm=maxnorm,
            maxnorm_s=maxnorm_s,
        )
        self._init_cost(cost, seed_weight)

    def params(self) -> dict[str, Any]:
        return {**self._cost_params(), **SmoothMixLoss.params(self)}


__all__ = [
    "CostSensitive",
    "GaussianCSLoss",
    "SeedReweighted",
    "SmoothAdvCSLoss",
    "SmoothMixCSLoss",
    "cost_param",
    "cost_rows",
    "seed_mask",
]
