"""Numerical radius tables of Yang et al. (2020) for the families without a closed form.

Every public ``*_radius`` function takes bounds ``rho`` (float64 probabilities; the noise classes
pass entries in (1/2, 1], entries <= 1/2 give 0) and returns float64 radii **at lambd = 1** (the
caller multiplies by the family's lambd = sigma / s_q). Radii come from a cached
:class:`~randsmooth.sampling.tablecache.RadiusTable` through its sound lookup: convex-secant
interpolation between table points, 0 on the first segment, and the last tabulated radius (never
an extrapolation) above the table's reach (its largest rho). See :mod:`.tablecache` for why that
is a lower bound and how tables are validated and cached, :mod:`.differential` and
:mod:`.levelset` for the two numerical methods.

Grids (the reference's, Yang et al. 2020, ``rs4a``):

* differential tables: rho_i = F(i * inc), i = 1 .. upper/inc, inc = 0.001, upper = 3, with
  F = Phi_N (Laplace l-inf; reach Phi_N(3) = 0.99865) or F(r) = LaplaceCDF(sqrt(2) r) (Exp1 l1,
  ExpInf and PowInf l-inf; reach 1 - exp(-3 sqrt 2)/2 = 0.99282);
* Expp (power p <= 1): 3000 steps down from rho_max = 0.999 to 1/2, uniform in ln(1 - rho)
  (the reference takes 3000 Euler steps of equal radius; here every step is integrated exactly);
* level-set tables: l2 shifts e = eps * s_q for eps = 0.01, 0.02, .., 3.00 (eps in sigma units).

The grid can be changed with keyword arguments (``inc``/``upper``; Expp: ``rho_max``/``grid_size``);
every grid parameter is part of the cache key. A larger ``upper`` extends the reach (bounds above
the reach only get the last tabulated radius).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import (
    betainc,
    betaincinv,
    gammainc,
    gammaincc,
    gammainccinv,
    gammaincinv,
    gammaln,
    ndtr,
    wrightomega,
)

from .differential import differential_table
from .levelset import level_set_table
from .tablecache import RadiusTable, get_table, table_key

__all__ = [
    "RadiusTable",
    "exp1_l1_radius",
    "exp1_l1_table",
    "exp2_l2_radius",
    "exp2_l2_table",
    "expinf_linf_radius",
    "expinf_linf_table",
    "expp_l1_radius",
    "expp_l1_table",
    "laplace_linf_radius",
    "laplace_linf_table",
    "pow2_l2_radius",
    "pow2_l2_table",
    "powinf_linf_radius",
    "powinf_linf_table",
]

DIFF_INC, DIFF_UPPER = 0.001, 3.0
EXPP_RHO_MAX, EXPP_GRID_SIZE = 0.999, 3000
LS_INC, LS_UPPER = 0.01, 3.0


# ------------------------------------------------------------------------------ validation
def _check_dim(dim: Any, minimum: int = 1) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < minimum:
        raise ValueError(f"dim must be an integer >= {minimum}, got {dim!r}")
    return int(dim)


def _check_real(
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float = math.inf,
    low_inclusive: bool = False,
    high_inclusive: bool = True,
) -> float:
    """``value`` as a finite float within the interval, else ValueError naming ``name``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    ok_low = x >= low if low_inclusive else x > low
    ok_high = x <= high if high_inclusive else x < high
    if isinstance(value, bool) or not math.isfinite(x) or not ok_low or not ok_high:
        lb = "[" if low_inclusive else "("
        rb = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be a finite number in {lb}{low}, {high}{rb}, got {value!r}")
    return x


def _check_grid(inc: float, upper: float) -> int:
    inc = _check_real("inc", inc)
    upper = _check_real("upper", upper)
    n = int(round(upper / inc))
    if n < 1 or abs(n * inc - upper) > 1e-9 * upper:
        raise ValueError(f"upper ({upper!r}) must be a positive multiple of inc ({inc!r})")
    return n


