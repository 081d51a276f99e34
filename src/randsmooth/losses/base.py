"""The training-loss interface: one training loop for every method, a method = a loss object.

A loss is called once per optimizer step as ``loss(model, x, y, ctx) -> LossResult`` with the model
in train mode, a clean batch ``x`` in [0, 1] pixel space of shape (N, C, H, W) on ``ctx.device``,
integer labels ``y`` of shape (N,), and a :class:`StepContext`. The loss draws all its noise from
``ctx.generator`` (via ``ctx.noise.sample``), may run extra forward/backward passes through
``model`` (e.g. an inner attack; it must restore train mode and leave no parameter gradients
behind), and returns the scalar loss to back-propagate, the logits used for the training accuracy
and detached scalar statistics.

Life cycle in :func:`randsmooth.train.train` (every hook has a no-op default):

1. ``get_loss(name, **params)`` validates each hyper-parameter (``ValueError`` naming
   ``method.params.<key>``);
2. :meth:`TrainingLoss.check` validates the method against the run (number of noisy copies m, noise,
   number of classes) before the first epoch;
3. methods with ``needs_soft_targets`` receive the teacher's (N_train, K) soft targets through
   :meth:`TrainingLoss.set_soft_targets` (a runtime input, see :mod:`randsmooth.soft_targets`);
4. at the start of every epoch :meth:`TrainingLoss.on_epoch_start` may make extra passes over the
   *un-augmented* training set (e.g. Sun et al.'s p_A estimates), drawing noise only from
   ``EpochContext.seed``; then :meth:`TrainingLoss.sampling_weights` may replace the shuffled epoch by
   ``len(train set)`` draws with replacement from the returned per-example weights;
5. per-example state lives in :meth:`TrainingLoss.state_dict` / :meth:`TrainingLoss.load_state_dict`
   and is stored in every checkpoint, so a resumed run is identical to an uninterrupted one.

Each method also states its cost (what :mod:`randsmooth.pipeline.resources` sizes cluster jobs and
the ``cost`` command's bill with): :meth:`TrainingLoss.step_passes` forward-backward passes of each
noisy copy per step (an attack step is one: a forward and a backward to the input),
:meth:`TrainingLoss.epoch_passes` forward-only passes per image of the epoch hooks, and
``held_passes``, the forward passes of each copy whose activations the step's one backward keeps
(the memory of a step scales with batch x m x held_passes).

Most methods are a per-example loss l_i averaged over the batch (:class:`PerExampleLoss`), so that
per-example weights and Xin et al.'s cost-sensitive re-weighting apply to all of them alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from ..sampling import Noise
from .smoothing import repeat_copies

# Cost of a forward-only pass (no activations kept, no backward) relative to a forward-backward
# pass: the backward of a convolutional network costs about twice its forward.
FORWARD_ONLY = 1.0 / 3.0


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
class EpochContext:
    """What :meth:`TrainingLoss.on_epoch_start` may use besides the model and the data set.

    ``seed``: seed of the epoch's dedicated estimation stream (the only randomness a hook may use;
    derive per-example seeds from it with :func:`randsmooth.seeding.derive_seed`); ``batch_size``:
    model batch (rows) for extra forward passes (does not change results); the rest as in
    :class:`StepContext`.
    """

    noise: Noise | None
    seed: int
    epoch: int
    num_epochs: int
    num_noise: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 256


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
    needs_soft_targets: bool = False
    clips_to_pixel_range: ClassVar[bool] = False  # attacked inputs clipped to [0, 1]: pixel noise space only
    held_passes: ClassVar[int] = 1  # forward passes of each noisy copy whose activations one backward keeps

    def step_passes(self, epoch: int) -> float:
        """Forward-backward passes of each of the m noisy copies in one step of ``epoch`` (0-based);
        an attack step counts one (a forward and a backward to the input)."""
        return float(self.held_passes)

    def epoch_passes(self, epoch: int) -> float:
        """Forward-only passes per training image made by :meth:`on_epoch_start` at ``epoch``."""
        return 0.0

    def training_passes(self, num_noise: int, epochs: int) -> float:
        """Passes per training image over a whole training of ``epochs`` epochs with m = ``num_noise``
        noisy copies, in units of one forward-backward pass (a forward-only pass counts
        :data:`FORWARD_ONLY`): Gaussian training with m = 1 makes ``epochs``."""
        return sum(num_noise * self.step_passes(e) + FORWARD_ONLY * self.epoch_passes(e) for e in range(epochs))

    def params(self) -> dict[str, Any]:
        """The method's hyper-parameters (recorded in logs)."""
        return {}

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:  # noqa: B027
        """Raise ``ValueError`` (naming the config key) if the method cannot train this run."""

    def check_noise_space(self, space: str) -> None:
        """Raise ``ValueError`` if the method cannot train in this noise space (pixel | normalized)."""
        if space != "pixel" and self.clips_to_pixel_range:
            raise ValueError(
                f"training method {self.name!r} clips its attacked inputs to the [0, 1] pixel range, "
                f"so it needs noise space 'pixel', got {space!r}"
            )

    def set_soft_targets(self, targets: torch.Tensor, num_samples: int, seed: int) -> None:
        """Receive the teacher's (N_train, K) soft targets (only if ``needs_soft_targets``)."""
        raise ValueError(f"training method {self.name!r} does not use soft targets")

    def on_epoch_start(self, model: nn.Module, dataset: Dataset, ctx: EpochContext) -> None:  # noqa: B027
        """Hook before epoch ``ctx.epoch``; ``dataset`` yields un-augmented ``(x, y)`` by training index."""

    def sampling_weights(self, epoch: int) -> torch.Tensor | None:
        """(N_train,) non-negative float64 sampling weights for ``epoch``, or None for a shuffled epoch."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Per-example state to checkpoint (tensors and plain values only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (from a checkpoint)."""
        if state:
            raise ValueError(f"training method {self.name!r} keeps no state, got keys {sorted(state)}")

    @abstractmethod
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        """Loss for one batch; see the module docstring for the contract."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@dataclass
class PerExample:
    """Per-example output of a :class:`PerExampleLoss`.

    ``losses``: (N,) loss of each input (averaged over its m noisy copies where applicable);
    ``logits``/``labels`` as in :class:`LossResult`; ``stats``: (N,) per-example or 0-dim values,
    averaged with the same weights as the loss.
    """

    losses: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None = None
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


class PerExampleLoss(TrainingLoss):
    """A method whose batch loss is the (weighted) mean of per-example losses l_i."""

    @abstractmethod
    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        """Per-example losses for one batch (same contract as ``__call__``)."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> LossResult:
        out = self.per_example(model, x, y, ctx)
        return reduce_per_example(out, ctx.weights)


def reduce_per_example(out: PerExample, weights: torch.Tensor | None) -> LossResult:
    """:class:`LossResult` with loss = (weighted) mean of ``out.losses`` and stats averaged alike."""
    stats = {key: _mean_stat(value, weights) for key, value in out.stats.items()}
    return LossResult(loss=weighted_mean(out.losses, weights), logits=out.logits, labels=out.labels, stats=stats)


def _mean_stat(value: torch.Tensor | float, weights: torch.Tensor | None) -> torch.Tensor | float:
    if torch.is_tensor(value) and value.ndim == 1:
        return weighted_mean(value.detach().float(), weights)
    return value.detach() if torch.is_tensor(value) else value


def noisy_copies(x: torch.Tensor, m: int, noise: Noise | None, generator: torch.Generator | None) -> torch.Tensor:
    """m noisy copies of every input: shape (N*m, ...), row ``i*m + j`` = x[i] + delta_ij.

    With ``noise`` None the copies are clean (identical).
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"num_noise (copies per input) must be a positive integer, got {m!r}")
    copies = repeat_copies(x, m)
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
