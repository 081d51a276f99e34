"""Name -> noise-family registry behind :func:`randsmooth.sampling.get_noise`."""

from __future__ import annotations

from typing import Any, TypeVar

from .base import Noise

_FAMILIES: dict[str, type[Noise]] = {}
N = TypeVar("N", bound=type[Noise])


def register(cls: N) -> N:
    """Class decorator: make ``cls`` available to :func:`get_noise` under ``cls.name``."""
    if cls.name in _FAMILIES:
        raise RuntimeError(f"noise family {cls.name!r} registered twice")
    _FAMILIES[cls.name] = cls
    return cls


def noise_names() -> tuple[str, ...]:
    """Names of every registered noise family, sorted."""
    return tuple(sorted(_FAMILIES))


def get_noise(name: str, sigma: float, dim: int, **params: Any) -> Noise:
    """Build the noise family ``name`` with per-coordinate RMS ``sigma`` in ``dim`` coordinates.

    ``sigma`` is in [0, 1] pixel units (sigma^2 = E||delta||^2 / dim); ``params`` are the family's
    parameters (e.g. ``get_noise("expinf", 0.5, 3072, k=1, j=0)``); every one listed in the family's
    ``param_names`` is required and no other is accepted.
    """
    if name not in _FAMILIES:
        raise ValueError(f"unknown noise name {name!r}; expected one of {noise_names()}")
    cls = _FAMILIES[name]
    missing = [p for p in cls.param_names if p not in params]
    if missing:
        raise ValueError(f"noise {name!r} is missing parameter(s) {missing}; it needs {list(cls.param_names)}")
    unexpected = sorted(set(params) - set(cls.param_names))
    if unexpected:
        raise ValueError(f"noise {name!r} got unexpected parameter(s) {unexpected}; it takes {list(cls.param_names)}")
    noise = cls(sigma, dim, **params)
    noise.check_finite()
    return noise
