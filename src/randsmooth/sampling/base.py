"""The noise-distribution interface shared by every smoothing family.

Conventions (all families, as in Yang et al. 2020 and the other three papers):

* Noise is added in [0, 1] pixel space, before the model's normalisation layer, and is never
  clipped. ``dim`` is the number of coordinates d = C*H*W the noise acts on.
* ``sigma`` is the per-coordinate RMS of the noise, sigma^2 = E||delta||_2^2 / d. Every family also
  has a natural scale ``lambd`` = sigma / s_q, where s_q is the per-coordinate RMS at lambd = 1.
* Radii are in the same [0, 1] pixel units, measured over all d coordinates, for the norms
  ``"l1"``, ``"l2"`` and ``"linf"``. ``radius`` takes a *lower confidence bound* on the smoothed
  top-class probability (how it was obtained, one- or two-sided, is the caller's business, see
  :mod:`randsmooth.bounds`) and returns a float64 radius that is 0 where the bound is <= 1/2.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # torch is imported where noise is sampled: radii need only numpy/scipy
    import torch

NORMS: tuple[str, ...] = ("l1", "l2", "linf")
# largest sigma (per-coordinate RMS; [0, 1] pixel units): beyond it the input is lost in the noise
# and float32 noisy inputs come close to overflowing (config/schema.yaml has the same maximum)
MAX_SIGMA = 1e6
_FINITE: set[tuple[str, int]] = set()  # noises whose samples were checked finite (Noise.check_finite)
_NORM_EXPONENT_INVERSE = {"l1": 1.0, "l2": 0.5, "linf": 0.0}  # 1/p for each norm


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is one of :data:`NORMS`, else raise ``ValueError`` naming it."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def check_probabilities(p_lower: Any, name: str = "p_lower") -> np.ndarray:
    """Convert to a float64 array and check every entry is a probability in [0, 1]."""
    p = np.asarray(p_lower, dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must contain probabilities in [0, 1], got {p_lower!r}")
    return p


def convert_radius(radius: np.ndarray, from_norm: str, to_norm: str, dim: int) -> np.ndarray:
    """Certified radius in ``to_norm`` implied by a certified ``from_norm`` radius in ``dim`` dims.

    For p < q, ||v||_p <= d^(1/p - 1/q) ||v||_q and ||v||_q <= ||v||_p, so an l_p ball of radius
    r contains the l_q ball of radius r / d^(1/p - 1/q), and contains the l_q ball of radius r
    when q < p.
    """
    gap = _NORM_EXPONENT_INVERSE[from_norm] - _NORM_EXPONENT_INVERSE[to_norm]
    if gap <= 0:
        return radius
    return radius / dim**gap


class Noise(ABC):
    """One smoothing distribution q at a given scale and dimension.

    Subclasses set ``name``, ``direct_norms`` (the norms with a direct guarantee), implement
    :meth:`unit_rms` (s_q), :meth:`_sample_unit` (noise at lambd = 1) and :meth:`_direct_radius`
    (radius for bounds strictly above 1/2, in a direct norm). Family parameters are keyword-only
    constructor arguments listed in ``param_names``; :meth:`params` returns them.
    """

    name: ClassVar[str]
    direct_norms: ClassVar[tuple[str, ...]]
    param_names: ClassVar[tuple[str, ...]] = ()
    # False where sigma <= MAX_SIGMA alone keeps every float32 sample finite (light or bounded tails,
    # no parameter in an exponent), so :meth:`check_finite` need not sample
    may_overflow: ClassVar[bool] = True

    def __init__(self, sigma: float, dim: int) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer (number of coordinates C*H*W), got {dim!r}")
        try:
            sigma_f = float(sigma)
        except (TypeError, ValueError):
            raise ValueError(f"sigma must be a positive finite number, got {sigma!r}") from None
        if not math.isfinite(sigma_f) or sigma_f <= 0:
            raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
        if sigma_f > MAX_SIGMA:
            raise ValueError(f"sigma must be at most {MAX_SIGMA:g} (noise far beyond the input range), got {sigma!r}")
        self.sigma = sigma_f
        self.dim = int(dim)

    # ----------------------------------------------------------------------------- scale
    @abstractmethod
    def unit_rms(self) -> float:
        """Per-coordinate RMS s_q of the noise at lambd = 1."""

    @property
    def lambd(self) -> float:
        """Natural scale of the family, lambd = sigma / s_q."""
        return self.sigma / self.unit_rms()

    def params(self) -> dict[str, Any]:
        """Family parameters (without sigma and dim), e.g. ``{"k": 1, "j": 0}``."""
        return {name: getattr(self, name) for name in self.param_names}

    def describe(self) -> dict[str, Any]:
        """Everything that identifies this noise: name, sigma, lambd, dim and parameters."""
        return {"name": self.name, "sigma": self.sigma, "lambd": self.lambd, "dim": self.dim, **self.params()}

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}(sigma={self.sigma!r}, dim={self.dim}{extra})"

    def check_finite(self, num: int = 1) -> None:
        """Raise ``ValueError`` unless the family's scale is finite and ``num`` float32 noisy copies
        of an all-ones input (a fixed seed) are finite: parameters such as expp p = 0.01 or exp1
        k = 0.01 overflow float32 (|x| ~ Gamma(1/p)^(1/p)), which would give inf inputs and radii.
        Families that cannot overflow return before torch is imported (count-table readers stay torch-free)."""
        try:
            lambd = self.lambd
        except (OverflowError, ZeroDivisionError):
            lambd = math.inf
        if not math.isfinite(lambd) or lambd <= 0:
            raise ValueError(f"{self!r}: the noise scale overflows (lambd = sigma / s_q is not finite)")
        if not self.may_overflow or (repr(self), num) in _FINITE:
            return
        import torch

        x = self.sample(torch.ones((num, self.dim)), torch.Generator().manual_seed(0))
        if not torch.isfinite(x).all():
            raise ValueError(
                f"{self!r}: noisy inputs overflow float32 (inf or NaN); use a smaller sigma or milder parameters"
            )
        _FINITE.add((repr(self), num))

    # -------------------------------------------------------------------------- sampling
    @abstractmethod
    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        """``n`` independent noise vectors at lambd = 1, shape (n, dim), on ``device``."""

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return ``x + delta`` for a batch ``x`` of shape (N, ...) with prod(...) == dim.

        All randomness comes from ``generator`` (which must live on ``x.device``); noise is drawn
        directly on that device in ``x``'s floating dtype.
        """
        import torch

        if not torch.is_tensor(x) or x.dim() < 1:
            raise ValueError(f"x must be a batch tensor of shape (N, ...), got {type(x).__name__}")
        n = x.shape[0]
        per_example = int(np.prod(x.shape[1:])) if x.dim() > 1 else 1
        if per_example != self.dim:
            raise ValueError(f"x has {per_example} coordinates per example but the noise has dim={self.dim}")
        if generator is not None and generator.device.type != x.device.type:
            raise ValueError(f"generator is on {generator.device} but x is on {x.device}")
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        delta = self._sample_unit(n, generator, x.device, dtype) * self.lambd
        return x + delta.reshape(x.shape).to(dtype)

    # ---------------------------------------------------------------------------- radius
    @abstractmethod
    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        """Radius in ``norm`` (one of ``direct_norms``) for float64 bounds ``p``, all in (1/2, 1]."""

    def radius(self, p_lower: Any, norm: str) -> np.ndarray:
        """Certified radius (float64 array, [0,1] pixel units) for lower bounds ``p_lower``.

        Uses the direct guarantee when ``norm`` is in ``direct_norms``, otherwise the best (largest)
        norm conversion of the direct guarantees. Entries with ``p_lower <= 0.5`` get radius 0.
        """
        check_norm(norm)
        p = check_probabilities(p_lower)
        out = np.zeros(p.shape, dtype=np.float64)
        mask = p > 0.5
        if not mask.any():
            return out
        active = p[mask]
        if norm in self.direct_norms:
            radii = np.asarray(self._direct_radius(active, norm), dtype=np.float64)
        else:
            radii = np.max(
                [
                    convert_radius(np.asarray(self._direct_radius(active, a), dtype=np.float64), a, norm, self.dim)
                    for a in self.direct_norms
                ],
                axis=0,
            )
        if np.isnan(radii).any():
            raise ValueError(f"{self!r}: radius computation produced NaN for p_lower={active[np.isnan(radii)]}")
        out[mask] = np.maximum(radii, 0.0)
        return out
