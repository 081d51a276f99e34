"""Sun et al. (2025), "Average certified radius is a poor metric for randomized smoothing", Sec. 5:
m-copy Gaussian training plus three strategies that switch on at epoch E_t (``switch_epoch``).

Before E_t: the m-copy Gaussian loss (:mod:`randsmooth.losses.gaussian`) on shuffled epochs.
From E_t on, with any of the first two strategies (or ``replacement``), an epoch is
``len(train set)`` draws *with replacement* from per-example sampling weights
(:meth:`Sun2025Loss.sampling_weights`):

1. **Discard** (``discard``): at epoch E_t, with the model after epoch E_t - 1, estimate
   p_A(x) = c_y(x) / n0 from n0 = ``discard_samples`` noisy copies of every *un-augmented* training
   image (the reference used augmented images, a defect not copied) and keep only examples with
   p_A >= p_t (``discard_threshold``), once for the rest of training. ``discard_source: teacher``
   takes p_A from the soft targets of a teacher instead (the reference's ImageNet ``--p_corr_file``,
   e.g. a Gaussian model's 50-sample frequencies), required when E_t = 0.
2. **Re-weight by approximate certified radius** (``reweight``): at epochs E_t, E_t + K, ... (K =
   ``reweight_interval``) estimate c_y from n = ``reweight_samples`` copies of each kept example and
   sample it with weight Phi^-1(LCB(k, n; alpha)), k = max(c_y, floor(n * p_min)), LCB the one-sided
   Clopper-Pearson lower bound at level alpha (``reweight_alpha``), p_min = ``reweight_min_p``:
   the radius / sigma certified at a tiny budget; easy examples are *up*-weighted on purpose
   (n = 16, alpha = 0.1: k = 12..16 gives 0.1537, 0.3286, 0.5257, 0.7649, 1.1075).
3. **ADAPTIVEADV** (``adaptive_attack``, Alg. 1): from epoch E_t every noise draw is replaced by
   :func:`randsmooth.losses.attacks.adaptive_noise_attack` (T = ``attack_steps``, step eps =
   ``attack_epsilon`` in L2 pixel units) before the cross-entropy.

``replacement`` makes the epochs from E_t on draws with replacement also without discarding or
re-weighting (uniform weights), as the reference's ``train.py`` does: its switch epoch is
``--ds_epoch`` with ``--ds_hard`` and 0 without, and from it on every epoch is a ``RandomSampler``
with replacement, so its attack-only ablation draws with replacement from epoch 0.

Without any strategy (or before E_t) this is exactly the m-copy ``gaussian`` loss. The noise of the
estimation passes comes from the epoch's dedicated seed (``EpochContext.seed``), per example and
block (:func:`randsmooth.soft_targets.smoothed_counts`); the kept mask, p_A estimates and weights
are the loss's state (:meth:`Sun2025Loss.state_dict`), stored in every checkpoint, so a resumed run
equals an uninterrupted one. ``acr_discard``, ``acr_reweight`` and ``acr_adaptive_attack`` are the
single-strategy ablations; ``sun2025`` combines all three.
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from torch import nn
from torch.utils.data import Dataset

from ..bounds import cp_lower
from ..sampling import Noise
from ..seeding import derive_seed
from ..soft_targets import dataset_labels, smoothed_counts
from . import params as P
from .attacks import adaptive_noise_attack, frozen_eval
from .base import EpochContext, PerExample, PerExampleLoss, StepContext
from .gaussian import copies_cross_entropy
from .registry import register_loss
from .smoothing import noise_draws, repeat_copies

logger = logging.getLogger(__name__)

_DISCARD_STREAM, _REWEIGHT_STREAM = 0, 1


def radius_weights(counts: Any, n: int, p_min: float, alpha: float) -> np.ndarray:
    """Sampling weights Phi^-1(LCB(max(c, floor(n p_min)), n; alpha)) for true-class counts c out of n."""
    k = np.maximum(np.asarray(counts, dtype=np.int64), math.floor(n * p_min + 1e-9))
    return norm.ppf(np.asarray(cp_lower(k, n, alpha), dtype=np.float64))


@register_loss
class Sun2025Loss(PerExampleLoss):
    """Sun et al.'s trainer; registered as ``sun2025`` (all three strategies on by default).

    Defaults are their CIFAR-10 sigma = 0.25 settings. Args:
        switch_epoch: E_t, 0-based epoch at which the strategies start (>= 0). Default 60.
        discard: discard hard examples at E_t. Default true.
        discard_threshold: p_t in [0, 1]. Default 0.5.
        discard_samples: n0 noisy copies per example for p_A (>= 1). Default 100.
        discard_source: "model" (the model after epoch E_t - 1) or "teacher" (soft targets). Default model.
        reweight: radius-based re-weighting. Default true.
        reweight_interval: K epochs between re-estimates (>= 1). Default 10.
        reweight_samples: n copies per example (>= 1). Default 16.
        reweight_min_p: p_min in [0, 1] (the smallest weight must be > 0). Default 0.75.
        reweight_alpha: one-sided Clopper-Pearson level in (0, 1). Default 0.1.
        adaptive_attack: ADAPTIVEADV on the noise from E_t. Default true.
        attack_steps: T (>= 0). Default 3.
        attack_epsilon: step size eps (L2, pixel units; >= 0). Default 0.25.
        teacher_samples, teacher_seed: the soft targets ``discard_source: teacher`` expects (checked
            against the file). Default 50 (the reference's ImageNet p_A file), 0.
        teacher: free-form identity of that teacher model, recorded only. Default null.
        replacement: from E_t on, draw each epoch with replacement even without discard or
            re-weighting (uniform weights; the reference's sampler). Default false.
    """

    name = "sun2025"

    def __init__(
        self,
        switch_epoch: int = 60,
        discard: bool = True,
        discard_threshold: float = 0.5,
        discard_samples: int = 100,
        discard_source: str = "model",
        reweight: bool = True,
        reweight_interval: int = 10,
        reweight_samples: int = 16,
        reweight_min_p: float = 0.75,
        reweight_alpha: float = 0.1,
        adaptive_attack: bool = True,
        attack_steps: int = 3,
        attack_epsilon: float = 0.25,
        teacher_samples: int = 50,
        teacher_seed: int = 0,
        teacher: str | None = None,
        replacement: bool = False,
    ) -> None:
        name = self.name
        self.switch_epoch = P.integer(name, "switch_epoch", switch_epoch)
        self.discard = P.boolean(name, "discard", discard)
        self.discard_threshold = P.number(name, "discard_threshold", discard_threshold, low=0.0, high=1.0)
        self.discard_samples = P.integer(name, "discard_samples", discard_samples, low=1)
        self.discard_source = P.choice(name, "discard_source", discard_source, ("model", "teacher"))
        self.reweight = P.boolean(name, "reweight", reweight)
        self.reweight_interval = P.integer(name, "reweight_interval", reweight_interval, low=1)
        self.reweight_samples = P.integer(name, "reweight_samples", reweight_samples, low=1)
        self.reweight_min_p = P.number(name, "reweight_min_p", reweight_min_p, low=0.0, high=1.0)
        self.reweight_alpha = P.number(name, "reweight_alpha", reweight_alpha, low=0.0, strict=True)
        if self.reweight_alpha >= 1.0:
            raise P.param_error(name, "reweight_alpha", "a level in (0, 1)", reweight_alpha)
        if self.reweight and radius_weights(0, self.reweight_samples, self.reweight_min_p, self.reweight_alpha) <= 0:
            raise P.param_error(name, "reweight_min_p", "large enough for a positive smallest weight", reweight_min_p)
        self.adaptive_attack = P.boolean(name, "adaptive_attack", adaptive_attack)
        self.attack_steps = P.integer(name, "attack_steps", attack_steps)
        self.attack_epsilon = P.number(name, "attack_epsilon", attack_epsilon, low=0.0)
        self.replacement = P.boolean(name, "replacement", replacement)
        if self.discard and self.switch_epoch == 0 and self.discard_source == "model":
            raise P.param_error(name, "discard_source", "'teacher' when switch_epoch is 0", discard_source)
        self.needs_soft_targets = self.discard and self.discard_source == "teacher"
        self.teacher_samples, self.teacher_seed, self.teacher = P.teacher_params(
            name, teacher_samples, teacher_seed, teacher
        )
        self.teacher_targets: torch.Tensor | None = None
        self.keep: torch.Tensor | None = None  # (N,) bool, after the discard epoch
        self.p_hat: torch.Tensor | None = None  # (N,) float64 p_A estimates used for discarding
        self.weights: torch.Tensor | None = None  # (N,) float64 sampling weights of the last re-weighting

    # ---------------------------------------------------------------------------- description
    def params(self) -> dict[str, object]:
        return {key: getattr(self, key) for key in self._param_names()}

    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        return tuple(p for p in inspect.signature(cls.__init__).parameters if p != "self")

    def check(self, *, num_noise: int, noise: Noise | None, num_classes: int) -> None:
        P.require_noise(self.name, noise)

    def set_soft_targets(self, targets: torch.Tensor, num_samples: int, seed: int) -> None:
        if not self.needs_soft_targets:
            super().set_soft_targets(targets, num_samples, seed)
        P.check_teacher(self.name, (self.teacher_samples, self.teacher_seed), num_samples, seed)
        self.teacher_targets = targets

    # ---------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = {"keep": self.keep, "p_hat": self.p_hat, "weights": self.weights}
        return {key: value for key, value in state.items() if value is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - {"keep", "p_hat", "weights"})
        if unknown:
            raise ValueError(f"training method {self.name!r}: unknown state keys {unknown}")
        self.keep, self.p_hat, self.weights = (state.get(key) for key in ("keep", "p_hat", "weights"))

    # --------------------------------------------------------------------------------- cost
    def step_passes(self, epoch: int) -> float:
        attacked = self.adaptive_attack and self._active(epoch)
        return 1.0 + (self.attack_steps if attacked else 0)

    def epoch_passes(self, epoch: int) -> float:
        """p_A estimation at E_t (discard, from the model) and every K epochs (re-weighting; an upper
        bound: only the kept examples are estimated)."""
        discard = self.discard and self.discard_source == "model" and epoch == self.switch_epoch
        return (self.discard_samples if discard else 0) + (self.reweight_samples if self._reweight_epoch(epoch) else 0)

    # ------------------------------------------------------------------------------ per epoch
    def _active(self, epoch: int) -> bool:
        return epoch >= self.switch_epoch

    def _reweight_epoch(self, epoch: int) -> bool:
        return self.reweight and self._active(epoch) and (epoch - self.switch_epoch) % self.reweight_interval == 0

    def on_epoch_start(self, model: nn.Module, dataset: Dataset, ctx: EpochContext) -> None:
        if not self._active(ctx.epoch):
            return
        if self.discard and self.keep is None:
            if ctx.epoch != self.switch_epoch:
                raise ValueError(f"{self.name}: no discard mask in the state at epoch {ctx.epoch} (old checkpoint?)")
            self._discard(model, dataset, ctx)
        if self._reweight_epoch(ctx.epoch):
            self._reweight(model, dataset, ctx)
        elif self.replacement and not (self.reweight or self.discard) and self.weights is None:
            self.weights = torch.ones(len(dataset), dtype=torch.float64)  # uniform, with replacement
        elif self.reweight and self.weights is None:
            raise ValueError(f"{self.name}: no sampling weights in the state at epoch {ctx.epoch}")

    def _true_class_counts(
        self, model: nn.Module, dataset: Dataset, ctx: EpochContext, indices: list[int], samples: int, stream: int
    ) -> torch.Tensor:
        seed = derive_seed(ctx.seed, stream)
        counts = smoothed_counts(model, dataset, ctx.noise, samples, seed, ctx.batch_size, ctx.device, indices)
        labels = dataset_labels(dataset, indices)
        return counts.gather(1, labels[:, None]).squeeze(1)

    def _discard(self, model: nn.Module, dataset: Dataset, ctx: EpochContext) -> None:
        everything = list(range(len(dataset)))
        if self.discard_source == "teacher":
            if self.teacher_targets is None:
                raise P.run_error(self.name, "discard_source 'teacher' needs soft targets (train(..., soft_targets=))")
            labels = dataset_labels(dataset, everything)
            p_hat = self.teacher_targets.double().gather(1, labels[:, None]).squeeze(1)
        else:
            counts = self._true_class_counts(model, dataset, ctx, everything, self.discard_samples, _DISCARD_STREAM)
            p_hat = counts.double() / self.discard_samples
        keep = p_hat >= self.discard_threshold
        if not keep.any():
            raise ValueError(f"{self.name}: every training example has p_A < {self.discard_threshold}; lower it")
        self.p_hat, self.keep = p_hat, keep
        logger.info("%s: epoch %d keeps %d of %d examples", self.name, ctx.epoch, int(keep.sum()), len(keep))

    def _reweight(self, model: nn.Module, dataset: Dataset, ctx: EpochContext) -> None:
        n = len(dataset)
        kept = list(range(n)) if self.keep is None else self.keep.nonzero().squeeze(1).tolist()
        counts = self._true_class_counts(model, dataset, ctx, kept, self.reweight_samples, _REWEIGHT_STREAM)
        weights = torch.zeros(n, dtype=torch.float64)
        values = radius_weights(counts.numpy(), self.reweight_samples, self.reweight_min_p, self.reweight_alpha)
        weights[kept] = torch.from_numpy(values)
        self.weights = weights

    def sampling_weights(self, epoch: int) -> torch.Tensor | None:
        if not self._active(epoch):
            return None
        if self.reweight:
            return self.weights
        if self.discard:
            return self.keep.double()
        return self.weights if self.replacement else None

    # -------------------------------------------------------------------------------- per step
    def per_example(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> PerExample:
        m = ctx.num_noise
        delta = noise_draws(x, m, ctx.noise, ctx.generator)
        inputs, labels = repeat_copies(x, m), repeat_copies(y, m)
        if self.adaptive_attack and self._active(ctx.epoch):  # T = 0: the identity
            with frozen_eval(model):
                delta = adaptive_noise_attack(model, inputs, labels, delta, self.attack_steps, self.attack_epsilon)
        logits = model(inputs + delta)
        ce, labels = copies_cross_entropy(logits, y, m)
        return PerExample(losses=ce, logits=logits, labels=labels, stats={"ce": ce})


# The single-strategy ablations take the defaults of the full method (sun2025), defined once above.
_D: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(Sun2025Loss.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}


@register_loss
class AcrDiscardLoss(Sun2025Loss):
    """Sun et al.'s discard strategy alone; registered as ``acr_discard`` (parameters as ``sun2025``)."""

    name = "acr_discard"

    def __init__(
        self,
        switch_epoch: int = _D["switch_epoch"],
        discard_threshold: float = _D["discard_threshold"],
        discard_samples: int = _D["discard_samples"],
        discard_source: str = _D["discard_source"],
        teacher_samples: int = _D["teacher_samples"],
        teacher_seed: int = _D["teacher_seed"],
        teacher: str | None = _D["teacher"],
    ) -> None:
        super().__init__(
            switch_epoch=switch_epoch,
            discard_threshold=discard_threshold,
            discard_samples=discard_samples,
            discard_source=discard_source,
            reweight=False,
            adaptive_attack=False,
            teacher_samples=teacher_samples,
            teacher_seed=teacher_seed,
            teacher=teacher,
        )


@register_loss
class AcrReweightLoss(Sun2025Loss):
    """Sun et al.'s radius-based re-weighting alone; registered as ``acr_reweight``."""

    name = "acr_reweight"

    def __init__(
        self,
        switch_epoch: int = _D["switch_epoch"],
        reweight_interval: int = _D["reweight_interval"],
        reweight_samples: int = _D["reweight_samples"],
        reweight_min_p: float = _D["reweight_min_p"],
        reweight_alpha: float = _D["reweight_alpha"],
    ) -> None:
        super().__init__(
            switch_epoch=switch_epoch,
            discard=False,
            reweight_interval=reweight_interval,
            reweight_samples=reweight_samples,
            reweight_min_p=reweight_min_p,
            reweight_alpha=reweight_alpha,
            adaptive_attack=False,
        )


@register_loss
class AcrAdaptiveAttackLoss(Sun2025Loss):
    """Sun et al.'s ADAPTIVEADV alone; registered as ``acr_adaptive_attack``."""

    name = "acr_adaptive_attack"

    def __init__(
        self,
        switch_epoch: int = _D["switch_epoch"],
        attack_steps: int = _D["attack_steps"],
        attack_epsilon: float = _D["attack_epsilon"],
        replacement: bool = False,
    ) -> None:
        super().__init__(
            switch_epoch=switch_epoch,
            discard=False,
            reweight=False,
            attack_steps=attack_steps,
            attack_epsilon=attack_epsilon,
            replacement=replacement,
        )
