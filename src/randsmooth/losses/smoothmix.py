"""SmoothMix (Jeong et al. 2021, "SmoothMix: Training confidence-calibrated smoothed classifiers
for certified robustness"), Alg. 1 and Eq. (8) as in their reference trainer.

1. Draw m noises delta_j per input (fixed for the whole step).
2. SmoothMix-PGD (eval mode, frozen parameters): T normalised-gradient ascent steps of size alpha
   on -log mean_j softmax(f(z + delta_j))_y from z = x, each followed by the projection on
   ||z - x||_2 <= ``maxnorm`` (if set) and on [0, 1]. x_adv = z after T steps; the clean side
   x_init = z after ``mix_step`` steps (x itself for mix_step = 0 or mix_step >= T), projected on
   ||x_init - x|| <= maxnorm_s * w_e (maxnorm_s defaults to alpha * mix_step) and on [0, 1].
3. Train mode: l_i = (1/m) sum_j CE(f(x_init + delta_j), y)
       + eta * w_e * 1[argmax p_bar = y] * (1/m) sum_j KL(y_mix || softmax(f(x_mix + delta_j))),
   p_bar = mean_j softmax(f(x_init + delta_j)), lam ~ U[0, 1/2] per input,
   x_mix = (1 - lam) x_init + lam x_adv, y_mix = (1 - lam) p_bar + lam / K (uniform),
   gradients also through p_bar in y_mix (as the reference), w_e = min(1, (e + 1) / warmup).

alpha, maxnorm, maxnorm_s are L2 lengths in [0, 1] pixel units. lam is drawn from the step's
noise generator.
"""

from __future__ import annotations

import torch
from torch import nn

from ..sampling import Noise
from . import params as P
from .attacks import frozen_eval, pgd_l2, project_l2_ball
from .base import PerExample, PerExampleLoss, StepContext
from .gaussian import copies_cross_entropy
from .registry import register_loss
from .smoothadv import smoothed_nll_objective, warmup_factor
from .smoothing import kl_to_target, noise_draws, per_input, repeat_copies, smoothed_probs


def _ball_and_box(x: torch.Tensor, radius: float | None):
    def project(z: torch.Tensor) -> torch.Tensor:
        if radius is not None:
            z = x + project_l2_ball(z - x, radius)
        return z.clamp(0.0, 1.0)

    return project


def smoothmix_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    delta: torch.Tensor,
    m: int,
    *,
    alpha: float,
    steps: int,
    mix_step: int,
    maxnorm: float | None,
    maxnorm_s: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_init, x_adv) of SmoothMix-PGD (see the module docstring); both shaped like x."""
    project = _ball_and_box(x, maxnorm)
    with frozen_eval(model):
        objective = smoothed_nll_objective(model, y, delta, m)
        first = min(mix_step, steps)
        middle = pgd_l2(objective, x, steps=first, step_size=alpha, project=project)
        x_adv = pgd_l2(objective, middle, steps=steps - first, step_size=alpha, project=project)
    x_init = middle if mix_step < steps else x.detach()
    return _ball_and_box(x, maxnorm_s)(x_init), x_adv


@register_loss
class SmoothMixLoss(PerExampleLoss):
    """SmoothMix; registered as ``smoothmix``.

    Args:
        alpha: attack step size (L2, pixel units; > 0). Default 1.0.
        steps: attack steps T (>= 0). Default 8.
        eta: weight of the mixup term (>= 0). Default 1.0.
        mix_step: attack step whose iterate is the clean side x_init (>= 0). Default 0 (x itself).
        warmup: epochs of linear warm-up of eta and maxnorm_s (>= 1). Default 10.
        maxnorm: optional L2 bound on x_adv - x (> 0 or null). Default null.
        maxnorm_s: optional L2 bound on x_init - x before warm-up (>= 0 or null = alpha * mix_step).
    """

    name = "smoothmix"
    held_passes = 2  # both training passes are kept for the one backward
    clips_to_pixel_range = True

    def __init__(
        self,
        alpha: float = 1.0,
        steps: int = 8,
        eta: float = 1.0,
        mix_step: int = 0,
        warmup: int = 10,
        maxnorm: float | None = None,
        maxnorm_s: float | None = None,
    ) -> None:
        self.alpha = P.number(self.name, "alpha", alpha, low=0.0, strict=True)
        self.steps = P.integer(self.name, "steps", steps, low=0)
        self.eta = P.number(self.name, "eta", eta, low=0.0)
        self.mix_step = P.integer(self.name, "mix_step", mix_step, low=0)
        self.warmup = P.integer(self.name, "warmup", warmup, low=1)
        self.maxnorm = None if maxnorm is None else P.number(self.name, "maxnorm", maxnorm, low=0.0, strict=True)
        self.maxnorm_s = None if maxnorm_s is None else P.number(self.name, "maxnorm_s", maxnorm_s, low=0.0)

    def step_passes(self, epoch: int) -> float:
        return 2.0 + self.steps  # T attack steps, then the passes on x_init and on the mixed input

    def params(self) -> dict[str, object]:
        keys = ("alpha", "steps", "eta", "mix_step", "warmup", "maxnorm", "maxnorm_s")
        return {key: getattr(self, key) for key in keys}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = ctx.num_noise
        delta = noise_draws(x, m, ctx.noise, ctx.generator)
        w_e = warmup_factor(ctx.epoch, self.warmup)
        maxnorm_s = self.alpha * self.mix_step if self.maxnorm_s is None else self.maxnorm_s
        x_init, x_adv = smoothmix_attack(
            model,
            x,
            y,
            delta,
            m,
            alpha=self.alpha,
            steps=self.steps,
            mix_step=self.mix_step,
            maxnorm=self.maxnorm,
            maxnorm_s=maxnorm_s * w_e,
        )
        logits = model(repeat_copies(x_init, m) + delta)
        ce, labels = copies_cross_entropy(logits, y, m)
        p_bar = smoothed_probs(logits, m)
        lam = torch.rand(x.shape[0], generator=ctx.generator, device=x.device, dtype=x.dtype) / 2
        lam_x = lam.view(-1, *([1] * (x.dim() - 1)))
        x_mix = (1 - lam_x) * x_init + lam_x * x_adv
        y_mix = (1 - lam[:, None]) * p_bar + lam[:, None] / p_bar.shape[1]
        logits_mix = model(repeat_copies(x_mix, m) + delta)
        correct = (p_bar.detach().argmax(dim=1) == y).to(ce.dtype)
        mix = correct * per_input(kl_to_target(repeat_copies(y_mix, m), logits_mix), m).mean(dim=1)
        stats = {"ce": ce, "mixup": mix}
        return PerExample(losses=ce + self.eta * w_e * mix, logits=logits, labels=labels, stats=stats)
