"""Confidence bounds and certified radii computed from Monte Carlo class counts.

Every function here is a pure float64 numpy/scipy function of counts and (alpha, sigma); no
sampling happens here (see :mod:`randsmooth.sampling`). Inputs broadcast like numpy ufuncs.

Conventions
-----------
* **alpha is one-sided by default.** ``cp_lower(k, n, alpha)`` is the exact one-sided
  Clopper-Pearson lower bound: P[p < cp_lower] <= alpha, i.e. Beta.ppf(alpha; k, n-k+1). This is
  what Cohen et al. (2019), Sun et al. (2025) and Xin et al. (2025) use. It equals the lower end of
  statsmodels' two-sided ``proportion_confint(k, n, alpha=2*alpha, method="beta")`` interval.
* ``two_sided=True`` returns the end point of the two-sided (1 - alpha) Clopper-Pearson interval,
  i.e. the one-sided bound at alpha/2. This is the convention of Yang et al. (2020, ``rs4a``), which
  report alpha = 0.001 two-sided (= one-sided 0.0005).
* Units: sigma is the per-coordinate RMS of the Gaussian noise in [0, 1] pixel units; radii are L2
  radii in the same units over all C*H*W coordinates. Radii returned here are *raw*: they may be
  negative (or -inf), which means "not certified, not even at radius 0". Callers decide how to
  report abstentions.
* Invalid input (alpha outside (0, 1), counts that are negative, non-integer, NaN or exceed n,
  n < 1, sigma <= 0, ...) raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betaln, xlog1py, xlogy
from scipy.stats import beta, binom, norm

__all__ = [
    "CostSensitiveRadius",
    "betabinomial_cs",
    "checkpoint_cp",
    "cost_sensitive_radius",
    "cp_lower",
    "cp_upper",
    "geometric_checkpoints",
    "max_radius",
    "predict_abstains",
    "predict_pvalue",
    "spend_alpha",
]

CS_MODES: tuple[str, ...] = ("group", "pair")


# ------------------------------------------------------------------------------- validation
def _as_float(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array, rejecting booleans, non-numbers and NaN."""
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be numeric, got {value!r}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN, got {value!r}")
    return arr


CERTIFICATE_ALPHA: tuple[float, float] = (0.0, 0.5)  # open interval of a certificate's error level


def certificate_alpha(alpha: Any) -> float:
    """The error level of a certificate (CERTIFY, PREDICT, cost-sensitive CERTIFY and every metric
    built on them) as a float: a number in the open interval :data:`CERTIFICATE_ALPHA` = (0, 1/2).

    At alpha >= 1/2 a one-sided lower bound lies above the point estimate and certifies nothing.
    This is the one check of that range: :mod:`randsmooth.decide` and
    :class:`randsmooth.evaluate.MetricsSpec` call it, and a test holds the config schema's alpha
    range equal to it. The bound functions below accept any alpha in (0, 1), their domain.
    """
    low, high = CERTIFICATE_ALPHA
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise ValueError(f"alpha must be a number in ({low:g}, {high:g}), got {alpha!r}")
    if not low < alpha < high:  # NaN fails too
        raise ValueError(f"alpha must be a number in ({low:g}, {high:g}), got {alpha!r}")
    return float(alpha)


def _check_alpha(alpha: Any, name: str = "alpha") -> np.ndarray:
    """``alpha`` as float64, every entry in the open interval (0, 1) (the bounds' domain; a
    certificate's level is checked by :func:`certificate_alpha`)."""
    a = _as_float(alpha, name)
    if ((a <= 0) | (a >= 1)).any():
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")
    return a


def _check_sigma(sigma: Any) -> np.ndarray:
    """``sigma`` as float64, every entry positive and finite."""
    s = _as_float(sigma, "sigma")
    if ((s <= 0) | ~np.isfinite(s)).any():
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    return s


