"""Training methods as pluggable losses for the single training loop of :mod:`randsmooth.train`.

``get_loss(name, **params)`` builds one; see :mod:`randsmooth.losses.base` for the interface
(:class:`StepContext`, :class:`EpochContext`, :class:`LossResult`, :class:`TrainingLoss`).

=======================  ==============================  =============================================
name                     paper                           module
=======================  ==============================  =============================================
gaussian                 Cohen et al. 2019               :mod:`~randsmooth.losses.gaussian`
stability                Li et al. 2019 / Yang 2020      :mod:`~randsmooth.losses.stability`
smoothadv                Salman et al. 2019              :mod:`~randsmooth.losses.smoothadv`
macer                    Zhai et al. 2020                :mod:`~randsmooth.losses.macer`
consistency              Jeong & Shin 2020               :mod:`~randsmooth.losses.consistency`
smoothmix                Jeong et al. 2021               :mod:`~randsmooth.losses.smoothmix`
catrs                    Jeong et al. 2023               :mod:`~randsmooth.losses.catrs`
sun2025, acr_discard,    Sun et al. 2025                 :mod:`~randsmooth.losses.sun2025`
acr_reweight,
acr_adaptive_attack
gaussian_cs,             Xin et al. 2025                 :mod:`~randsmooth.losses.cost_sensitive`
smoothadv_cs,
smoothmix_cs
margin_cs                Xin et al. 2025                 :mod:`~randsmooth.losses.margin_cs`
=======================  ==============================  =============================================
"""

# Importing the method modules registers them.
from . import catrs as _catrs  # noqa: F401
from . import consistency as _consistency  # noqa: F401
from . import cost_sensitive as _cost_sensitive  # noqa: F401
from . import gaussian as _gaussian  # noqa: F401
from . import macer as _macer  # noqa: F401
from . import margin_cs as _margin_cs  # noqa: F401
from . import smoothadv as _smoothadv  # noqa: F401
from . import smoothmix as _smoothmix  # noqa: F401
from . import stability as _stability  # noqa: F401
from . import sun2025 as _sun2025  # noqa: F401
from .base import (
    EpochContext,
    LossResult,
    PerExample,
    PerExampleLoss,
    StepContext,
    TrainingLoss,
    noisy_copies,
    weighted_mean,
)
from .gaussian import GaussianAugmentationLoss
from .registry import get_loss, loss_names, register_loss
from .stability import StabilityLoss, kl_categorical, soft_cross_entropy

__all__ = [
    "EpochContext",
    "GaussianAugmentationLoss",
    "LossResult",
    "PerExample",
    "PerExampleLoss",
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