# --------------------------------------------------------------------------- helpers
def _gamma_quantile(a: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Gamma(a, 1) quantile at lower-tail probability ``lower`` (= 1 - ``upper``), accurate in both tails."""
    return np.where(lower <= 0.5, gammaincinv(a, np.minimum(lower, 0.5)), gammainccinv(a, np.minimum(upper, 0.5)))


def _laplace_grid(inc: float, n: int) -> np.ndarray:
    """Tail probabilities q_i = 1 - LaplaceCDF(sqrt(2) i inc) = exp(-sqrt(2) i inc) / 2."""
    return 0.5 * np.exp(-math.sqrt(2.0) * inc * np.arange(1, n + 1))


# ------------------------------------------------------------------------ Laplace l-inf
def _laplace_linf_phi(dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """Phi(p) = c (p - phi(c, d)) + d phi(c - 1/2, d - 1) - d phi(c, d), phi(c, d) = P[Bin(d, 1/2) > (c + d)/2].

    c = 2 Bin(d, 1/2).isf(p) - d is the threshold of the l-inf directional derivative S = 2 Bin(d, 1/2) - d
    of the log-density along (1, .., 1); Phi(p) = E[S; S > c] + c (p - P[S > c]) is the largest
    derivative mass of a set of probability p.
    """

    def phi(p: np.ndarray) -> np.ndarray:
        k = stats.binom.isf(p, dim, 0.5)  # P[B > k] <= p < P[B >= k]
        c = 2.0 * k - dim
        tail = stats.binom.sf((c + dim) / 2.0, dim, 0.5)  # phi(c, d)
        tail_m = stats.binom.sf((c - 0.5 + dim - 1) / 2.0, dim - 1, 0.5)  # phi(c - 1/2, d - 1)
        return c * (p - tail) + dim * tail_m - dim * tail

    return phi


def laplace_linf_table(dim: int, *, inc: float = DIFF_INC, upper: float = DIFF_UPPER) -> RadiusTable:
    """Laplace l-inf differential ("integrate") table at lambd = 1, grid rho_i = Phi_N(i inc)."""
    dim = _check_dim(dim, 2)
    n = _check_grid(inc, upper)
    key = table_key("laplace", "linf-differential", {"dim": dim}, {"type": "normal", "inc": inc, "upper": upper})
    label = f"Laplace(dim={dim}) l-inf differential table (inc={inc}, upper={upper})"
    q = ndtr(-inc * np.arange(1, n + 1))
    return get_table(key, label, lambda: differential_table(_laplace_linf_phi(dim), q))


def laplace_linf_radius(rho: Any, dim: int, **grid: float) -> np.ndarray:
    """Laplace l-inf radius at lambd = 1 by the differential method (approx. Phi_N^-1(rho)/sqrt(d))."""
    return laplace_linf_table(dim, **grid).lookup(rho)


# ------------------------------------------------------------------------------- Expp l1
def _expp_phi(power: float) -> Callable[[np.ndarray], np.ndarray]:
    """Phi(q) = (1 - exp(-G_{1/p}^-1(2q))) / (2 Gamma(1 + 1/p)) for i.i.d. exp(-|x|^p), p <= 1."""
    a = 1.0 / power
    norm = 2.0 * math.exp(gammaln(1.0 + a))

    def phi(q: np.ndarray) -> np.ndarray:
        return -np.expm1(-_gamma_quantile(a, 2.0 * q, 1.0 - 2.0 * q)) / norm

    return phi


def expp_l1_table(power: float, *, rho_max: float = EXPP_RHO_MAX, grid_size: int = EXPP_GRID_SIZE) -> RadiusTable:
    """Expp(p) l1 differential table at lambd = 1 for power p in (0, 1] (p = 1 is Laplace)."""
    power = _check_real("power", power, high=1.0)
    rho_max = _check_real("rho_max", rho_max, low=0.5, high=1.0, high_inclusive=False)
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 1:
        raise ValueError(f"grid_size must be a positive integer, got {grid_size!r}")
    grid_size = int(grid_size)
    key = table_key(
        "expp", "l1-differential", {"power": power}, {"type": "log-tail", "rho_max": rho_max, "size": grid_size}
    )
    label = f"Expp(power={power}) l1 differential table (rho_max={rho_max}, size={grid_size})"
    r_max = -math.log(2.0 * (1.0 - rho_max))
    q = 0.5 * np.exp(-r_max * np.arange(1, grid_size + 1) / grid_size)
    q[-1] = 1.0 - rho_max
    return get_table(key, label, lambda: differential_table(_expp_phi(power), q))


def expp_l1_radius(rho: Any, power: float, **grid: Any) -> np.ndarray:
    """Expp(p) l1 radius at lambd = 1 for p in (0, 1] (differential table, reach rho_max = 0.999)."""
    return expp_l1_table(power, **grid).lookup(rho)


# -------------------------------------------------------- Exp1 l1 / ExpInf l-inf (same Phi)
def _exp_norm_phi(k: float, dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """Phi(p) = (k/2) Gamma((d+k-1)/k)/Gamma(d/k) Psi(p) for density exp(-||x||^k), ||x||^k ~ Gamma(d/k).

    Psi = 1 - G_{(d+k-1)/k}(G_{d/k}^-1(1 - 2p)) for k >= 1 (largest radii carry the largest
    derivative), Psi = G_{(d+k-1)/k}(G_{d/k}^-1(2p)) for 0 < k < 1 (smallest radii).
    """
    a = dim / k
    b = (dim + k - 1.0) / k
    scale = 0.5 * k * math.exp(gammaln(b) - gammaln(a))

    def phi(p: np.ndarray) -> np.ndarray:
        if k >= 1:
            return scale * gammaincc(b, _gamma_quantile(a, 1.0 - 2.0 * p, 2.0 * p))
        return scale * gammainc(b, _gamma_quantile(a, 2.0 * p, 1.0 - 2.0 * p))

    return phi


def _exp_norm_table(family: str, norm: str, k: float, dim: int, inc: float, upper: float) -> RadiusTable:
    k = _check_real("k", k)
    dim = _check_dim(dim, 2)
    n = _check_grid(inc, upper)
    key = table_key(
        family.lower(), f"{norm}-differential", {"k": k, "dim": dim}, {"type": "laplace", "inc": inc, "upper": upper}
    )
    label = f"{family}(k={k}, dim={dim}) {norm} differential table (inc={inc}, upper={upper})"
    return get_table(key, label, lambda: differential_table(_exp_norm_phi(k, dim), _laplace_grid(inc, n)))


def exp1_l1_table(k: float, dim: int, *, inc: float = DIFF_INC, upper: float = DIFF_UPPER) -> RadiusTable:
    """Exp1 (density exp(-||x||_1^k)) l1 differential table at lambd = 1, any k > 0."""
    return _exp_norm_table("Exp1", "l1", k, dim, inc, upper)


def exp1_l1_radius(rho: Any, k: float, dim: int, **grid: float) -> np.ndarray:
    """Exp1 l1 radius at lambd = 1 (k = 1 reproduces Laplace, -ln(2(1 - rho)))."""
    return exp1_l1_table(k, dim, **grid).lookup(rho)


def expinf_linf_table(k: float, dim: int, *, inc: float = DIFF_INC, upper: float = DIFF_UPPER) -> RadiusTable:
    """ExpInf (j = 0, density exp(-||x||_inf^k)) l-inf differential table at lambd = 1.

    The Phi function is Exp1's (||x||_inf^k ~ Gamma(d/k) and the directional derivative of
    ||x||_inf along (1, .., 1) is +-1 with equal probability, as for ||x||_1 along e_1); the
    0 < k < 1 branch is used for k < 1 (the reference applies the k >= 1 form to every k).
    """
    return _exp_norm_table("ExpInf", "linf", k, dim, inc, upper)


def expinf_linf_radius(rho: Any, k: float, dim: int, **grid: float) -> np.ndarray:
    """ExpInf (j = 0) l-inf radius at lambd = 1 (k = 1 reproduces ln(1 / (2(1 - rho))))."""
    return expinf_linf_table(k, dim, **grid).lookup(rho)


# ----------------------------------------------------------------------------- PowInf l-inf
def _powinf_phi(a: float, dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """Phi(p) = (a - d)/2 F_{beta'(d, a+1-d)}(F^-1_{beta'(d, a-d)}(2p)) for density (1 + ||x||_inf)^-a.

    With F_{beta'(al, be)}(x) = I_{x/(1+x)}(al, be) this is (a - d)/2 I_y(d, a+1-d), y = I^-1_{2p}(d, a-d),
    evaluated through the complementary functions when 2p > 1/2 for accuracy.
    """
    b0, b1 = a - dim, a + 1.0 - dim

    def phi(p: np.ndarray) -> np.ndarray:
        two_p = 2.0 * p
        low = two_p <= 0.5
        y = betaincinv(dim, b0, np.where(low, two_p, 0.5))
        y_c = betaincinv(b0, dim, np.where(low, 0.5, 1.0 - two_p))  # 1 - y in the upper range
        cdf = np.where(low, betainc(dim, b1, y), 1.0 - betainc(b1, dim, y_c))
        return 0.5 * b0 * cdf

    return phi


def powinf_linf_table(a: float, dim: int, *, inc: float = DIFF_INC, upper: float = DIFF_UPPER) -> RadiusTable:
    """PowInf (density (1 + ||x||_inf)^-a, a > d) l-inf differential table at lambd = 1."""
    dim = _check_dim(dim, 2)
    a = _check_real("a", a, low=float(dim))
    n = _check_grid(inc, upper)
    key = table_key(
        "powinf", "linf-differential", {"a": a, "dim": dim}, {"type": "laplace", "inc": inc, "upper": upper}
    )
    label = f"PowInf(a={a}, dim={dim}) l-inf differential table (inc={inc}, upper={upper})"
    return get_table(key, label, lambda: differential_table(_powinf_phi(a, dim), _laplace_grid(inc, n)))


def powinf_linf_radius(rho: Any, a: float, dim: int, **grid: float) -> np.ndarray:
    """PowInf l-inf radius at lambd = 1."""
    return powinf_linf_table(a, dim, **grid).lookup(rho)


# ---------------------------------------------------------------------- level-set (l2)
def _ls_shifts(unit_rms: float, inc: float, upper: float) -> np.ndarray:
    n = _check_grid(inc, upper)
    return inc * np.arange(1, n + 1) * unit_rms


def _exp2_quantile(k: float, alpha: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Quantiles of ||x||_2 = U^(1/k), U ~ Gamma(alpha)."""

    def quantile(tau: np.ndarray, tau_c: np.ndarray) -> np.ndarray:
        return _gamma_quantile(alpha, tau, tau_c) ** (1.0 / k)

    return quantile


def _log1p_or_neginf(x: np.ndarray, k: float) -> np.ndarray:
    """log1p(x)/k where x > -1, else -inf (the boundary radius is 0 there)."""
    out = np.full(x.shape, -np.inf)
    ok = x > -1.0
    out[ok] = np.log1p(x[ok]) / k
    return out


def _exp2_log_boundary(k: float, j: float) -> Callable[[np.ndarray, float], np.ndarray]:
    """y = ln(s_t(R)/R), s_t(R) = g^-1(g(R) - t) for g(r) = r^k + j ln r (log-density -g).

    j = 0: s^k = R^k - t, so y = log1p(-t/R^k)/k. j > 0: y solves h(y) = R^k expm1(k y) + j y + t = 0;
    the start value comes from u = s^k = b w, w + ln w = z, w = wrightomega(z) (b = j/k,
    z = (R^k - t)/b + k ln R - ln b), then two Newton steps on h restore full relative accuracy
    of y (the closed form loses digits to cancellation when s is close to R).
    """
    if j == 0:

        def log_boundary0(r: np.ndarray, t: float) -> np.ndarray:
            return _log1p_or_neginf(-t / r**k, k)

        return log_boundary0
    b = j / k
    log_b = math.log(b)

    def log_boundary(r: np.ndarray, t: float) -> np.ndarray:
        rk = r**k
        z = (rk - t) / b + k * np.log(r) - log_b
        y = (log_b + z - wrightomega(z)) / k - np.log(r)  # ln w = z - w: no underflow for z << 0
        for _ in range(2):
            y = y - (rk * np.expm1(k * y) + j * y + t) / (k * rk * np.exp(k * y) + j)
        return y

    return log_boundary


def exp2_l2_table(
    k: float, j: float, dim: int, unit_rms: float, *, inc: float = LS_INC, upper: float = LS_UPPER
) -> RadiusTable:
    """Exp2 (density ||x||_2^-j exp(-||x||_2^k)) l2 level-set table at lambd = 1.

    ``unit_rms`` is the family's s_q (shifts are eps * s_q). ||x||_2^k ~ Gamma((d - j)/k) for every j
    (the reference's tail integral uses Gamma(d/k) for j > 0, a defect not reproduced here).
    """
    dim = _check_dim(dim, 2)
    k = _check_real("k", k)
    j = _check_real("j", j, low=0.0, high=float(dim), low_inclusive=True, high_inclusive=False)
    unit_rms = _check_real("unit_rms", unit_rms)
    shifts = _ls_shifts(unit_rms, inc, upper)
    key = table_key(
        "exp2",
        "l2-levelset",
        {"k": k, "j": j, "dim": dim, "unit_rms": unit_rms},
        {"type": "sigma", "inc": inc, "upper": upper},
    )
    label = f"Exp2(k={k}, j={j}, dim={dim}, unit_rms={unit_rms}) l2 level-set table (inc={inc}, upper={upper})"
    return get_table(
        key, label, lambda: level_set_table(_exp2_quantile(k, (dim - j) / k), _exp2_log_boundary(k, j), dim, shifts)
    )


def exp2_l2_radius(rho: Any, k: float, j: float, dim: int, unit_rms: float, **grid: float) -> np.ndarray:
    """Exp2 l2 radius at lambd = 1 from the level-set table."""
    return exp2_l2_table(k, j, dim, unit_rms, **grid).lookup(rho)


def _pow2_quantile(k: float, alpha: float, beta: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Quantiles of ||x||_2 = U^(1/k), U ~ BetaPrime(alpha, beta), U = y / (1 - y), y ~ Beta(alpha, beta)."""

    def quantile(tau: np.ndarray, tau_c: np.ndarray) -> np.ndarray:
        y = betaincinv(alpha, beta, tau)
        y_c = betaincinv(beta, alpha, tau_c)  # 1 - y, accurate when y is close to 1
        return (y / y_c) ** (1.0 / k)

    return quantile


def _pow2_log_boundary(k: float, a: float) -> Callable[[np.ndarray, float], np.ndarray]:
    """y = ln(s_t(R)/R) for g(r) = a ln(1 + r^k): s^k = (1 + R^k) e^(-t/a) - 1, i.e.
    (s/R)^k = 1 + expm1(-t/a) (1 + R^-k)."""

    def log_boundary(r: np.ndarray, t: float) -> np.ndarray:
        return _log1p_or_neginf(math.expm1(-t / a) * (1.0 + r ** (-k)), k)

    return log_boundary


def pow2_l2_table(
    k: float, a: float, dim: int, unit_rms: float, *, inc: float = LS_INC, upper: float = LS_UPPER
) -> RadiusTable:
    """Pow2 (density (1 + ||x||_2^k)^-a, a > d/k) l2 level-set table at lambd = 1."""
    dim = _check_dim(dim, 2)
    k = _check_real("k", k)
    a = _check_real("a", a, low=dim / k)
    unit_rms = _check_real("unit_rms", unit_rms)
    shifts = _ls_shifts(unit_rms, inc, upper)
    key = table_key(
        "pow2",
        "l2-levelset",
        {"k": k, "a": a, "dim": dim, "unit_rms": unit_rms},
        {"type": "sigma", "inc": inc, "upper": upper},
    )
    label = f"Pow2(k={k}, a={a}, dim={dim}, unit_rms={unit_rms}) l2 level-set table (inc={inc}, upper={upper})"
    return get_table(
        key,
        label,
        lambda: level_set_table(_pow2_quantile(k, dim / k, a - dim / k), _pow2_log_boundary(k, a), dim, shifts),
    )


def pow2_l2_radius(rho: Any, k: float, a: float, dim: int, unit_rms: float, **grid: float) -> np.ndarray:
    """Pow2 l2 radius at lambd = 1 from the level-set table."""
    return pow2_l2_table(k, a, dim, unit_rms, **grid).lookup(rho)
