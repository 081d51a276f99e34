"""The inner attacks of the adversarial smoothing trainers, built on one L2 gradient-ascent helper.

* :func:`pgd_l2` -- normalised-gradient ascent with a caller-supplied projection. Used for
  SmoothAdv's PGD on the input against the soft smoothed classifier (Salman et al. 2019, Sec. 3.1
  and Alg. 1; step 2 eps / T, projection on the eps-ball and on [0, 1]), SmoothMix-PGD (Jeong et
  al. 2021, Alg. 1; step alpha) and CAT-RS's KL attack on the noise (Jeong et al. 2023, Sec. 3.2;
  step 2 eps / T, ||delta' - delta|| <= eps, then re-standardisation).
* :func:`adaptive_noise_attack` -- ADAPTIVEADV (Sun et al. 2025, Alg. 1): rotates each noise vector
  on the sphere of its own norm and stops, per copy, at the first step that fools the model.

All attacks run the model under :func:`frozen_eval` (eval mode, parameters frozen, both restored
afterwards, as in every reference trainer) and differentiate only with respect to the attacked
tensor, so no parameter gradient is left behind. Norms are L2 over all C*H*W coordinates of a row,
in [0, 1] pixel units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

GRAD_EPS = 1e-8  # g / (||g|| + 1e-8), as in the SmoothMix, CAT-RS and Sun et al. reference attacks


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode with ``requires_grad`` off for every parameter; both restored on exit."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)


def row_norms(t: torch.Tensor) -> torch.Tensor:
    """(N,) L2 norm of each row of an (N, ...) tensor."""
    return t.flatten(1).norm(dim=1)


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def l2_normalized(g: torch.Tensor) -> torch.Tensor:
    """Each row divided by (its L2 norm + 1e-8)."""
    return g / _per_row(row_norms(g) + GRAD_EPS, g)


def project_l2_ball(delta: torch.Tensor, radius: float) -> torch.Tensor:
    """Rows of ``delta`` scaled down to L2 norm <= ``radius`` >= 0 (``Tensor.renorm``; 0 gives zeros)."""
    return delta.renorm(p=2, dim=0, maxnorm=radius)


def pgd_l2(
    objective: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    *,
    steps: int,
    step_size: float,
    project: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Maximise ``objective(z).sum()`` by ``steps`` normalised-gradient steps from ``start``.

    Each step: z <- project(z + step_size * g / (||g|| + 1e-8)), g the gradient of the summed
    per-row objective with respect to z (row-wise L2 norm). Returns the detached final z; steps = 0
    returns ``start``. Run it under :func:`frozen_eval`.
    """
    z = start.detach()
    for _ in range(steps):
        z.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(z).sum(), [z])
        z = project(z.detach() + step_size * l2_normalized(grad)).detach()
    return z


def adaptive_noise_attack(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, delta: torch.Tensor, steps: int, step_size: float
) -> torch.Tensor:
    """ADAPTIVEADV (Sun et al. 2025, Alg. 1) on every noisy copy: returns the attacked noise delta'.

    ``inputs`` (R, ...) clean inputs (one row per copy), ``labels`` (R,), ``delta`` (R, ...) their
    noise; ``steps`` T >= 0, ``step_size`` eps > 0 (L2, pixel units). Per copy: before each of the T
    steps, if f(x + delta') != y the current delta' is returned (so copies misclassified at the
    start keep their noise, and a copy's first fooling noise is never changed afterwards); otherwise
    delta' <- delta' + eps * g / (||g|| + 1e-8), g the gradient of the cross-entropy, then
    delta' <- delta' * ||delta|| / ||delta'|| (back on the sphere of the original draw). Copies never
    fooled return the noise after T steps. T = 0 is the identity.
    """
    norm0 = _per_row(row_norms(delta), delta)
    result = delta.detach().clone()
    fooled = torch.zeros(delta.shape[0], dtype=torch.bool, device=delta.device)
    current = delta.detach()
    for _ in range(steps):
        current.requires_grad_(True)
        logits = model(inputs + current)
        newly = (logits.detach().argmax(dim=1) != labels) & ~fooled
        result[newly] = current.detach()[newly]
        fooled |= newly
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction="sum"), [current])
        current = current.detach() + step_size * l2_normalized(grad)
        current = current * (norm0 / _per_row(row_norms(current).clamp_min(1e-30), current))
    result[~fooled] = current[~fooled]
    return result
