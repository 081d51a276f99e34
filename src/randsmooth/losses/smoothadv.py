"""SmoothAdv (Salman et al. 2019, "Provably robust deep learning via adversarially trained smoothed
classifiers"), the PGD-L2 variant with m fixed noise draws (their Sec. 3.2 and Alg. 1).

For each input x the m noise vectors delta_1..delta_m are drawn once. PGD then looks for a
perturbation delta_adv, ||delta_adv||_2 <= eps_e, maximising the negative log-likelihood of the soft
smoothed classifier over these *fixed* noises,

    -log( (1/m) sum_j softmax(f(x + delta_adv + delta_j))_y ),

starting at delta_adv = 0 with T normalised-gradient steps of size 2 eps_e / T, after each step
clipping x + delta_adv to [0, 1] and projecting on the eps_e-ball (in this order). The model runs in
eval mode with frozen parameters during the attack. The training loss is then the mean
cross-entropy over the m copies (x + delta_adv) + delta_j, in train mode.

eps warm-up (Salman et al.'s ``--warmup``): eps_e = eps * min(1, (e + 1) / warmup) in 0-based epoch
e; warmup = 1 means no warm-up. eps is in [0, 1] pixel units over all C*H*W coordinates (the
reference scripts give it in 1/256 units: 256/256 = 1.0). The DDN attack of the reference is not
offered.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..sampling import Noise
from . import params as P
from .attacks import frozen_eval, pgd_l2, project_l2_ball
from .base import PerExample, PerExampleLoss, StepContext
from .gaussian import copies_cross_entropy
from .registry import register_loss
from .smoothing import noise_draws, repeat_copies, smoothed_nll, smoothed_probs

ATTACK_EPS = 1e-20  # -log(h_y + 1e-20) inside the attacks (the references clamp at 1e-20)


def warmup_factor(epoch: int, warmup: int) -> float:
    """min(1, (epoch + 1) / warmup) for a 0-based epoch (linear warm-up over ``warmup`` epochs)."""
    return min(1.0, (epoch + 1) / warmup)


def smoothed_nll_objective(
    model: nn.Module, y: torch.Tensor, delta: torch.Tensor, m: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """z (N, ...) -> (N,) -log h_y(z) of the soft smoothed classifier over the fixed noises ``delta``."""

    def objective(z: torch.Tensor) -> torch.Tensor:
        logits = model(repeat_copies(z, m) + delta)
        return smoothed_nll(smoothed_probs(logits, m), y, eps=ATTACK_EPS)

    return objective


def smoothadv_attack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, m: int, epsilon: float, steps: int
) -> torch.Tensor:
    """x + delta_adv: Salman et al.'s PGD-L2 on the input (see the module docstring), shape of x."""
    if steps == 0 or epsilon == 0:
        return x.detach()

    def project(z: torch.Tensor) -> torch.Tensor:
        return x + project_l2_ball(z.clamp(0.0, 1.0) - x, epsilon)

    with frozen_eval(model):
        objective = smoothed_nll_objective(model, y, delta, m)
        return pgd_l2(objective, x, steps=steps, step_size=2.0 * epsilon / steps, project=project)


@register_loss
class SmoothAdvLoss(PerExampleLoss):
    """SmoothAdv with PGD-L2; registered as ``smoothadv``.

    Args:
        epsilon: attack radius eps (L2, [0, 1] pixel units; >= 0). Default 1.0 (= 256/256, Sun et
            al.'s CIFAR-10 sigma = 0.25 and 0.5 recipes).
        steps: PGD steps T (>= 0). Default 10.
        warmup: epochs of linear eps warm-up (>= 1; 1 = none). Default 10.
    """

    name = "smoothadv"
    clips_to_pixel_range = True

    def __init__(self, epsilon: float = 1.0, steps: int = 10, warmup: int = 10) -> None:
        self.epsilon = P.number(self.name, "epsilon", epsilon, low=0.0)
        self.steps = P.integer(self.name, "steps", steps, low=0)
        self.warmup = P.integer(self.name, "warmup", warmup, low=1)

    def step_passes(self, epoch: int) -> float:
        return 1.0 + self.steps  # T attack steps on the m copies, then the training pass

    def params(self) -> dict[str, object]:
        return {"epsilon": self.epsilon, "steps": self.steps, "warmup": self.warmup}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = ctx.num_noise
        delta = noise_draws(x, m, ctx.noise, ctx.generator)
        epsilon = self.epsilon * warmup_factor(ctx.epoch, self.warmup)
        x_adv = smoothadv_attack(model, x, y, delta, m, epsilon, self.steps)
        logits = model(repeat_copies(x_adv, m) + delta)
        ce, labels = copies_cross_entropy(logits, y, m)
        stats = {"ce": ce, "epsilon": torch.tensor(epsilon)}
        return PerExample(losses=ce, logits=logits, labels=labels, stats=stats)
