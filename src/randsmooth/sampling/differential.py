"""Differential-method radius tables (Yang et al. 2020): R(rho) = integral_{1-rho}^{1/2} dp / Phi(p).

``Phi`` is the family- and norm-specific "Phi function" (the largest rate at which the probability
of a set of mass p can change under a unit shift). Tables are built on a grid of tail
probabilities q_i = 1 - rho_i (given directly, so that q is accurate even when rho is close to 1):
each step integrates 1/Phi over [q_i, q_{i-1}] with a vectorised adaptive Gauss-Legendre rule, and
the radii are the cumulative sums. Everything is float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["differential_table", "integrate_intervals"]

_GL_ORDER = 10
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(_GL_ORDER)


def _gauss_legendre(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fixed-order Gauss-Legendre estimate of integral_a^b f for every interval (vectorised)."""
    half = 0.5 * (b - a)
    x = (0.5 * (a + b))[:, None] + half[:, None] * _GL_NODES[None, :]
    return half * (f(x.ravel()).reshape(x.shape) @ _GL_WEIGHTS)


def integrate_intervals(
    f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray, *, rtol: float = 1e-11, max_depth: int = 40
) -> np.ndarray:
    """integral_{a_i}^{b_i} f(x) dx for every i (``a < b``), adaptively to relative accuracy ``rtol``.

    An interval is accepted when the Gauss-Legendre estimates on it and on its two halves agree to
    ``rtol`` (relative to the interval's value); otherwise both halves are refined. ``f`` must be
    vectorised and finite on the open intervals (Gauss-Legendre never evaluates the end points, so
    integrable end-point singularities just cost more subdivisions). Raises ``ArithmeticError`` if
    ``f`` is not finite at some node or the accuracy is not reached within ``max_depth`` halvings.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not (b > a).all():
        raise ValueError("integrate_intervals: a and b must be 1-D arrays of equal shape with a < b")

    def g(x: np.ndarray) -> np.ndarray:
        y = np.asarray(f(x), dtype=np.float64)
        if not np.isfinite(y).all():
            bad = x[~np.isfinite(y)]
            raise ArithmeticError(f"integrand is not finite at x = {bad[:5]}")
        return y

    total = np.zeros(a.size)
    owner = np.arange(a.size)
    lo, hi = a, b
    whole = _gauss_legendre(g, lo, hi)
    for _ in range(max_depth):
        mid = 0.5 * (lo + hi)
        left = _gauss_legendre(g, lo, mid)
        right = _gauss_legendre(g, mid, hi)
        fine = left + right
        done = np.abs(fine - whole) <= rtol * np.abs(fine)
        np.add.at(total, owner[done], fine[done])
        todo = ~done
        if not todo.any():
            return total
        owner = np.concatenate([owner[todo], owner[todo]])
        lo, hi = np.concatenate([lo[todo], mid[todo]]), np.concatenate([mid[todo], hi[todo]])
        whole = np.concatenate([left[todo], right[todo]])
    raise ArithmeticError(
        f"adaptive quadrature did not reach rtol={rtol} on {owner.size} sub-intervals, e.g. [{lo[0]!r}, {hi[0]!r}]"
    )


def differential_table(phi: Callable[[np.ndarray], np.ndarray], q_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rho, radius) table of R(rho) = integral_{1-rho}^{1/2} dp / phi(p), starting at (1/2, 0).

    ``q_grid`` holds the tail probabilities q_i = 1 - rho_i of the table points after (1/2, 0),
    strictly decreasing within (0, 1/2). ``phi`` must be vectorised and positive on (0, 1/2).
    """
    q = np.asarray(q_grid, dtype=np.float64)
    if q.ndim != 1 or q.size < 1 or not ((q > 0) & (q < 0.5)).all() or (np.diff(q) >= 0).any():
        raise ValueError("q_grid must be a non-empty, strictly decreasing 1-D array within (0, 1/2)")
    upper = np.concatenate([[0.5], q[:-1]])

    def inv_phi(p: np.ndarray) -> np.ndarray:
        return 1.0 / phi(p)

    steps = integrate_intervals(inv_phi, q, upper)
    rho = np.concatenate([[0.5], 1.0 - q])
    radius = np.concatenate([[0.0], np.cumsum(steps)])
    return rho, radius
