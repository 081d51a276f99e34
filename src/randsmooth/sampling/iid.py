"""Noise families with i.i.d. coordinates: Gaussian, Laplace, Uniform, Pareto and Expp.

Conventions (see :mod:`randsmooth.sampling.base`): ``sigma`` is the per-coordinate RMS, ``lambd``
= sigma / s_q the family's natural scale; radii are float64, in [0, 1] pixel units over all
``dim`` coordinates, computed for bounds p in (1/2, 1] (Yang et al. 2020, their table of distributions).

Laplace l-infinity uses only the sound differential-method table
(:func:`randsmooth.sampling.tables.laplace_linf_radius`). The reference code's default
"approx" lambd * Phi^-1(p) / sqrt(d) is an approximation, not a proven bound, and is deliberately
not offered.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from scipy import special, stats

if TYPE_CHECKING:  # torch is imported where noise is sampled: radii need only numpy/scipy
    import torch

from .base import Noise
from .registry import register
from .spheres import random_signs, standard_gamma, work_dtype

__all__ = ["Gaussian", "Laplace", "Uniform", "Pareto", "Expp", "check_param", "gaussian_l2_unit", "laplace_l1_unit"]


def check_param(family: str, name: str, value: Any, ok: Callable[[float], bool], expected: str) -> float:
    """Validate one family parameter; return it as a float or raise ``ValueError`` naming it.

    ``value`` must be a finite real number (not a bool) satisfying the family-specific condition
    ``ok`` (``expected`` describes it in the error message).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"noise {family!r}: parameter {name} must be a finite real number, got {value!r}")
    if not ok(float(value)):
        raise ValueError(f"noise {family!r}: parameter {name} must be {expected}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------- shared closed forms
def gaussian_l2_unit(p: np.ndarray) -> np.ndarray:
    """l2 radius of N(0, I) smoothing: Phi^-1(p) (computed as isf(1 - p); 1 - p is exact)."""
    return stats.norm.isf(1.0 - p)


def laplace_l1_unit(p: np.ndarray) -> np.ndarray:
    """l1 radius of i.i.d. Laplace(0, 1) smoothing: -ln(2 (1 - p)) (Teng et al. 2019)."""
    with np.errstate(divide="ignore"):
        return -np.log(2.0 * (1.0 - p))


# ------------------------------------------------------------------------------ families
@register
class Gaussian(Noise):
    """Isotropic Gaussian N(0, lambd^2 I); s_q = 1 (lambd = sigma). Direct guarantee: l2."""

    name = "gaussian"
    may_overflow = False
    direct_norms = ("l2",)

    def unit_rms(self) -> float:
        return 1.0

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        wd = work_dtype(dtype)
        return torch.randn((n, self.dim), generator=generator, device=device, dtype=wd).to(dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        return self.lambd * gaussian_l2_unit(p)


@register
class Laplace(Noise):
    """I.i.d. Laplace(0, lambd) coordinates; s_q = sqrt(2). Direct guarantees: l1, l-infinity.

    l1: -lambd ln(2(1 - p)). l-infinity: differential-method table (sound; the reference's
    default Gaussian-like approximation is not used).
    """

    name = "laplace"
    may_overflow = False
    direct_norms = ("l1", "linf")

    def unit_rms(self) -> float:
        return math.sqrt(2.0)

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        wd = work_dtype(dtype)
        e = torch.empty((n, self.dim), dtype=wd, device=device).exponential_(1.0, generator=generator)
        return e.mul_(random_signs((n, self.dim), generator, device, wd)).to(dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        if norm == "l1":
            return self.lambd * laplace_l1_unit(p)
        from .tables import laplace_linf_radius

        return self.lambd * np.asarray(laplace_linf_radius(p, self.dim), dtype=np.float64)


@register
class Uniform(Noise):
    """Uniform on the cube [-lambd, lambd]^d; s_q = 1/sqrt(3). Direct guarantees: l1, l-infinity.

    l1: 2 lambd (p - 1/2). l-infinity: 2 lambd (1 - (3/2 - p)^(1/d)), evaluated with
    expm1/log1p in float64.
    """

    name = "uniform"
    may_overflow = False
    direct_norms = ("l1", "linf")

    def unit_rms(self) -> float:
        return 1.0 / math.sqrt(3.0)

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        wd = work_dtype(dtype)
        u = torch.rand((n, self.dim), generator=generator, device=device, dtype=wd)
        return u.mul_(2).sub_(1).to(dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        if norm == "l1":
            return 2.0 * self.lambd * (p - 0.5)
        return -2.0 * self.lambd * np.expm1(np.log1p(0.5 - p) / self.dim)


@register
class Pareto(Noise):
    """I.i.d. coordinates with density (a/2) (1 + |x|/lambd)^-(a+1) / lambd; direct guarantee: l1.

    s_q = (1/2 (a-1)(a-2))^(-1/2); the parameter ``a`` must be > 2 (finite variance is needed to
    define sigma). l1 (differential method, log-convex i.i.d. noise):
    lambd (2p - 1)/a * 2F1(1, a/(a+1); a/(a+1) + 1; (2p - 1)^(1 + 1/a)).
    """

    name = "pareto"
    may_overflow = False
    direct_norms = ("l1",)
    param_names = ("a",)

    def __init__(self, sigma: float, dim: int, *, a: float) -> None:
        super().__init__(sigma, dim)
        check_param(self.name, "a", a, lambda v: v > 2, "> 2 (finite variance)")
        self.a = a

    def unit_rms(self) -> float:
        a = float(self.a)
        return 1.0 / math.sqrt(0.5 * (a - 1.0) * (a - 2.0))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        # |x| = U^(-1/a) - 1 = expm1(E / a) with E ~ Exp(1): exact tail, no 1 - U cancellation.
        wd = work_dtype(dtype)
        e = torch.empty((n, self.dim), dtype=wd, device=device).exponential_(1.0, generator=generator)
        mag = torch.expm1(e / float(self.a))
        return mag.mul_(random_signs((n, self.dim), generator, device, wd)).to(dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        a = float(self.a)
        x = 2.0 * p - 1.0
        b = a / (a + 1.0)
        return self.lambd * x / a * special.hyp2f1(1.0, b, b + 1.0, x ** (1.0 + 1.0 / a))


@register
class Expp(Noise):
    """I.i.d. generalised normal coordinates, density proportional to exp(-|x/lambd|^p).

    Parameter ``p`` > 0 (the power). s_q = sqrt(Gamma(3/p) / Gamma(1/p)). Direct guarantee: l1:
    p >= 1: lambd [G_{1/p}^-1(2 rho - 1)]^(1/p) (G = Gamma CDF); p = 1/2: dilogarithm closed form;
    other p < 1: differential-method table.
    """

    name = "expp"
    direct_norms = ("l1",)
    param_names = ("p",)

    def __init__(self, sigma: float, dim: int, *, p: float) -> None:
        super().__init__(sigma, dim)
        check_param(self.name, "p", p, lambda v: v > 0, "> 0")
        self.p = p

    def unit_rms(self) -> float:
        power = float(self.p)
        return math.exp(0.5 * (special.gammaln(3.0 / power) - special.gammaln(1.0 / power)))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        # |x| = G^(1/p), G ~ Gamma(1/p). Using G =d G' U^p with G' ~ Gamma(1 + 1/p) and U ~ U(0,1)
        # independent gives |x| = U G'^(1/p), which never underflows for small shapes 1/p.
        power = float(self.p)
        wd = work_dtype(dtype)
        g = standard_gamma(1.0 + 1.0 / power, (n, self.dim), generator, device, wd)
        u = torch.rand((n, self.dim), generator=generator, device=device, dtype=wd)
        mag = g.pow_(1.0 / power).mul_(u)
        return mag.mul_(random_signs((n, self.dim), generator, device, wd)).to(dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        power = float(self.p)
        if power >= 1.0:
            # G^-1(2p - 1) = G.isf(2(1 - p)): exact argument and accurate near p = 1.
            return self.lambd * stats.gamma.isf(2.0 * (1.0 - p), 1.0 / power) ** (1.0 / power)
        if power == 0.5:
            c = stats.gamma.ppf(2.0 * (1.0 - p), 2.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                term = np.where(c > 0, -c * np.log(-np.expm1(-c)), 0.0)  # -c ln(1 - e^-c) -> 0 at c = 0
            dilog = special.spence(-np.expm1(-c))  # Li2(e^-c) = spence(1 - e^-c)
            return 2.0 * self.lambd * (term + dilog)
        from .tables import expp_l1_radius

        return self.lambd * np.asarray(expp_l1_radius(p, power), dtype=np.float64)
