"""Noise families whose density depends on one norm of x (Yang et al. 2020, their table of distributions).

Each sample is ``lambd * R * u`` with a random radius R (drawn in float64, one per row) and a
uniform point u of the family's unit sphere (l2 sphere, l1 sphere, or cube surface), see
:mod:`randsmooth.sampling.spheres`.

Families (parameters are keyword-only and required):

* ``uniform_ball``   uniform in the l2 ball of radius lambd                      direct: l2
* ``exp1`` (k)       density ~ exp(-||x/lambd||_1^k)                             direct: l1
* ``expinf`` (k, j)  density ~ ||x/lambd||_inf^-j exp(-||x/lambd||_inf^k)        direct: l1, linf (j = 0);
                                                                                 l1 only (j != 0)
* ``powinf`` (a)     density ~ (1 + ||x/lambd||_inf)^-a, a > dim + 2              direct: l1, linf
* ``exp2`` (k, j)    density ~ ||x/lambd||_2^-j exp(-||x/lambd||_2^k)            direct: l2
* ``pow2`` (k, a)    density ~ (1 + ||x/lambd||_2^k)^-a, a > (dim + 2)/k          direct: l2

Radii use closed forms where they exist and otherwise the numerical tables of
:mod:`randsmooth.sampling.tables` (computed at lambd = 1, scaled by lambd here).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special, stats

if TYPE_CHECKING:  # torch is imported where noise is sampled: radii need only numpy/scipy
    import torch

from .base import Noise
from .iid import check_param, gaussian_l2_unit, laplace_l1_unit
from .registry import register
from .spheres import beta_prime, cube_surface, l1_sphere, l2_sphere, standard_gamma, work_dtype

__all__ = ["UniformBall", "Exp1", "ExpInf", "PowInf", "Exp2", "Pow2", "cube_surface_sq_norm"]


def cube_surface_sq_norm(dim: int) -> float:
    """r_2 = E||u||_2^2 = 1 + (dim - 1)/3 for u uniform on the surface of [-1, 1]^dim."""
    return 1.0 + (dim - 1) / 3.0


def _scaled(radius: torch.Tensor, direction: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """radius (n,) float64 times direction (n, dim), returned in ``dtype``."""
    return direction.mul_(radius.to(direction.dtype).unsqueeze(1)).to(dtype)


def _check_dim_at_least_2(family: str, dim: int) -> None:
    if dim < 2:
        raise ValueError(f"noise {family!r}: dim must be >= 2, got {dim}")


@register
class UniformBall(Noise):
    """Uniform in the l2 ball of radius lambd; s_q = (dim + 2)^-1/2. Direct guarantee: l2.

    l2: lambd (2 - 4 B^-1(3/4 - p/2)), B = Beta((d+1)/2, (d+1)/2).
    """

    name = "uniform_ball"
    may_overflow = False
    direct_norms = ("l2",)

    def unit_rms(self) -> float:
        return 1.0 / math.sqrt(self.dim + 2.0)

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        import torch

        # radius U^(1/d) = exp(-E/d), E ~ Exp(1)
        e = torch.empty((n,), dtype=torch.float64, device=device).exponential_(1.0, generator=generator)
        radius = torch.exp(-e / self.dim)
        return _scaled(radius, l2_sphere(n, self.dim, generator, device, work_dtype(dtype)), dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        half = (self.dim + 1) / 2.0
        q = stats.beta.ppf(0.75 - 0.5 * p, half, half)
        return self.lambd * (2.0 - 4.0 * q)


@register
class Exp1(Noise):
    """Density ~ exp(-||x/lambd||_1^k) (cross-polytope level sets). Direct guarantee: l1.

    s_q = sqrt(2/(d(d+1)) Gamma((d+2)/k) / Gamma(d/k)). l1: k = 1 is i.i.d. Laplace (closed form);
    other k use the differential-method table.
    """

    name = "exp1"
    direct_norms = ("l1",)
    param_names = ("k",)

    def __init__(self, sigma: float, dim: int, *, k: float) -> None:
        super().__init__(sigma, dim)
        check_param(self.name, "k", k, lambda v: v > 0, "> 0")
        self.k = k

    def unit_rms(self) -> float:
        d, k = self.dim, float(self.k)
        log_ratio = special.gammaln((d + 2) / k) - special.gammaln(d / k)
        return math.exp(0.5 * (math.log(2.0) - math.log(d) - math.log(d + 1.0) + log_ratio))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        k = float(self.k)
        radius = standard_gamma(self.dim / k, (n,), generator, device).pow(1.0 / k)
        return _scaled(radius, l1_sphere(n, self.dim, generator, device, work_dtype(dtype)), dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        if float(self.k) == 1.0:
            return self.lambd * laplace_l1_unit(p)
        from .tables import exp1_l1_radius

        return self.lambd * np.asarray(exp1_l1_radius(p, float(self.k), self.dim), dtype=np.float64)


@register
class ExpInf(Noise):
    """Density ~ ||x/lambd||_inf^-j exp(-||x/lambd||_inf^k) (cubical level sets).

    Parameters: k > 0, 0 <= j < dim - 1 (for j >= dim - 1 the l1 guarantee below is identically 0).
    s_q = sqrt(r_2/d Gamma((d+2-j)/k) / Gamma((d-j)/k)), r_2 = 1 + (d-1)/3.
    l1: 2 lambd gamma (p - 1/2), gamma = d/(d-1) Gamma((d-j)/k) / Gamma((d-j-1)/k).
    l-infinity (only for j = 0): k = 1 closed form lambd ln(1/(2(1-p))); other k the
    differential-method table. ``direct_norms`` is ("l1", "linf") when j = 0 and ("l1",) otherwise
    (an instance attribute; the class attribute describes the j = 0 case).
    """

    name = "expinf"
    direct_norms = ("l1", "linf")
    param_names = ("k", "j")

    def __init__(self, sigma: float, dim: int, *, k: float, j: float) -> None:
        super().__init__(sigma, dim)
        _check_dim_at_least_2(self.name, self.dim)
        check_param(self.name, "k", k, lambda v: v > 0, "> 0")
        check_param(self.name, "j", j, lambda v: 0 <= v < self.dim - 1, f">= 0 and < dim - 1 = {self.dim - 1}")
        self.k = k
        self.j = j
        self.direct_norms = ("l1", "linf") if j == 0 else ("l1",)

    def unit_rms(self) -> float:
        d, k, j = self.dim, float(self.k), float(self.j)
        log_ratio = special.gammaln((d + 2 - j) / k) - special.gammaln((d - j) / k)
        return math.exp(0.5 * (math.log(cube_surface_sq_norm(d)) - math.log(d) + log_ratio))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        k, j = float(self.k), float(self.j)
        radius = standard_gamma((self.dim - j) / k, (n,), generator, device).pow(1.0 / k)
        return _scaled(radius, cube_surface(n, self.dim, generator, device, work_dtype(dtype)), dtype)

    def _l1_slope(self) -> float:
        """gamma = d/(d-1) Gamma((d-j)/k) / Gamma((d-j-1)/k) (requires d - j - 1 > 0)."""
        d, k, j = self.dim, float(self.k), float(self.j)
        log_ratio = special.gammaln((d - j) / k) - special.gammaln((d - j - 1) / k)
        return d / (d - 1.0) * math.exp(log_ratio)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        if norm == "l1":
            return 2.0 * self.lambd * self._l1_slope() * (p - 0.5)
        if float(self.k) == 1.0:
            return self.lambd * laplace_l1_unit(p)
        from .tables import expinf_linf_radius

        return self.lambd * np.asarray(expinf_linf_radius(p, float(self.k), self.dim), dtype=np.float64)


@register
class PowInf(Noise):
    """Density ~ (1 + ||x/lambd||_inf)^-a with a > dim + 2. Direct guarantees: l1, l-infinity.

    ||x/lambd||_inf ~ BetaPrime(d, a - d). s_q = sqrt(r_2 (d+1) / ((a-d-1)(a-d-2))).
    l1: 2 lambd d/(a-d) (p - 1/2). l-infinity: differential-method table.
    """

    name = "powinf"
    direct_norms = ("l1", "linf")
    param_names = ("a",)

    def __init__(self, sigma: float, dim: int, *, a: float) -> None:
        super().__init__(sigma, dim)
        check_param(self.name, "a", a, lambda v: v > self.dim + 2, f"> dim + 2 = {self.dim + 2}")
        self.a = a

    def unit_rms(self) -> float:
        d, a = self.dim, float(self.a)
        return math.sqrt(cube_surface_sq_norm(d) * (d + 1.0) / ((a - d - 1.0) * (a - d - 2.0)))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        radius = beta_prime(float(self.dim), float(self.a) - self.dim, n, generator, device)
        return _scaled(radius, cube_surface(n, self.dim, generator, device, work_dtype(dtype)), dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        d, a = self.dim, float(self.a)
        if norm == "l1":
            return 2.0 * self.lambd * d / (a - d) * (p - 0.5)
        from .tables import powinf_linf_radius

        return self.lambd * np.asarray(powinf_linf_radius(p, a, d), dtype=np.float64)


@register
class Exp2(Noise):
    """Density ~ ||x/lambd||_2^-j exp(-||x/lambd||_2^k) (spherical). Direct guarantee: l2.

    Parameters: k > 0, 0 <= j < dim. s_q = sqrt(Gamma((d+2-j)/k) / (d Gamma((d-j)/k))).
    l2: k = 1, j = 0: lambd (d-1) atanh(1 - 2 B^-1(1-p)), B = Beta((d-1)/2, (d-1)/2);
    k = 2, j = 0: Gaussian with std lambd/sqrt(2); otherwise the level-set table.
    """

    name = "exp2"
    direct_norms = ("l2",)
    param_names = ("k", "j")

    def __init__(self, sigma: float, dim: int, *, k: float, j: float) -> None:
        super().__init__(sigma, dim)
        _check_dim_at_least_2(self.name, self.dim)
        check_param(self.name, "k", k, lambda v: v > 0, "> 0")
        check_param(self.name, "j", j, lambda v: 0 <= v < self.dim, f">= 0 and < dim = {self.dim}")
        self.k = k
        self.j = j

    def unit_rms(self) -> float:
        d, k, j = self.dim, float(self.k), float(self.j)
        log_ratio = special.gammaln((d + 2 - j) / k) - special.gammaln((d - j) / k)
        return math.exp(0.5 * (log_ratio - math.log(d)))

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        k, j = float(self.k), float(self.j)
        radius = standard_gamma((self.dim - j) / k, (n,), generator, device).pow(1.0 / k)
        return _scaled(radius, l2_sphere(n, self.dim, generator, device, work_dtype(dtype)), dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        k, j, d = float(self.k), float(self.j), self.dim
        if j == 0 and k == 1.0:
            half = (d - 1) / 2.0
            x = stats.beta.ppf(1.0 - p, half, half)
            with np.errstate(divide="ignore"):
                atanh = 0.5 * (np.log1p(-x) - np.log(x))  # atanh(1 - 2x)
            return self.lambd * (d - 1) * atanh
        if j == 0 and k == 2.0:
            return self.lambd / math.sqrt(2.0) * gaussian_l2_unit(p)
        from .tables import exp2_l2_radius

        return self.lambd * np.asarray(exp2_l2_radius(p, k, j, d, self.unit_rms()), dtype=np.float64)


@register
class Pow2(Noise):
    """Density ~ (1 + ||x/lambd||_2^k)^-a with k > 0, a > (dim + 2)/k. Direct guarantee: l2.

    ||x/lambd||_2^k ~ BetaPrime(d/k, a - d/k);
    s_q = exp(1/2 [lnG((d+2)/k) + lnG(a-(d+2)/k) - lnG(d/k) - lnG(a-d/k) - ln d]).
    l2: level-set table.
    """

    name = "pow2"
    direct_norms = ("l2",)
    param_names = ("k", "a")

    def __init__(self, sigma: float, dim: int, *, k: float, a: float) -> None:
        super().__init__(sigma, dim)
        k_f = check_param(self.name, "k", k, lambda v: v > 0, "> 0")
        check_param(
            self.name,
            "a",
            a,
            lambda v: v > (self.dim + 2) / k_f,
            f"> (dim + 2)/k = {(self.dim + 2) / k_f} (finite variance)",
        )
        self.k = k
        self.a = a

    def unit_rms(self) -> float:
        d, k, a = self.dim, float(self.k), float(self.a)
        g = special.gammaln
        log_var = g((d + 2) / k) + g(a - (d + 2) / k) - g(d / k) - g(a - d / k) - math.log(d)
        return math.exp(0.5 * log_var)

    def _sample_unit(
        self, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        d, k, a = self.dim, float(self.k), float(self.a)
        radius = beta_prime(d / k, a - d / k, n, generator, device).pow(1.0 / k)
        return _scaled(radius, l2_sphere(n, d, generator, device, work_dtype(dtype)), dtype)

    def _direct_radius(self, p: np.ndarray, norm: str) -> np.ndarray:
        from .tables import pow2_l2_radius

        d, k, a = self.dim, float(self.k), float(self.a)
        return self.lambd * np.asarray(pow2_l2_radius(p, k, a, d, self.unit_rms()), dtype=np.float64)
