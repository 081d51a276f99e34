"""CAT-RS (Jeong et al. 2023, "Confidence-aware training of smoothed classifiers for certified
robustness"), Sec. 3 and Alg. 1 as in their reference trainer.

Inputs: soft targets p_b(x_i), the (N_train, K) per-class frequencies of a *smoothed Gaussian
teacher* on the training set (computed beforehand by :mod:`randsmooth.soft_targets`, never inside
training; looked up by ``ctx.example_index``). Per input with m noises delta_j:

* low-confidence term: sort the m cross-entropies CE(f(x + delta_j), y) in ascending order, draw
  K ~ Binomial(m, w) (at least 1) with w the fraction of the m copies the current model classifies
  as y (or p_b(x)_y with ``confidence_mask``), keep the K smallest: L_low = (1/m) sum_{k<=K} CE_(k);
* high-confidence term, only when K = m: lambda * max_j KL(p_b || softmax(f(x + delta'_j))), delta'
  from a KL-PGD attack on the *noise* (eval mode, frozen parameters): T normalised-gradient steps of
  size 2 eps / T on KL(p_b || f(x + delta')), projection on ||delta' - delta_j||_2 <= eps, then
  re-standardisation delta' <- mu_j + (delta' - mean(delta')) * rms_j / rms(delta') with the original
  draw's per-copy mean mu_j and root mean square rms_j (as the reference: the mean is restored
  exactly, the RMS up to the per-copy mean, since the division uses the uncentred RMS).

l_i = L_low + lambda * 1[K = m] * max_j KL. eps is an L2 length in [0, 1] pixel units; it doubles from
epoch ``double_epsilon_at`` on (the reference's ``--warmup``; null = never). K is drawn from the
step's noise generator (m Bernoulli(w) draws).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import Noise
from . import params as P
from .attacks import frozen_eval, pgd_l2, project_l2_ball
from .base import PerExample, PerExampleLoss, StepContext
from .registry import register_loss
from .smoothing import kl_to_target, noise_draws, per_input, repeat_copies


def _mean_rms(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = t.flatten(1)
    shape = (-1, *([1] * (t.dim() - 1)))
    return flat.mean(dim=1).view(shape), flat.pow(2).mean(dim=1).sqrt().view(shape)


def catrs_noise_attack(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, delta: torch.Tensor, epsilon: float, steps: int
) -> torch.Tensor:
    """CAT-RS's KL-PGD on the noise: (R, ...) attacked noise delta' for rows inputs + delta, soft targets (R, K)."""
    if steps == 0:
        return delta.detach()
    mu0, rms0 = _mean_rms(delta)

    def project(d: torch.Tensor) -> torch.Tensor:
        d = delta + project_l2_ball(d - delta, epsilon)
        mu, rms = _mean_rms(d)
        return mu0 + (d - mu) / rms * rms0

    with frozen_eval(model):
        return pgd_l2(
            lambda d: kl_to_target(targets, model(inputs + d)),
            delta,
            steps=steps,
            step_size=2.0 * epsilon / steps,
            project=project,
        )


def low_confidence_term(ce: torch.Tensor, accept: torch.Tensor) -> torch.Tensor:
    """(N,) (1/m) * sum of the ``accept[i]`` smallest entries of each row of ``ce`` (N, m)."""
    m = ce.shape[1]
    keep = torch.arange(m, device=ce.device)[None, :] < accept[:, None]
    return (ce.sort(dim=1).values * keep).sum(dim=1) / m


@register_loss
class CatRSLoss(PerExampleLoss):
    """CAT-RS; registered as ``catrs``. Needs soft targets (``train(..., soft_targets=FILE)``).

    Args:
        lbd: weight lambda of the high-confidence KL term (>= 0). Default 1.0.
        epsilon: noise-attack radius eps (L2, pixel units; >= 0). Default 1.0 (= 256/256).
        steps: attack steps T (>= 0). Default 4.
        confidence_mask: draw K with w = p_b(x)_y instead of the model's own accuracy. Default false.
        double_epsilon_at: 0-based epoch from which eps is doubled (null = never). Default null.
        teacher_samples: noise samples per example the soft targets must have been computed with
            (checked against the file). Default 10000.
        teacher_seed: seed the soft targets must have been computed with (checked). Default 0.
        teacher: free-form identity of the teacher model (e.g. its content address), recorded in
            the config identity only. Default null.
    """

    name = "catrs"
    held_passes = 2  # both training passes are kept for the one backward
    needs_soft_targets = True

    def __init__(
        self,
        lbd: float = 1.0,
        epsilon: float = 1.0,
        steps: int = 4,
        confidence_mask: bool = False,
        double_epsilon_at: int | None = None,
        teacher_samples: int = 10000,
        teacher_seed: int = 0,
        teacher: str | None = None,
    ) -> None:
        self.lbd = P.number(self.name, "lbd", lbd, low=0.0)
        self.epsilon = P.number(self.name, "epsilon", epsilon, low=0.0)
        self.steps = P.integer(self.name, "steps", steps, low=0)
        self.confidence_mask = P.boolean(self.name, "confidence_mask", confidence_mask)
        self.double_epsilon_at = (
            None if double_epsilon_at is None else P.integer(self.name, "double_epsilon_at", double_epsilon_at)
        )
        self.teacher_samples, self.teacher_seed, self.teacher = P.teacher_params(
            self.name, teacher_samples, teacher_seed, teacher
        )
        self.targets: torch.Tensor | None = None

    def step_passes(self, epoch: int) -> float:
        return 2.0 + self.steps  # the clean-noise pass, T attack steps, then the pass on the attacked noise

    def params(self) -> dict[str, object]:
        keys = ("lbd", "epsilon", "steps", "confidence_mask", "double_epsilon_at")
        keys += ("teacher_samples", "teacher_seed", "teacher")
        return {key: getattr(self, key) for key in keys}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise)

    def set_soft_targets(self, targets: torch.Tensor, num_samples: int, seed: int) -> None:
        P.check_teacher(self.name, (self.teacher_samples, self.teacher_seed), num_samples, seed)
        self.targets = targets.float()

    def _soft_targets(self, ctx: StepContext, n: int) -> torch.Tensor:
        if self.targets is None or ctx.example_index is None:
            raise P.run_error(self.name, "needs soft targets (train(..., soft_targets=FILE)) and ctx.example_index")
        if ctx.example_index.shape != (n,):
            raise ValueError(f"ctx.example_index must have shape ({n},), got {tuple(ctx.example_index.shape)}")
        return self.targets[ctx.example_index.cpu()].to(ctx.device)

    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m, n = ctx.num_noise, x.shape[0]
        p_b = self._soft_targets(ctx, n)
        delta = noise_draws(x, m, ctx.noise, ctx.generator)
        inputs, labels = repeat_copies(x, m), repeat_copies(y, m)
        logits = model(inputs + delta)
        ce = per_input(F.cross_entropy(logits, labels, reduction="none"), m)
        if self.confidence_mask:
            w = p_b.gather(1, y[:, None]).squeeze(1)
        else:
            w = per_input((logits.detach().argmax(dim=1) == labels).to(x.dtype), m).mean(dim=1)
        draws = torch.rand((n, m), generator=ctx.generator, device=x.device, dtype=x.dtype)
        accept = (draws < w[:, None]).sum(dim=1).clamp(min=1)
        low = low_confidence_term(ce, accept)
        double = self.double_epsilon_at is not None and ctx.epoch >= self.double_epsilon_at
        epsilon = self.epsilon * (2.0 if double else 1.0)
        delta_adv = catrs_noise_attack(model, inputs, repeat_copies(p_b, m), delta, epsilon, self.steps)
        kl = per_input(kl_to_target(repeat_copies(p_b, m), model(inputs + delta_adv)), m).max(dim=1).values
        full = (accept == m).to(x.dtype)
        stats = {"ce_low": low, "kl": kl, "full": full}
        return PerExample(losses=low + self.lbd * full * kl, logits=logits, labels=labels, stats=stats)
