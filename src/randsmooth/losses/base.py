"""The training-loss interface: one training loop for every method, a method = a loss object.

A loss is called once per optimizer step as ``loss(model, x, y, ctx) -> LossResult`` with the model
in train mode, a clean batch ``x`` in [0, 1] pixel space of shape (N, C, H, W) on ``ctx.device``,
integer labels ``y`` of shape (N,), and a :class:`StepContext`. The loss draws all its noise from
``ctx.generator`` (via ``ctx.noise.sample``), may run extra forward/backward passes through
``model`` (e.g. an inner attack; it must restore train mode and leave no parameter gradients
behind), and returns the scalar loss to back-propagate, the logits used for the training accuracy
and detached scalar statistics.

How the planned methods fit:

* SmoothAdv (Salman et al.): params eps, steps, warm-up; the attack runs through ``model`` in eval
  mode inside ``__call__``; ``ctx.epoch``/``ctx.num_epochs`` drive the eps warm-up; ``ctx.num_noise``
  noise copies per input.
* MACER, Consistency, SmoothMix: ``ctx.num_noise`` = m noisy copies per input, built with
  :func:`noisy_copies` (row ``i * m + j`` is copy j of example i).
* Sun et al.'s trainer: ``ctx.weights`` (per-example weights, e.g. from certified-radius
  reweighting), ``ctx.example_index`` (row -> training-set index, to look up per-example state such
  as p_A estimates), ``ctx.epoch`` (switch epoch E_t); ADAPTIVEADV runs inside the loss.
* Xin et al.'s cost-sensitive losses: the cost matrix / seed classes are constructor params; the
  seed mask is computed from ``y``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..sampling import Noise


@dataclass
class StepContext:
    """Everything a loss may need besides (model, x, y) for one optimizer step.

    ``noise`` is None for noise-free (clean) training; ``generator`` (on ``device``) is the only
    source of randomness a loss may use; ``epoch`` is the 0-based epoch index out of
    ``num_epochs``; ``num_noise`` the number m of noisy copies per input; ``example_index`` (N,)
    training-set indices of the batch rows (int64, on the CPU); ``step`` the batch index within the
    epoch; ``weights`` optional (N,) non-negative per-example loss
    weights (a loss then returns the weighted mean sum_i w_i l_i / sum_i w_i).
    """

    noise: Noise | None
    generator: torch.Generator | None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    epoch: int = 0
    num_epochs: int | None = None
    num_noise: int = 1
    example_index: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    step: int = 0


@dataclass
class LossResult:
    """Output of a training loss.

    ``loss``: scalar tensor to back-propagate. ``logits``: (M, K) logits whose argmax defines the
    training accuracy against ``labels`` (M,); ``labels`` None means ``y`` (then M = N). ``stats``:
    named detached 0-dim tensors (or floats), averaged over the epoch by the training loop and
    logged.
    """

    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None = None
    stats: dict[str, torch.Tensor | float] = field(default_factory=dict)


class TrainingLoss(ABC):
    """Base class of every training method. Subclasses set ``name`` and implement ``__call__``."""

    name: ClassVar[str]

    def params(self) -> dict[str, Any]:
        """The method's hyper-parameters (recorded in logs)."""
        return {}

    @abstractmethod
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        """Loss for one batch; see the module docstring for the contract."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def noisy_copies(x: torch.Tensor, m: int, noise: Noise | None, generator: torch.Generator | None) -> torch.Tensor:
    """m noisy copies of every input: shape (N*m, ...), row ``i*m + j`` = x[i] + delta_ij.

    With ``noise`` None the copies are clean (identical).
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"num_noise (copies per input) must be a positive integer, got {m!r}")
    copies = x.repeat_interleave(m, dim=0) if m > 1 else x
    return copies if noise is None else noise.sample(copies, generator)


def weighted_mean(per_example: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of (N,) per-example losses, or sum_i w_i l_i / sum_i w_i with (N,) weights."""
    if weights is None:
        return per_example.mean()
    if weights.shape != per_example.shape:
        raise ValueError(f"weights must have shape {tuple(per_example.shape)}, got {tuple(weights.shape)}")
    weights = weights.to(per_example.dtype)
    total = weights.sum()
    if not torch.isfinite(total) or total <= 0 or (weights < 0).any():
        raise ValueError("weights must be non-negative with a positive finite sum")
    return (weights * per_example).sum() / total
