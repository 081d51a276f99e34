"""Smoothing noise distributions (Gaussian and every family of Yang et al. 2020) and their radii.

Entry point: :func:`get_noise`. See :mod:`randsmooth.sampling.base` for the sigma/lambd and unit
conventions shared by all families.
"""

# Importing the family modules registers them.
from . import iid as _iid  # noqa: E402,F401
from . import radial as _radial  # noqa: E402,F401
from .base import NORMS, Noise, convert_radius
from .registry import get_noise, noise_names, register

__all__ = ["NORMS", "Noise", "convert_radius", "get_noise", "noise_names", "register"]
