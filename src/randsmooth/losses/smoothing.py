"""Shared pieces of the smoothed-classifier losses: noise draws, soft smoothed probabilities, margins.

Layout convention (as :func:`randsmooth.losses.noisy_copies`): with m noisy copies per input, row
``i * m + j`` of an (N*m, ...) tensor is copy j of example i.

* The **soft smoothed classifier** (Salman et al. 2019, Sec. 3; Zhai et al. 2020, Eq. 6) at inverse
  temperature beta is h(x) = (1/m) sum_j softmax(beta * f(x + delta_j)), an (N, K) probability
  table; beta = 1 gives the classifier that SmoothAdv attacks and whose negative log-likelihood
  -log(h_y(x)) MACER and Margin-CS minimise.
* The **probit margin** xi = Phi^-1(p_a) - Phi^-1(p_b) between two entries of h; (sigma / 2) * xi is
  the Gaussian certified radius of Cohen et al. (2019, Thm. 1) with p_A = p_a and p_B = p_b, the
  quantity behind MACER's hinge (Zhai et al. 2020, Eq. 8) and Margin-CS (Xin et al. 2025, Sec. 5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..sampling import Noise

# MACER's and Margin-CS's log guard: -log(h_y + 1e-10) (Zhai et al.'s reference implementation)
NLL_EPS = 1e-10


def noise_draws(x: torch.Tensor, m: int, noise: Noise | None, generator: torch.Generator | None) -> torch.Tensor:
    """(N*m, ...) noise vectors delta (not x + delta) for m copies of each input; zeros if ``noise`` is None."""
    shape = (x.shape[0] * m, *x.shape[1:])
    zeros = torch.zeros(shape, dtype=x.dtype, device=x.device)
    return zeros if noise is None else noise.sample(zeros, generator)


def repeat_copies(t: torch.Tensor, m: int) -> torch.Tensor:
    """Each row of ``t`` repeated m times in place: (N, ...) -> (N*m, ...), row i*m + j = t[i]."""
    return t.repeat_interleave(m, dim=0) if m > 1 else t


def per_input(values: torch.Tensor, m: int) -> torch.Tensor:
    """(N*m, ...) per-copy values reshaped to (N, m, ...)."""
    return values.view(values.shape[0] // m, m, *values.shape[1:])


def smoothed_probs(logits: torch.Tensor, m: int, beta: float = 1.0) -> torch.Tensor:
    """Soft smoothed classifier h = mean over the m copies of softmax(beta * logits): (N*m, K) -> (N, K)."""
    return per_input(F.softmax(beta * logits, dim=1), m).mean(dim=1)


def smoothed_nll(probs: torch.Tensor, y: torch.Tensor, eps: float = NLL_EPS) -> torch.Tensor:
    """(N,) negative log-likelihood -log(h_y + eps) of the soft smoothed classifier."""
    return -torch.log(probs.gather(1, y[:, None]).squeeze(1) + eps)


def probit(p: torch.Tensor) -> torch.Tensor:
    """Phi^-1(p) as sqrt(2) * erfinv(2p - 1), i.e. ``torch.distributions.Normal(0, 1).icdf`` of the references.

    In float32, 2p - 1 rounds to -1 for p below about 3e-8 (and to 1 within 6e-8 of 1), so such
    probabilities map to -inf (+inf); every finite value has a finite gradient.
    """
    return math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)


def probit_margin(p_a: torch.Tensor, p_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(xi, finite): xi = Phi^-1(p_a) - Phi^-1(p_b) where both are finite (:func:`probit`), else 0.

    Entries with an infinite inverse CDF (probabilities 0 or 1 in the working precision) are
    replaced before the inverse CDF, so neither the value nor the gradient is NaN; callers must
    mask them with ``finite``, like the references drop infinite margins from the hinge.
    """
    with torch.no_grad():
        finite = torch.isfinite(probit(p_a)) & torch.isfinite(probit(p_b))
    half = torch.full_like(p_a, 0.5)
    xi = probit(torch.where(finite, p_a, half)) - probit(torch.where(finite, p_b, half))
    return xi, finite


def window_hinge(xi: torch.Tensor, active: torch.Tensor, upper: float) -> torch.Tensor:
    """(upper - xi) where ``active`` else 0 (a hinge restricted to a window chosen by the caller)."""
    return torch.where(active, upper - xi, torch.zeros_like(xi))


def best_other(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) largest entry of each row of ``probs`` outside column y."""
    masked = probs.scatter(1, y[:, None], float("-inf"))
    return masked.max(dim=1).values


def true_class_margin(probs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(xi, finite) with xi = Phi^-1(h_y) - Phi^-1(max_{j != y} h_j) (positive iff h ranks y first)."""
    return probit_margin(probs.gather(1, y[:, None]).squeeze(1), best_other(probs, y))


def kl_to_target(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-row KL(target || softmax(logits)) for a probability table ``target`` (0 log 0 = 0)."""
    return F.kl_div(F.log_softmax(logits, dim=1), target, reduction="none").sum(dim=1)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per-row Shannon entropy -sum_k p_k log p_k (p clamped at 1e-20 inside the log)."""
    return -(probs * torch.log(probs.clamp(min=1e-20))).sum(dim=1)
