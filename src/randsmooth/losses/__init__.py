"""Training methods as pluggable losses for the single training loop of :mod:`randsmooth.train`.

``get_loss(name, **params)`` builds one; see :mod:`randsmooth.losses.base` for the interface
(:class:`StepContext`, :class:`LossResult`, :class:`TrainingLoss`).
"""

# Importing the method modules registers them.
from . import gaussian as _gaussian  # noqa: E402,F401
from . import stability as _stability  # noqa: E402,F401
from .base import LossResult, StepContext, TrainingLoss, noisy_copies, weighted_mean
from .gaussian import GaussianAugmentationLoss
from .registry import get_loss, loss_names, register_loss
from .stability import StabilityLoss, kl_categorical, soft_cross_entropy

__all__ = [
    "GaussianAugmentationLoss",
    "LossResult",
    "StabilityLoss",
    "StepContext",
    "TrainingLoss",
    "get_loss",
    "kl_categorical",
    "loss_names",
    "noisy_copies",
    "register_loss",
    "soft_cross_entropy",
    "weighted_mean",
]
