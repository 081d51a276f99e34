"""Level-set radius tables for spherical noises against l2 (Yang et al. 2020, Algorithm 1).

Noise q(x) = f(||x||) with f = exp(-g), g increasing. For a shift v with ||v||_2 = e, the
Neyman-Pearson sets are A_t = {x : q(x - v)/q(x) <= e^t} = {x : ||x - v|| >= s_t(||x||)} with the
*boundary radius* s_t(R) = g^{-1}(g(R) - t) (0 where g(R) - t < inf g). Their mass under q is

    pbig(t, e) = E_R[ W(R, s_t(R), e) ],   W(r, s, e) = I_{(d-1)/2,(d-1)/2}(((r + e)^2 - s^2) / (4 e r)),

W being the probability that a uniform point of the radius-r sphere lies outside the radius-s ball
centred at distance e (I = regularized incomplete beta, scipy.special.betainc). By symmetry of q,
q(A_t shifted by v) = 1 - pbig(-t, e). The worst case for a top-class probability rho therefore
reaches 1/2 exactly when rho = pbig(-t*, e) with pbig(t*, e) = 1/2: that rho is tabulated against
the radius e.

Numerics (float64 throughout):

* The boundary is passed as y = ln(s/R) so that r + e - s = e - R expm1(y) is computed without
  cancellation (s and R agree to many digits in high dimension).
* The expectation over the radial law is taken in the variable z with R = R(Phi_N(z)):
  E[h(R)] = E_{z ~ N(0,1)}[h(R(Phi_N(z)))], smooth in z (a rule in the quantile tau converges only
  like n^-2 because of the quantile's end-point singularities). The z-integral over [-12, 12] uses a
  composite Gauss-Legendre rule with equal panels (8 nodes each); R(tau) is computed from both tau
  and 1 - tau so that both tails are accurate. (Gauss-Hermite nodes were tried: they cluster near
  z = 0 and need thousands of nodes when the integrand has a feature in the tails, e.g. Exp2 with
  j = d - 1, where W changes at R ~ 30 e.)
* Every threshold is found with ``scipy.optimize.brentq`` on a bracket whose sign change is
  verified. Each point is re-evaluated with twice as many quadrature panels; if rho or pbig(t*)
  moves by more than 1e-9 the panel count is doubled (16 up to 1024) and the point recomputed, and the
  build fails with ``ArithmeticError`` if that does not help. A table is therefore complete and
  accurate, or not produced at all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.special import betainc, ndtr

__all__ = ["LevelSetProblem", "level_set_table"]

logger = logging.getLogger(__name__)

#: Boundary as y = ln(s_t(R) / R) (vectorised over R, scalar threshold t); -inf where s_t(R) = 0.
LogBoundary = Callable[[np.ndarray, float], np.ndarray]
#: Radial quantile R(tau) given (tau, 1 - tau) arrays.
RadialQuantile = Callable[[np.ndarray, np.ndarray], np.ndarray]

_PANEL_ORDER = 8  # Gauss-Legendre nodes per panel in z
_Z_MAX = 12.0  # z range [-12, 12]: the normal mass outside is 3.6e-33
_START_PANELS = 16
_MAX_PANELS = 1024
_RHO_ATOL = 1e-9  # required agreement of rho and pbig(t*) between n and 2n quadrature nodes
_MAX_BRACKET = 1e8
_MIN_WEIGHT = 1e-30


class _Inaccurate(ArithmeticError):
    """The radial quadrature did not reach the required accuracy."""


class LevelSetProblem:
    """pbig(t, e) for one spherical noise in ``dim`` dimensions, with ``panels`` z-panels of 8 nodes."""

    def __init__(self, radial_quantile: RadialQuantile, log_boundary: LogBoundary, dim: int, panels: int) -> None:
        x, wx = np.polynomial.legendre.leggauss(_PANEL_ORDER)
        edges = np.linspace(-_Z_MAX, _Z_MAX, panels + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        z = (0.5 * (lo + hi) + 0.5 * (hi - lo) * x).ravel()
        w = (0.5 * (hi - lo) * wx).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        keep = w > _MIN_WEIGHT  # nodes near |z| = 12 change pbig by < 1e-30 each: drop them
        z, w = z[keep], w[keep]
        tau, tau_c = ndtr(z), ndtr(-z)
        self.n_nodes = panels * _PANEL_ORDER
        self.radii = np.asarray(radial_quantile(tau, tau_c), dtype=np.float64)
        if not (np.isfinite(self.radii).all() and (self.radii > 0).all()):
            raise ArithmeticError("radial quantiles are not finite and positive at the quadrature nodes")
        self.weights = w / w.sum()
        self.log_boundary = log_boundary
        self.half_dof = 0.5 * (dim - 1)

    def pbig(self, t: float, e: float) -> float:
        """q(A_t) = P_q[q(x - v)/q(x) <= e^t] for ||v||_2 = e."""
        r = self.radii
        rel = np.expm1(self.log_boundary(r, t))  # s/R - 1 (-1 where s = 0)
        arg = (e - r * rel) * (2.0 * r + e + r * rel) / (4.0 * e * r)
        w = betainc(self.half_dof, self.half_dof, np.clip(arg, 0.0, 1.0))
        val = float(self.weights @ w)
        if not np.isfinite(val):
            raise ArithmeticError(f"pbig(t={t!r}, e={e!r}) is not finite")
        return val


def _threshold(problem: LevelSetProblem, e: float, start: float) -> float:
    """t* < 0 with pbig(t*, e) = 1/2 (brentq on a verified bracket [lo, 0])."""
    f_hi = problem.pbig(0.0, e) - 0.5
    if not f_hi > 0:
        raise ArithmeticError(f"pbig(0, e={e!r}) - 1/2 = {f_hi!r} is not positive; no bracket")
    lo = min(start, -1e-12)
    while problem.pbig(lo, e) - 0.5 >= 0:
        lo *= 2.0
        if -lo > _MAX_BRACKET:
            raise ArithmeticError(f"no threshold t < 0 with pbig(t, e={e!r}) < 1/2 down to t = {lo!r}")
    t, info = brentq(lambda t: problem.pbig(t, e) - 0.5, lo, 0.0, xtol=1e-14, rtol=1e-14, maxiter=200, full_output=True)
    if not info.converged:
        raise ArithmeticError(f"brentq did not converge for e={e!r}: {info.flag}")
    return float(t)


def _point(coarse: LevelSetProblem, fine: LevelSetProblem, e: float, start: float) -> tuple[float, float]:
    """(t*, rho) at shift e; raises _Inaccurate if the 2n-node quadrature disagrees."""
    t_star = _threshold(coarse, e, start)
    rho = coarse.pbig(-t_star, e)
    check = fine.pbig(-t_star, e)
    half = fine.pbig(t_star, e)
    if abs(check - rho) > _RHO_ATOL or abs(half - 0.5) > _RHO_ATOL:
        raise _Inaccurate(
            f"radial quadrature with {coarse.n_nodes} nodes not accurate at e={e!r}: rho {rho!r} vs "
            f"{check!r} with {fine.n_nodes} nodes, pbig(t*) {half!r} vs 1/2"
        )
    return t_star, rho


def level_set_table(
    radial_quantile: RadialQuantile, log_boundary: LogBoundary, dim: int, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rho, radius) table: (1/2, 0) followed by (rho(e), e) for every l2 shift e in ``shifts``.

    ``radial_quantile(tau, 1 - tau)`` gives the quantiles of ||x||_2 under the noise at lambd = 1;
    ``log_boundary(R, t)`` gives ln(s_t(R)/R). ``shifts`` must be positive and increasing. Raises
    ``ArithmeticError`` if a root cannot be bracketed or found, or rho cannot be computed to 1e-9.
    """
    shifts = np.asarray(shifts, dtype=np.float64)
    if shifts.ndim != 1 or not (shifts > 0).all() or (np.diff(shifts) <= 0).any():
        raise ValueError("shifts must be a positive, strictly increasing 1-D array")
    if dim < 2:
        raise ValueError(f"level-set tables need dim >= 2, got {dim}")
    n = _START_PANELS
    coarse = LevelSetProblem(radial_quantile, log_boundary, dim, n)
    fine = LevelSetProblem(radial_quantile, log_boundary, dim, 2 * n)
    rho = np.empty(shifts.size)
    t_prev, e_prev = -1.0, None
    for i, e in enumerate(shifts.tolist()):
        start = t_prev * (e / e_prev) if e_prev else -1.0
        while True:
            try:
                t_star, rho[i] = _point(coarse, fine, e, start)
                break
            except _Inaccurate as exc:
                if 2 * n >= _MAX_PANELS:
                    raise
                n *= 2
                logger.debug("%s; retrying with %d nodes", exc, n * _PANEL_ORDER)
                coarse, fine = fine, LevelSetProblem(radial_quantile, log_boundary, dim, 2 * n)
        t_prev, e_prev = t_star, e
    if n > _START_PANELS:
        logger.info("level-set table needed %d radial quadrature nodes", n * _PANEL_ORDER)
    return np.concatenate([[0.5], rho]), np.concatenate([[0.0], shifts])