def _check_counts(value: Any, name: str) -> np.ndarray:
    """``value`` as an int64 array of non-negative whole numbers (floats like 5.0 are accepted)."""
    arr = _as_float(value, name)
    if (~np.isfinite(arr)).any() or (arr != np.floor(arr)).any():
        raise ValueError(f"{name} must contain whole numbers, got {value!r}")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if (arr > 2.0**53).any():
        raise ValueError(f"{name} must be <= 2**53, got {value!r}")
    return arr.astype(np.int64)


def _broadcast(*arrays: np.ndarray, names: str) -> list[np.ndarray]:
    try:
        return list(np.broadcast_arrays(*arrays))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ValueError(f"{names} cannot be broadcast together: shapes {shapes}") from None


def _check_k_n(k: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated (k, n) count arrays with 0 <= k <= n and n >= 1 (not yet broadcast)."""
    k_arr = _check_counts(k, "k")
    n_arr = _check_counts(n, "n")
    if (n_arr < 1).any():
        raise ValueError(f"n must be >= 1, got {n!r}")
    k_b, n_b = _broadcast(k_arr, n_arr, names="k, n")
    if (k_b > n_b).any():
        raise ValueError(f"k must be <= n, got k={k!r}, n={n!r}")
    return k_arr, n_arr


def _scalar_if_0d(x: np.ndarray) -> Any:
    """Return a numpy scalar for 0-d results (numpy ufunc convention), else the array."""
    return x[()] if x.ndim == 0 else x


def _level(alpha: np.ndarray, two_sided: bool) -> np.ndarray:
    if not isinstance(two_sided, (bool, np.bool_)):
        raise ValueError(f"two_sided must be a bool, got {two_sided!r}")
    return alpha / 2.0 if two_sided else alpha


# ------------------------------------------------------------------ Clopper-Pearson bounds
def _lower(k: np.ndarray, n: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One-sided exact lower bound at level ``a`` on validated, broadcast float arrays."""
    pos = k > 0
    out = beta.ppf(a, np.where(pos, k, 1.0), n - k + 1.0)
    return np.where(pos, out, 0.0)


def _upper(k: np.ndarray, n: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One-sided exact upper bound at level ``a`` (isf keeps precision for tiny ``a``)."""
    below = k < n
    out = beta.isf(a, k + 1.0, np.where(below, n - k, 1.0))
    return np.where(below, out, 1.0)


def _probit_lower(k: np.ndarray, n: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Phi^{-1}(lower bound), computed from the complement near 1 for full precision.

    1 - Beta.ppf(a; k, n-k+1) = Beta.isf(a; n-k+1, k), so for bounds above 1/2 the probit is
    norm.isf of that (small) complement. Returns -inf where k == 0.
    """
    pos = k > 0
    k_safe = np.where(pos, k, 1.0)
    low = beta.ppf(a, k_safe, n - k + 1.0)
    comp = beta.isf(a, n - k + 1.0, k_safe)
    z = np.where(low < 0.5, norm.ppf(low), norm.isf(comp))
    return np.where(pos, z, -np.inf)


def _probit_upper(k: np.ndarray, n: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Phi^{-1}(upper bound) with the same complement trick; +inf where k == n."""
    below = k < n
    m_safe = np.where(below, n - k, 1.0)
    up = beta.isf(a, k + 1.0, m_safe)
    comp = beta.ppf(a, m_safe, k + 1.0)  # 1 - upper bound
    z = np.where(up < 0.5, norm.ppf(up), norm.isf(comp))
    return np.where(below, z, np.inf)


def cp_lower(k: Any, n: Any, alpha: Any, two_sided: bool = False) -> Any:
    """Exact Clopper-Pearson lower confidence bound on a binomial proportion.

    Args:
        k: successes (e.g. the estimation count n_A of the selected class), whole numbers in [0, n].
        n: trials (>= 1).
        alpha: error level in (0, 1). **One-sided by default**: the result is Beta.ppf(alpha; k,
            n-k+1), so P[p < bound] <= alpha (Cohen / Sun / Xin convention; statsmodels'
            ``proportion_confint(k, n, alpha=2*alpha, method="beta")[0]``).
        two_sided: if True, return the lower end of the two-sided (1 - alpha) interval, i.e. the
            one-sided bound at alpha/2 (Yang et al. / rs4a convention).

    Returns:
        float64 bound(s), broadcast over the inputs; exactly 0 where k == 0.
    """
    k_arr, n_arr = _check_k_n(k, n)
    a = _level(_check_alpha(alpha), two_sided)
    k_b, n_b, a_b = _broadcast(k_arr.astype(np.float64), n_arr.astype(np.float64), a, names="k, n, alpha")
    return _scalar_if_0d(_lower(k_b, n_b, a_b))


def cp_upper(k: Any, n: Any, alpha: Any, two_sided: bool = False) -> Any:
    """Exact Clopper-Pearson upper confidence bound on a binomial proportion.

    One-sided by default: Beta.ppf(1 - alpha; k+1, n-k), so P[p > bound] <= alpha;
    ``two_sided=True`` uses alpha/2 (upper end of the two-sided (1 - alpha) interval). Exactly 1
    where k == n. Arguments and validation as in :func:`cp_lower`.
    """
    k_arr, n_arr = _check_k_n(k, n)
    a = _level(_check_alpha(alpha), two_sided)
    k_b, n_b, a_b = _broadcast(k_arr.astype(np.float64), n_arr.astype(np.float64), a, names="k, n, alpha")
    return _scalar_if_0d(_upper(k_b, n_b, a_b))


# ---------------------------------------------------------------------------------- PREDICT
def predict_pvalue(n1: Any, n2: Any) -> Any:
    """Two-sided exact binomial-test p-value of n1 successes in n1 + n2 trials with p = 1/2.

    ``n1 >= n2`` are the counts of the two most frequent classes (Cohen et al.'s PREDICT). For
    p = 1/2 the two-sided p-value (scipy.stats.binomtest's "two-sided") is
    min(1, 2 P[X >= n1]), X ~ Binomial(n1 + n2, 1/2); it is 1 when n1 == n2 (including 0 == 0).
    """
    a1 = _check_counts(n1, "n1")
    a2 = _check_counts(n2, "n2")
    a1, a2 = _broadcast(a1, a2, names="n1, n2")
    if (a1 < a2).any():
        raise ValueError(f"n1 must be >= n2 (the top-two counts in order), got n1={n1!r}, n2={n2!r}")
    total = (a1 + a2).astype(np.float64)
    tail = binom.sf(a1 - 1.0, total, 0.5)
    p = np.where(a1 == a2, 1.0, np.minimum(1.0, 2.0 * tail))
    return _scalar_if_0d(np.asarray(p, dtype=np.float64))


def predict_abstains(n1: Any, n2: Any, alpha: Any) -> Any:
    """Cohen et al.'s PREDICT abstention rule: True where predict_pvalue(n1, n2) > alpha.

    Keeps the two-sided test (valid per Hung & Fithian, 2016). ``n1 == n2`` always abstains.
    With probability >= 1 - alpha a non-abstaining PREDICT returns the smoothed class.
    """
    a = _check_alpha(alpha)
    p = np.asarray(predict_pvalue(n1, n2))
    p_b, a_b = _broadcast(p, a, names="n1/n2, alpha")
    return _scalar_if_0d(p_b > a_b)


# --------------------------------------------------------------------------- radius budget
def max_radius(n: Any, alpha: Any, sigma: Any) -> Any:
    """Largest radius CERTIFY can ever return: sigma * Phi^{-1}(alpha^(1/n)) (Sun et al. 2025).

    alpha^(1/n) is the one-sided lower bound at n_A = n. It is computed as
    norm.isf(1 - alpha^(1/n)) with 1 - alpha^(1/n) = -expm1(log(alpha)/n), exact even for n = 1e10.
    ``alpha`` is one-sided; sigma in [0, 1] pixel units; L2 radius.
    """
    n_arr = _check_counts(n, "n")
    if (n_arr < 1).any():
        raise ValueError(f"n must be >= 1, got {n!r}")
    a = _check_alpha(alpha)
    s = _check_sigma(sigma)
    n_b, a_b, s_b = _broadcast(n_arr.astype(np.float64), a, s, names="n, alpha, sigma")
    return _scalar_if_0d(s_b * norm.isf(-np.expm1(np.log(a_b) / n_b)))


# ------------------------------------------------------------------- cost-sensitive radius
@dataclass(frozen=True, eq=False)
class CostSensitiveRadius:
    """Per-example result of :func:`cost_sensitive_radius` (shape () for one example, (N,) for N).

    Attributes (radii are raw L2 radii in sigma's units; negative / -inf = not certified):
        r: the certified cost-sensitive radius (see the error-budget note in the function).
        r_std: Cohen's radius sigma*Phi^{-1}(LCB(n_A; alpha)) at the full level alpha (column r1).
        r_shared: sigma*Phi^{-1}(LCB(n_A; alpha/2)), the standard radius from the lower bound
            shared with r_cs (the one combined into r in the default, sound convention).
        r_cs: group cost-sensitive radius (sigma/2)[Phi^{-1}(LCB(n_A; alpha/2)) -
            Phi^{-1}(UCB(n_B; alpha_b))] (column r2).
        r_pair: ``mode="pair"`` only: per-target radii (sigma/2)[Phi^{-1}(LCB(n_A; alpha/2)) -
            Phi^{-1}(UCB(n_j; alpha_b))], shape (..., |Omega|) in target order; None otherwise.
            r_cs equals its minimum over targets.
        r_pair_certified: ``mode="pair"`` only: max(base, r_pair) with base = r_shared (default) or
            r_std (legacy); certified radius against each single target; None otherwise.
        c_b: worst sensitive target (largest estimation count; ties -> first in target order).
        n_a, n_b, n: estimation counts of the selected class and of c_b, and the row total.
        mass: n_b / (n - n_a), 0 where n_a == n.
        abstain: CERTIFY's rule LCB(n_A; alpha) <= 1/2 (the label is ABSTAIN; radii are still kept).
        alpha: the level passed in; alpha_a / alpha_b: levels used for LCB(n_A) in r_cs and for
            every target's UCB; legacy_alpha: which convention produced r.
    """

    r: np.ndarray
    r_std: np.ndarray
    r_shared: np.ndarray
    r_cs: np.ndarray
    r_pair: np.ndarray | None
    r_pair_certified: np.ndarray | None
    c_b: np.ndarray
    n_a: np.ndarray
    n_b: np.ndarray
    n: np.ndarray
    mass: np.ndarray
    abstain: np.ndarray
    targets: tuple[int, ...]
    mode: str
    alpha: float
    alpha_a: float
    alpha_b: float
    legacy_alpha: bool


def _check_scalar_alpha_sigma(alpha: Any, sigma: Any) -> tuple[float, float]:
    if np.ndim(alpha) != 0:
        raise ValueError(f"alpha must be a scalar, got shape {np.shape(alpha)}")
    if np.ndim(sigma) != 0:
        raise ValueError(f"sigma must be a scalar, got shape {np.shape(sigma)}")
    return float(_check_alpha(alpha)), float(_check_sigma(sigma))


def _check_targets(targets: Any, num_classes: int) -> tuple[int, ...]:
    if isinstance(targets, (str, bytes)) or not isinstance(targets, (Sequence, np.ndarray)):
        raise ValueError(f"targets must be a sequence of class indices, got {targets!r}")
    items = list(targets)
    if not items:
        raise ValueError("targets must be non-empty (the sensitive target list Omega)")
    out: list[int] = []
    for t in items:
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
            raise ValueError(f"targets must contain integer class indices, got {targets!r}")
        if not 0 <= int(t) < num_classes:
            raise ValueError(f"targets must be in [0, {num_classes}), got {targets!r}")
        out.append(int(t))
    if len(set(out)) != len(out):
        raise ValueError(f"targets must not contain duplicates, got {targets!r}")
    return tuple(out)


def _check_top_class(top_class: Any, num_rows: int, num_classes: int) -> np.ndarray:
    arr = _check_counts(top_class, "top_class")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != num_rows):
        raise ValueError(f"top_class must be an int or have shape ({num_rows},), got shape {arr.shape}")
    if (arr >= num_classes).any():
        raise ValueError(f"top_class must be in [0, {num_classes}), got {top_class!r}")
    return np.broadcast_to(arr, (num_rows,))


def cost_sensitive_radius(
    counts: Any,
    top_class: Any,
    targets: Sequence[int],
    alpha: float,
    sigma: float,
    mode: str = "group",
    legacy_alpha: bool = False,
) -> CostSensitiveRadius:
    """Cost-sensitive certified radius of Xin et al. (2025, Algorithm 1) from class counts.

    Args:
        counts: estimation counts, shape (K,) for one example or (N, K); n = row sum (>= 1). These
            must come from samples independent of the ones that chose ``top_class``.
        top_class: class c_A chosen on the separate selection samples, int or shape (N,).
        targets: the ordered sensitive target list Omega (class indices, non-empty, no duplicates),
            the same for every row. Order matters only to break ties for c_B.
        alpha: one-sided total error level in (0, 1) (scalar).
        sigma: Gaussian per-coordinate RMS in [0, 1] pixel units (scalar); radii are L2 over all
            C*H*W coordinates, linear in sigma.
        mode: ``"group"`` (g never enters Omega) or ``"pair"`` (also per-target radii).
        legacy_alpha: reproduce the reference code (see below).

    Radii (guarantee of section 2.1: no class of Omega overtakes c_A within
    (sigma/2)[Phi^{-1}(p_A) - Phi^{-1}(max_Omega p_j)]):
        r_std = sigma*Phi^{-1}(LCB(n_A; alpha)) -- Cohen's radius, reported only;
        r_cs = (sigma/2)[Phi^{-1}(LCB(n_A; alpha/2)) - Phi^{-1}(UCB(n_B; alpha_b))], c_B the target
        with the largest count (ties -> first in list order), n_B its count.

    Error budget. **Default (sound at 1 - alpha):** alpha_b = alpha/(2|Omega|) for every target
    and r = max(r_shared, r_cs) with r_shared = sigma*Phi^{-1}(LCB(n_A; alpha/2)) reusing the same
    lower bound as r_cs; by the union bound alpha/2 + |Omega|*alpha/(2|Omega|) = alpha, all bounds
    (hence r and every pairwise radius) hold simultaneously with probability >= 1 - alpha.
    **legacy_alpha=True** reproduces the reference code exactly: alpha_b = alpha*|Omega|/2 (its
    operator-precedence slip, larger than intended for |Omega| > 1) and r = max(r_std, r_cs) with
    r_std at the full alpha -- a max over two certificates that each spend alpha, hence only valid
    with probability >= 1 - 2*alpha (worse when |Omega| > 1). Use it only to compare with released
    logs. Legacy requires alpha*|Omega|/2 < 1.

    Radii are raw: negative (or -inf) means not certified even at radius 0. If c_A is in Omega,
    r_cs < 0 but r may still be positive through the standard radius (g stays c_A, which is itself
    sensitive): metrics must also check that the prediction is not in Omega. ``abstain`` is CERTIFY's
    rule, LCB(n_A; alpha) <= 1/2 (Cohen's code: < 1/2; at exactly 1/2 a tie with another class is
    not excluded, as in :func:`randsmooth.decide.certify`), and does not modify any radius.
    """
    if mode not in CS_MODES:
        raise ValueError(f"mode must be one of {CS_MODES}, got {mode!r}")
    if not isinstance(legacy_alpha, (bool, np.bool_)):
        raise ValueError(f"legacy_alpha must be a bool, got {legacy_alpha!r}")
    a, s = _check_scalar_alpha_sigma(alpha, sigma)
    cnt = _check_counts(counts, "counts")
    if cnt.ndim not in (1, 2) or cnt.shape[-1] < 1:
        raise ValueError(f"counts must have shape (K,) or (N, K) with K >= 1, got shape {cnt.shape}")
    single = cnt.ndim == 1
    cnt2 = cnt[None, :] if single else cnt
    num_rows, num_classes = cnt2.shape
    tgt = _check_targets(targets, num_classes)
    top = _check_top_class(top_class, num_rows, num_classes)
    if np.ndim(top_class) == 1 and single:
        raise ValueError(f"top_class must be an int when counts has shape (K,), got shape {np.shape(top_class)}")

    n = cnt2.sum(axis=1)
    if (n < 1).any():
        raise ValueError(f"counts rows must sum to n >= 1, got row sums {n.tolist()}")
    rows = np.arange(num_rows)
    n_a = cnt2[rows, top]
    target_counts = cnt2[:, list(tgt)]  # (N, |Omega|)
    j_b = np.argmax(target_counts, axis=1)  # first maximum -> first in target order on ties
    c_b = np.asarray(tgt, dtype=np.int64)[j_b]
    n_b = target_counts[rows, j_b]

    size = len(tgt)
    alpha_a = a / 2.0
    alpha_b = a * size / 2.0 if legacy_alpha else a / (2.0 * size)
    if not alpha_b < 1.0:
        raise ValueError(f"legacy alpha_b = alpha*|Omega|/2 must be < 1, got {alpha_b} (alpha={a}, |Omega|={size})")

    nf, naf = n.astype(np.float64), n_a.astype(np.float64)
    a_full = np.full(num_rows, a)
    a_half = np.full(num_rows, alpha_a)
    z_std = _probit_lower(naf, nf, a_full)
    z_a = _probit_lower(naf, nf, a_half)
    tc = target_counts.astype(np.float64)
    z_targets = _probit_upper(tc, np.broadcast_to(nf[:, None], tc.shape), np.full(tc.shape, alpha_b))
    r_std = s * z_std
    r_shared = s * z_a
    r_pair_all = 0.5 * s * (z_a[:, None] - z_targets)
    r_cs = r_pair_all[rows, j_b]
    base = r_std if legacy_alpha else r_shared
    r = np.maximum(base, r_cs)

    rest = n - n_a
    mass = np.where(rest > 0, n_b / np.maximum(rest, 1), 0.0).astype(np.float64)
    abstain = _lower(naf, nf, a_full) <= 0.5  # at exactly 1/2 too: p_A >= 1/2 leaves a tie possible

    r_pair = r_pair_all if mode == "pair" else None
    r_pair_cert = np.maximum(base[:, None], r_pair_all) if mode == "pair" else None

    def shape(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else (x[0] if single else x)

    return CostSensitiveRadius(
        r=shape(r),
        r_std=shape(r_std),
        r_shared=shape(r_shared),
        r_cs=shape(r_cs),
        r_pair=shape(r_pair),
        r_pair_certified=shape(r_pair_cert),
        c_b=shape(c_b),
        n_a=shape(n_a),
        n_b=shape(n_b),
        n=shape(n),
        mass=shape(mass),
        abstain=shape(abstain),
        targets=tgt,
        mode=mode,
        alpha=a,
        alpha_a=alpha_a,
        alpha_b=float(alpha_b),
        legacy_alpha=bool(legacy_alpha),
    )


# ------------------------------------------------------------- anytime-valid (sequential) bounds
def geometric_checkpoints(first: int, max_n: int, ratio: float) -> np.ndarray:
    """Sample sizes ``first, ~first*ratio, ~first*ratio^2, ..., max_n`` (int64, strictly increasing).

    Each is rounded up to a whole number; the last one is exactly ``max_n`` (a size within 1% of
    ``max_n`` is dropped so the last step is not negligibly small).
    """
    if not (isinstance(first, (int, np.integer)) and isinstance(max_n, (int, np.integer))) or not 1 <= first <= max_n:
        raise ValueError(f"need whole numbers 1 <= first <= max_n, got first={first!r}, max_n={max_n!r}")
    if not (isinstance(ratio, (int, float)) and ratio > 1.0 and np.isfinite(ratio)):
        raise ValueError(f"ratio must be a finite number > 1, got {ratio!r}")
    sizes = [int(first)]
    while sizes[-1] * ratio < max_n * 0.99:
        sizes.append(int(np.ceil(sizes[-1] * ratio)))  # > sizes[-1]: a whole s times ratio > 1 rounds above s
    if sizes[-1] != max_n:
        sizes.append(int(max_n))
    return np.asarray(sizes, dtype=np.int64)


def spend_alpha(alpha: float, num_checkpoints: int, final_share: float = 0.5, power: float = 0.0) -> np.ndarray:
    """Split ``alpha`` over ``num_checkpoints`` looks: ``final_share*alpha`` at the last one, the rest
    over the others in proportion to t^power (t = 1, 2, ...: equal shares at power 0, growing with
    the look at power > 0); float64, sums to alpha up to rounding, never above it.

    Weighting the last look keeps the bound at the maximum N close to the fixed-N bound at alpha
    (examples near a threshold end there); a positive power moves alpha from the first looks, where
    few samples certify little whatever their level, to the later ones where most examples are
    decided. With one checkpoint the whole alpha goes to it.
    """
    a = float(_check_alpha(alpha))
    if not isinstance(num_checkpoints, (int, np.integer)) or num_checkpoints < 1:
        raise ValueError(f"num_checkpoints must be a positive integer, got {num_checkpoints!r}")
    if not 0.0 < final_share <= 1.0 or (final_share == 1.0 and num_checkpoints > 1):
        raise ValueError(f"final_share must be in (0, 1) (or 1 with one checkpoint), got {final_share!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0.0 <= power <= 10.0:
        raise ValueError(f"power must be a number in [0, 10], got {power!r}")
    if num_checkpoints == 1:
        return np.asarray([a])
    weights = np.arange(1, num_checkpoints, dtype=np.float64) ** float(power)
    rest = a * (1.0 - final_share) * weights / weights.sum()
    out = np.append(rest, a * final_share)
    while out.sum() > a:  # never spend more than alpha through the split's rounding (an ulp a pass)
        out = np.nextafter(out, 0.0)
    return out


def checkpoint_cp(k: Any, checkpoints: Any, alpha_spent: Any) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson bounds at a checkpoint schedule, valid simultaneously over the checkpoints.

    Args:
        k: cumulative successes at each checkpoint, shape (..., T), non-decreasing along the last axis.
        checkpoints: the T sample sizes n_1 < ... < n_T (fixed before sampling).
        alpha_spent: one-sided level alpha_t per checkpoint, shape (T,) (e.g. :func:`spend_alpha`).

    Returns:
        (lower, upper), shape (..., T): ``cp_lower(k_t, n_t, alpha_t)`` and ``cp_upper(...)``.

    Guarantee (union bound / Bonferroni alpha spending over a fixed schedule): for a Bernoulli(p)
    stream, P[exists t: p < lower_t] <= sum_t alpha_t and P[exists t: p > upper_t] <= sum_t alpha_t,
    whatever rule decides when to stop looking, because each CP bound is exact at its own n_t
    (Clopper & Pearson 1934) and the events are joined by the union bound. This is the standard
    repeated-significance construction with a spending function (Lan & DeMets 1983), here with
    Bonferroni instead of the exact joint boundary (conservative, exact in the sense of no
    asymptotics).
    """
    n = _check_counts(checkpoints, "checkpoints")
    if n.ndim != 1 or n.size < 1 or (n < 1).any() or (np.diff(n) <= 0).any():
        raise ValueError(f"checkpoints must be a strictly increasing 1-d sequence of sizes >= 1, got {checkpoints!r}")
    a = _check_alpha(alpha_spent, "alpha_spent")
    if a.shape != n.shape:
        raise ValueError(f"alpha_spent must have shape {n.shape} (one level per checkpoint), got {a.shape}")
    kk = _check_counts(k, "k")
    if kk.ndim < 1 or kk.shape[-1] != n.size:
        raise ValueError(f"k must have shape (..., {n.size}) (one count per checkpoint), got {kk.shape}")
    if (kk > n).any() or (np.diff(kk, axis=-1) < 0).any():
        raise ValueError("k must be cumulative counts: non-decreasing and <= the checkpoint size")
    kf, nf, af = np.broadcast_arrays(kk.astype(np.float64), n.astype(np.float64), a)
    return _lower(kf, nf, af), _upper(kf, nf, af)


_MIXTURE_MARGIN = 1e-9  # log-martingale margin: a value within it of log(1/alpha) is not a rejection


def _mixture_end(k: np.ndarray, n: np.ndarray, alpha: np.ndarray, a: float, b: float, upper: bool) -> np.ndarray:
    """One end of :func:`betabinomial_cs` on validated, broadcast float arrays (bisection).

    Rejected p: log M_n(p) = betaln(a+k, b+n-k) - betaln(a, b) - k log p - (n-k) log(1-p) >= log(1/alpha).
    The bracket keeps a rejected end and a kept end; the rejected one is returned (conservative).
    """
    excess = betaln(a + k, b + n - k) - betaln(a, b) + np.log(alpha) - _MIXTURE_MARGIN
    phat = k / n
    kept = phat.copy()
    rejected = np.ones_like(phat) if upper else np.zeros_like(phat)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(64):
            mid = 0.5 * (kept + rejected)
            loglik = xlogy(k, mid) + xlog1py(n - k, -mid)  # 0 log 0 = 0: the bracket stays at 0 (k = 0) or 1 (k = n)
            r = excess >= loglik
            rejected, kept = np.where(r, mid, rejected), np.where(r, kept, mid)
    return rejected


def betabinomial_cs(k: Any, n: Any, alpha: Any, a: float = 0.5, b: float = 0.5, ends: str = "both") -> tuple[Any, Any]:
    """Beta-binomial mixture confidence sequence for a Bernoulli mean: (lower, upper).

    For k successes in the first n draws, the set {p : M_n(p) < 1/alpha} with
    M_n(p) = B(a+k, b+n-k) / (B(a, b) p^k (1-p)^(n-k)) (the Beta(a, b) mixture of likelihood
    ratios, a non-negative martingale with mean 1 under p) is an interval [lower, upper]. By Ville's
    inequality (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, Ann. Statist., section 3 and
    eq. (14)), P[exists n >= 1: p < lower_n or p > upper_n] <= alpha: **one alpha covers both ends
    and every sample size at once**, so any data-dependent stopping time keeps the guarantee and
    the running max of ``lower`` / min of ``upper`` are valid too.

    Both ends are found by float64 bisection on the monotone log M_n(p) (decreasing on [0, k/n],
    increasing on [k/n, 1]) and returned on the conservative side (the rejected end of the final
    bracket, within 2^-64 of the root); lower = 0 at k = 0 and upper = 1 at k = n. ``a``, ``b`` > 0
    are the prior's parameters (default: Jeffreys, Beta(1/2, 1/2)). ``ends="lower"`` or ``"upper"``
    computes only that end (the other is returned as None).
    """
    k_arr, n_arr = _check_k_n(k, n)
    al = _check_alpha(alpha)
    if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"prior parameters a, b must be positive and finite, got a={a!r}, b={b!r}")
    if ends not in ("both", "lower", "upper"):
        raise ValueError(f"ends must be 'both', 'lower' or 'upper', got {ends!r}")
    kf, nf, af = _broadcast(k_arr.astype(np.float64), n_arr.astype(np.float64), al, names="k, n, alpha")
    lower = _scalar_if_0d(_mixture_end(kf, nf, af, a, b, upper=False)) if ends != "upper" else None
    upper = _scalar_if_0d(_mixture_end(kf, nf, af, a, b, upper=True)) if ends != "lower" else None
    return lower, upper
