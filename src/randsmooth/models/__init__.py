"""Base classifiers: architecture registry, input normalisation layer and checkpoints.

Every model is ``nn.Sequential(Normalize(mean, std), net)`` taking [0, 1]-pixel inputs of shape
(N, C, H, W) and returning logits; smoothing noise is added before index 0 (the ``pixel`` noise
space) or after it (``normalized``, see :mod:`randsmooth.models.noise_space`).
"""

from .checkpoint import (
    REFERENCE_ARCH_DATASETS,
    atomic_torch_save,
    load_checkpoint,
    load_model,
    load_pretrained,
    save_checkpoint,
)
from .logits import NonFiniteLogitsError, non_finite_error, votes
from .noise_space import NOISE_SPACES, check_noise_space, smoothed_part, to_noise_space
from .normalize import Normalize
from .registry import arch_names, build_model, create_model, register_arch

__all__ = [
    "NOISE_SPACES",
    "NonFiniteLogitsError",
    "Normalize",
    "REFERENCE_ARCH_DATASETS",
    "arch_names",
    "atomic_torch_save",
    "build_model",
    "check_noise_space",
    "create_model",
    "load_checkpoint",
    "load_model",
    "load_pretrained",
    "non_finite_error",
    "register_arch",
    "save_checkpoint",
    "smoothed_part",
    "to_noise_space",
    "votes",
]
