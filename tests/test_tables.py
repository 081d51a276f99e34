"""Numerical radius tables (Yang et al. 2020): accuracy, lookup soundness, validation and cache.

Reference values: Yang et al. 2020, reference test vectors and section 11.1
(sigma = 0.5, d = 3072, rho = 0.6 / 0.9 / 0.99). Every closed form and every scale lambd = sigma/s_q
is written out here with scipy, independently of the library.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest
from scipy import special, stats
from scipy.optimize import brentq

from randsmooth.sampling import tablecache
from randsmooth.sampling import tables as T
from randsmooth.sampling.differential import differential_table, integrate_intervals
from randsmooth.sampling.levelset import level_set_table
from randsmooth.sampling.tablecache import RadiusTable, cache_dir, cache_path, clear_memory_cache, table_key

D = 3072
SIGMA = 0.5
RHO_TEST = np.array([0.6, 0.9, 0.99])
RHO_SWEEP = np.arange(0.51, 1.0, 0.01)


# ------------------------------------------------------------------------------ helpers
def gammaln_ratio(a: float, b: float) -> float:
    return math.exp(special.gammaln(a) - special.gammaln(b))


R2 = 1.0 + (D - 1) / 3.0  # E||u||^2 for u uniform on the cube surface


def sq_exp1(k: float) -> float:
    return math.sqrt(2.0 / (D * (D + 1)) * gammaln_ratio((D + 2) / k, D / k))


def sq_expinf(k: float) -> float:
    return math.sqrt(R2 / D * gammaln_ratio((D + 2) / k, D / k))


def sq_powinf(a: float) -> float:
    return math.sqrt(R2 * (D + 1) / ((a - D - 1) * (a - D - 2)))


def sq_expp(p: float) -> float:
    return math.sqrt(gammaln_ratio(3 / p, 1 / p))


def sq_exp2(k: float, j: float, d: int = D) -> float:
    return math.sqrt(gammaln_ratio((d + 2 - j) / k, (d - j) / k) / d)


def sq_pow2(k: float, a: float) -> float:
    g = special.gammaln
    return math.exp(0.5 * (g((D + 2) / k) + g(a - (D + 2) / k) - g(D / k) - g(a - D / k) - math.log(D)))


def laplace_l1(rho: np.ndarray) -> np.ndarray:
    return -np.log(2.0 * (1.0 - rho))


def exp2_k1_closed(rho: np.ndarray, d: int = D) -> np.ndarray:
    h = (d - 1) / 2.0
    return (d - 1) * np.arctanh(1.0 - 2.0 * stats.beta.ppf(1.0 - rho, h, h))


def expp_half_closed(rho: np.ndarray) -> np.ndarray:
    c = stats.gamma.ppf(2.0 * (1.0 - rho), 2.0)
    return 2.0 * (-c * np.log(-np.expm1(-c)) + special.spence(-np.expm1(-c)))


def within_reach(table: RadiusTable, rho: np.ndarray) -> np.ndarray:
    return rho[rho <= table.max_rho]


# ------------------------------------------------------- section 3: closed form vs table
def test_laplace_linf_integrate_matches_normal_approximation():
    table = T.laplace_linf_table(D)
    assert table.max_rho == pytest.approx(stats.norm.cdf(3.0), abs=1e-12)
    rho = within_reach(table, RHO_SWEEP)
    assert rho[-1] == pytest.approx(0.99)
    np.testing.assert_allclose(T.laplace_linf_radius(rho, D), stats.norm.ppf(rho) / math.sqrt(D), rtol=1e-3)


def test_exp1_k1_table_is_laplace():
    table = T.exp1_l1_table(1, D)
    assert table.max_rho == pytest.approx(1 - 0.5 * math.exp(-3 * math.sqrt(2)), abs=1e-12)
    rho = within_reach(table, RHO_SWEEP)
    np.testing.assert_allclose(T.exp1_l1_radius(rho, 1, D), laplace_l1(rho), rtol=1e-3)
    # At the table points the quadrature itself is exact to ~1e-12.
    np.testing.assert_allclose(table.radius[1:], laplace_l1(table.rho[1:]), rtol=1e-10)


def test_expinf_k1_table_matches_closed_form():
    table = T.expinf_linf_table(1, D)
    rho = within_reach(table, RHO_SWEEP)
    np.testing.assert_allclose(T.expinf_linf_radius(rho, 1, D), np.log(1 / (2 * (1 - rho))), rtol=1e-3)
    np.testing.assert_allclose(table.radius[1:], laplace_l1(table.rho[1:]), rtol=1e-10)


def test_expp_p1_table_is_laplace():
    table = T.expp_l1_table(1.0)
    assert table.max_rho == pytest.approx(0.999, abs=1e-12)
    np.testing.assert_allclose(T.expp_l1_radius(RHO_SWEEP, 1.0), laplace_l1(RHO_SWEEP), rtol=1e-3)
    np.testing.assert_allclose(table.radius[1:], laplace_l1(table.rho[1:]), rtol=1e-10)


def test_expp_half_table_matches_dilogarithm():
    table = T.expp_l1_table(0.5)
    np.testing.assert_allclose(T.expp_l1_radius(RHO_SWEEP, 0.5), expp_half_closed(RHO_SWEEP), rtol=1e-3)
    np.testing.assert_allclose(table.radius[1:], expp_half_closed(table.rho[1:]), rtol=1e-10)


def test_exp2_k2_level_set_is_gaussian():
    sq = sq_exp2(2, 0)
    table = T.exp2_l2_table(2, 0, D, sq)
    rho = within_reach(table, RHO_SWEEP)
    np.testing.assert_allclose(T.exp2_l2_radius(rho, 2, 0, D, sq), stats.norm.ppf(rho) / math.sqrt(2), rtol=1e-3)
    # N(0, I/2): the level-set computation is exact up to quadrature (rho to 1e-9).
    np.testing.assert_allclose(table.radius[1:], stats.norm.ppf(table.rho[1:]) / math.sqrt(2), rtol=1e-6)


def test_exp2_k1_level_set_matches_closed_form():
    sq = sq_exp2(1, 0)
    table = T.exp2_l2_table(1, 0, D, sq)
    rho = within_reach(table, RHO_SWEEP)
    np.testing.assert_allclose(T.exp2_l2_radius(rho, 1, 0, D, sq), exp2_k1_closed(rho), rtol=1e-2)
    np.testing.assert_allclose(table.radius[1:], exp2_k1_closed(table.rho[1:]), rtol=3e-4)


# ------------------------------------------------------------ section 11.1 test vectors
# (name, radius function at lambd = 1, s_q, printed lambd, expected radii at sigma = 0.5, rtol)
VECTORS = [
    (
        "laplace-linf",
        lambda r: T.laplace_linf_radius(r, D),
        math.sqrt(2),
        0.353553,
        [0.00161612, 0.00817520, 0.0148406],
        1e-3,
    ),
    ("exp1-k2", lambda r: T.exp1_l1_radius(r, 2, D), sq_exp1(2), 27.7173, [0.0787158, 0.563173, 1.35768], 1e-3),
    ("exp1-k10", lambda r: T.exp1_l1_radius(r, 10, D), sq_exp1(10), 612.719, [0.0781581, 0.545978, 1.28493], 1e-3),
    (
        "expinf-k2",
        lambda r: T.expinf_linf_radius(r, 2, D),
        sq_expinf(2),
        0.0220899,
        [6.27342e-05, 4.48832e-04, 1.08203e-03],
        1e-3,
    ),
    (
        "expinf-k8",
        lambda r: T.expinf_linf_radius(r, 8, D),
        sq_expinf(8),
        0.411529,
        [6.23666e-05, 4.37448e-04, 1.03373e-03],
        1e-3,
    ),
    (
        "powinf-d+4",
        lambda r: T.powinf_linf_radius(r, D + 4, D),
        sq_powinf(D + 4),
        6.90197e-04,
        [3.58010e-05, 2.00124e-04, 3.82744e-04],
        1e-3,
    ),
    (
        "powinf-d+32",
        lambda r: T.powinf_linf_radius(r, D + 32, D),
        sq_powinf(D + 32),
        0.00859288,
        [5.80750e-05, 3.77733e-04, 8.29311e-04],
        1e-3,
    ),
    (
        "powinf-d+128",
        lambda r: T.powinf_linf_radius(r, D + 128, D),
        sq_powinf(D + 128),
        0.0356438,
        [6.11390e-05, 4.18192e-04, 9.63921e-04],
        1e-3,
    ),
    (
        "expp-0.2",
        lambda r: T.expp_l1_radius(r, 0.2),
        sq_expp(0.2),
        8.29605e-06,
        [1.9919e-04, 8.04762e-04, 1.00309e-03],
        1e-3,
    ),
    ("expp-0.5", lambda r: T.expp_l1_radius(r, 0.5), sq_expp(0.5), 0.0456435, [0.0186705, 0.0890041, 0.131589], 1e-3),
    (
        "exp2-k1-j0",
        lambda r: T.exp2_l2_radius(r, 1, 0, D, sq_exp2(1, 0)),
        sq_exp2(1, 0),
        0.00901963,
        [0.126640, 0.640657, 1.16309],
        1e-2,
    ),
    (
        "pow2-k2-a1540",
        lambda r: T.pow2_l2_radius(r, 2, 1540, D, sq_pow2(2, 1540)),
        sq_pow2(2, 1540),
        1.22474,
        [0.113167, 0.572289, 1.03871],
        1e-2,
    ),
]


@pytest.mark.parametrize("name,radius_fn,s_q,printed_lambd,expected,rtol", VECTORS, ids=[v[0] for v in VECTORS])
def test_yang_section_11_vectors(name, radius_fn, s_q, printed_lambd, expected, rtol):
    lambd = SIGMA / s_q
    assert lambd == pytest.approx(printed_lambd, rel=1e-5)
    got = lambd * radius_fn(RHO_TEST)
    assert got.dtype == np.float64 and got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=rtol)


# ------------------------------------------------------- Exp2 k = 2, j = d - 8 = 3064
def _mc_rho(k: float, j: float, e: float, rho_table: float, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """Monte Carlo check of one level-set point, independent of the W-function/quadrature/root path.

    Samples x ~ q as (||x||, cos angle to v) with ||x||^k ~ Gamma((d-j)/k) and (1 + cos)/2 ~
    Beta((d-1)/2, (d-1)/2), computes the log likelihood ratio L = ln q(x - v) - ln q(x) directly
    from g(r) = r^k + j ln r, and returns (rho_mc, q_v(A)): rho_mc is the q-mass of the NP set
    {L <= median of L under q_v}, q_v(A) the q_v-mass of the NP set of q-mass rho_table.
    """

    def g_sq(r2: np.ndarray) -> np.ndarray:  # g as a function of the squared radius
        return r2 ** (k / 2) + 0.5 * j * np.log(r2)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        r = rng.gamma((D - j) / k, size=n) ** (1 / k)
        cos = 2.0 * rng.beta((D - 1) / 2, (D - 1) / 2, size=n) - 1.0
        return r, cos

    r, cos = draw()
    l_q = g_sq(r * r) - g_sq(r * r - 2 * e * r * cos + e * e)  # x ~ q
    r, cos = draw()
    l_v = g_sq(r * r + 2 * e * r * cos + e * e) - g_sq(r * r)  # x = y + v, y ~ q
    rho_mc = float(np.mean(l_q <= np.median(l_v)))
    qv = float(np.mean(l_v <= np.quantile(l_q, rho_table)))
    return rho_mc, qv


def test_exp2_k2_j3064_level_set_is_sane_and_verified_by_monte_carlo():
    """The reference's table is broken here (first rho 0.454); ours is monotone, convex and checked."""
    k, j = 2, D - 8
    table = T.exp2_l2_table(k, j, D, sq_exp2(k, j))  # validated on construction
    assert 0.5 < table.rho[1] < 0.51
    assert table.max_rho > 0.999
    assert (np.diff(table.rho) > 0).all() and (np.diff(table.radius) > 0).all()
    rng = np.random.default_rng(20200214)
    n = 2_000_000
    for i in (10, 60, 150):
        e, rho = float(table.radius[i]), float(table.rho[i])
        rho_mc, qv = _mc_rho(k, j, e, rho, n, rng)
        tol = 5.0 * math.sqrt(2.0 * rho * (1.0 - rho) / n)
        assert abs(rho_mc - rho) < tol, (i, rho, rho_mc)
        assert abs(qv - 0.5) < 5.0 * math.sqrt(0.5 / n), (i, qv)
    # Below Gaussian noise of the same sigma, but of the same order (README figure).
    gauss = SIGMA * stats.norm.ppf(RHO_TEST)
    ours = SIGMA / sq_exp2(k, j) * T.exp2_l2_radius(RHO_TEST, k, j, D, sq_exp2(k, j))
    assert (ours < gauss).all() and (ours > 0.8 * gauss).all()


def test_monte_carlo_check_detects_a_wrong_table():
    """The Monte Carlo check above has the power to reject a Gaussian-like rho at the same shift."""
    k, j = 2, D - 8
    table = T.exp2_l2_table(k, j, D, sq_exp2(k, j))
    e, rho = float(table.radius[10]), float(table.rho[10])
    wrong = float(stats.norm.cdf(0.1))  # what a Gaussian table gives at eps = 0.1 sigma
    rho_mc, _ = _mc_rho(k, j, e, rho, 2_000_000, np.random.default_rng(7))
    assert abs(rho_mc - wrong) > 5.0 * math.sqrt(2.0 * wrong * (1.0 - wrong) / 2_000_000)


def test_exp2_lambert_boundary_solves_the_level_equation():
    k, j = 2.0, 3064.0
    log_boundary = T._exp2_log_boundary(k, j)
    r = np.array([0.3, 1.0, 2.0, 4.5])
    for t in (-3.0, -0.01, 0.5, 40.0):
        y = log_boundary(r, t)
        for ri, yi in zip(r, y, strict=True):
            target = ri**k + j * math.log(ri) - t
            s_ref = brentq(
                lambda s, target=target: s**k + j * math.log(s) - target, 1e-300, 1e3, xtol=1e-300, rtol=1e-15
            )
            assert ri * math.exp(yi) == pytest.approx(s_ref, rel=1e-12)


# ---------------------------------------------------------------------- lookup soundness
def _gaussian_table(step: float = 0.05, n: int = 60) -> RadiusTable:
    r = step * np.arange(n + 1)
    return RadiusTable(stats.norm.cdf(r), r, "Gaussian test table")


def test_lookup_is_a_lower_bound_on_a_convex_curve():
    table = _gaussian_table()
    rho = np.concatenate([np.random.default_rng(0).uniform(0.5, 1.0, 20000), table.rho])
    got = table.lookup(rho)
    truth = stats.norm.ppf(rho)
    assert (got <= truth + 1e-12).all()
    # ... and never worse than the step lower bound R(rho_idx).
    idx = np.searchsorted(table.rho, rho, side="right") - 1
    assert (got >= table.radius[idx] - 1e-12).all()
    # Exact at the grid points, 0 on the first segment and below 1/2, flat past the last point.
    np.testing.assert_allclose(table.lookup(table.rho), table.radius, rtol=0, atol=1e-15)
    assert (table.lookup(np.linspace(0.5, table.rho[1], 7, endpoint=False)) == 0).all()
    assert (table.lookup([0.0, 0.3, 0.5]) == 0).all()
    beyond = np.linspace(table.max_rho, 1.0, 11)
    assert (table.lookup(beyond) == table.radius[-1]).all()


def test_lookup_uses_previous_secant():
    table = RadiusTable(np.array([0.5, 0.6, 0.7, 0.8]), np.array([0.0, 1.0, 3.0, 6.0]), "toy")
    # On [0.7, 0.8) the previous secant has slope 20: 3 + 20 * 0.05 = 4 (< chord value 4.5).
    assert table.lookup([0.75])[0] == pytest.approx(4.0)
    assert table.lookup([0.65])[0] == pytest.approx(1.5)
    assert table.lookup([0.55])[0] == 0.0
    assert table.lookup([0.95])[0] == 6.0


def test_lookup_rejects_invalid_probabilities():
    table = _gaussian_table()
    for bad in ([np.nan], [1.5], [-0.1]):
        with pytest.raises(ValueError, match="Gaussian test table: rho must contain probabilities"):
            table.lookup(bad)


@pytest.mark.parametrize(
    "rho,radius,match",
    [
        ([0.5, 0.6, 0.7], [0.0, 1.0, 0.5], "radius decreases"),
        ([0.5, 0.6, 0.7, 0.8], [0.0, 2.0, 3.0, 3.5], "not convex"),
        ([0.5, 0.7, 0.6], [0.0, 1.0, 2.0], "rho is not strictly increasing"),
        ([0.5, 0.6, 0.6], [0.0, 1.0, 2.0], "rho is not strictly increasing"),
        ([0.454, 0.6, 0.7], [0.0, 1.0, 2.0], "must start at"),
        ([0.5, 0.6, 0.7], [0.1, 1.0, 2.0], "must start at"),
        ([0.5, 0.9, 1.2], [0.0, 1.0, 3.0], "rho exceeds 1"),
        ([0.5, 0.6, np.nan], [0.0, 1.0, 2.0], "non-finite"),
        ([0.5, 0.6, 0.7], [0.0, 1.0, np.inf], "non-finite"),
        ([0.5], [0.0], "length >= 2"),
    ],
)
def test_invalid_tables_are_rejected(rho, radius, match):
    with pytest.raises(ValueError, match=f"Family\\(x=1\\) table: .*{match}"):
        RadiusTable(np.array(rho, dtype=float), np.array(radius, dtype=float), "Family(x=1) table")


def test_failed_build_raises_value_error_naming_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path))
    key = table_key("toy", "test", {"x": 1}, {"inc": 0.1})

    def nonconvex():
        return np.array([0.5, 0.6, 0.7, 0.8]), np.array([0.0, 2.0, 3.0, 3.5])

    def no_root():
        raise ArithmeticError("no bracket")

    with pytest.raises(ValueError, match="Toy\\(x=1\\) table: table is not convex"):
        tablecache.get_table(key, "Toy(x=1) table", nonconvex)
    with pytest.raises(ValueError, match="Toy\\(x=1\\) table: table computation failed: no bracket"):
        tablecache.get_table(key, "Toy(x=1) table", no_root)
    assert list(tmp_path.iterdir()) == []  # nothing half-built is written


def test_level_set_without_sign_change_fails_explicitly():
    # A boundary independent of t makes pbig constant in t: no bracket can exist.
    with pytest.raises(ArithmeticError, match="no threshold"):
        level_set_table(T._exp2_quantile(2.0, D / 2), lambda r, t: np.zeros_like(r), D, np.array([0.1]))


def test_integrate_intervals():
    a = np.array([1e-6, 0.1, 1.0])
    b = np.array([1e-3, 0.5, 7.0])
    np.testing.assert_allclose(integrate_intervals(lambda x: 1 / x, a, b), np.log(b / a), rtol=1e-12)
    # A kink (piecewise-linear Phi, as for Laplace l-inf) is resolved by subdivision.
    got = integrate_intervals(lambda x: 1 / (1 + np.abs(x - 0.3)), np.array([0.0]), np.array([1.0]))
    assert got[0] == pytest.approx(math.log(1.3) + math.log(1.7), rel=1e-11)
    # Steep but finite near the end point.
    got = integrate_intervals(lambda x: x**-0.5, np.array([1e-8]), np.array([1.0]))
    assert got[0] == pytest.approx(2 * (1 - 1e-4), rel=1e-11)


def test_integrate_intervals_fails_loudly():
    with pytest.raises(ArithmeticError, match="not finite"):
        integrate_intervals(lambda x: np.where(x > 0.3, np.inf, 1.0), np.array([0.0]), np.array([0.5]))
    # A power singularity at the end point cannot be resolved to rtol: error, not a wrong number.
    with pytest.raises(ArithmeticError, match="did not reach"):
        integrate_intervals(lambda x: x**-0.8, np.array([0.0]), np.array([1.0]))


def test_differential_table_of_the_gaussian_phi():
    q = stats.norm.sf(0.01 * np.arange(1, 301))
    rho, radius = differential_table(lambda p: stats.norm.pdf(stats.norm.isf(p)), q)
    assert rho[0] == 0.5 and radius[0] == 0.0
    np.testing.assert_allclose(radius[1:], 0.01 * np.arange(1, 301), rtol=1e-10)


# --------------------------------------------------------------------- parameter checks
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: T.expp_l1_radius([0.6], 1.5), "power"),
        (lambda: T.expp_l1_radius([0.6], 0.0), "power"),
        (lambda: T.exp1_l1_radius([0.6], -1, D), "k"),
        (lambda: T.exp1_l1_radius([0.6], 2, 1), "dim"),
        (lambda: T.expinf_linf_radius([0.6], float("nan"), D), "k"),
        (lambda: T.powinf_linf_radius([0.6], D, D), "a"),
        (lambda: T.exp2_l2_radius([0.6], 2, D, D, 1.0), "j"),
        (lambda: T.exp2_l2_radius([0.6], 2, 0, D, -1.0), "unit_rms"),
        (lambda: T.pow2_l2_radius([0.6], 2, D / 2, D, 1.0), "a"),
        (lambda: T.laplace_linf_radius([0.6], 3.5), "dim"),
        (lambda: T.laplace_linf_radius([0.6], D, inc=0.001, upper=0.0025), "multiple of inc"),
    ],
)
def test_invalid_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_radius_functions_return_float64_zero_below_half():
    out = T.exp1_l1_radius(np.array([0.2, 0.5, 0.9]), 2, D)
    assert out.dtype == np.float64
    assert out[0] == 0.0 and out[1] == 0.0 and out[2] > 0


# --------------------------------------------------------------------------------- cache
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path))
    clear_memory_cache()


def _computed(caplog) -> int:
    return sum("computed radius table" in r.getMessage() for r in caplog.records)


def test_cache_round_trip(tmp_path, monkeypatch, caplog):
    _fresh(tmp_path, monkeypatch)
    caplog.set_level(logging.INFO, logger="randsmooth.sampling.tablecache")
    first = T.exp1_l1_table(3, D)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("exp1-l1-differential-")
    assert not list(tmp_path.glob("*.tmp"))
    assert _computed(caplog) == 1
    assert T.exp1_l1_table(3, D) is first  # in-memory memo, no disk access
    mtime = files[0].stat().st_mtime_ns
    clear_memory_cache()
    second = T.exp1_l1_table(3, D)  # from disk, not recomputed
    assert _computed(caplog) == 1
    assert files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(second.rho, first.rho)
    np.testing.assert_array_equal(second.radius, first.radius)
    clear_memory_cache()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-key", "invalid-table", "float32"])
def test_untrustworthy_cache_file_is_recomputed(tmp_path, monkeypatch, caplog, damage):
    _fresh(tmp_path, monkeypatch)
    caplog.set_level(logging.INFO, logger="randsmooth.sampling.tablecache")
    good = T.exp1_l1_table(3, D)
    (path,) = tmp_path.glob("*.npz")
    key_json = str(np.load(path)["key"])
    if damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "wrong-key":
        np.savez(path, rho=good.rho, radius=good.radius, key=np.array(key_json.replace('"k":3.0', '"k":4.0')))
    elif damage == "invalid-table":
        np.savez(path, rho=good.rho, radius=good.radius[::-1].copy(), key=np.array(key_json))
    else:
        np.savez(path, rho=good.rho.astype(np.float32), radius=good.radius.astype(np.float32), key=np.array(key_json))
    clear_memory_cache()
    again = T.exp1_l1_table(3, D)
    assert _computed(caplog) == 2
    assert any(r.levelname == "WARNING" and "ignoring unusable" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(again.radius, good.radius)
    clear_memory_cache()
    T.exp1_l1_table(3, D)  # the rewritten file is good again
    assert _computed(caplog) == 2
    clear_memory_cache()


def test_unwritable_cache_only_warns(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fresh(blocker / "sub", monkeypatch)
    caplog.set_level(logging.WARNING, logger="randsmooth.sampling.tablecache")
    table = T.expp_l1_table(0.9)
    assert table.max_rho == pytest.approx(0.999)
    assert any("could not write" in r.getMessage() for r in caplog.records)
    clear_memory_cache()


def test_cache_key_changes_with_every_parameter(monkeypatch):
    base = dict(
        family="exp2",
        method="l2-levelset",
        params={"k": 2.0, "j": 0.0, "dim": 3072, "unit_rms": 0.7},
        grid={"type": "sigma", "inc": 0.01, "upper": 3.0},
    )
    variants = [
        dict(base, family="pow2"),
        dict(base, method="l2-other"),
        dict(base, params={**base["params"], "k": 2.5}),
        dict(base, params={**base["params"], "j": 1.0}),
        dict(base, params={**base["params"], "dim": 784}),
        dict(base, params={**base["params"], "unit_rms": 0.7000001}),
        dict(base, grid={**base["grid"], "inc": 0.02}),
        dict(base, grid={**base["grid"], "upper": 4.0}),
        dict(base, grid={**base["grid"], "type": "prob"}),
    ]
    ref = cache_path(table_key(**base))
    paths = {cache_path(table_key(**v)) for v in variants}
    assert ref not in paths and len(paths) == len(variants)
    # ints and floats of equal value give the same key; the schema version is part of it.
    assert cache_path(table_key(**dict(base, params={**base["params"], "k": 2}))) == ref
    monkeypatch.setattr(tablecache, "SCHEMA_VERSION", tablecache.SCHEMA_VERSION + 1)
    assert cache_path(table_key(**base)) != ref


def test_public_functions_key_on_grid(tmp_path, monkeypatch):
    _fresh(tmp_path, monkeypatch)
    T.exp1_l1_table(2, 64)
    T.exp1_l1_table(2, 64, upper=2.0)
    T.expp_l1_table(0.7)
    T.expp_l1_table(0.7, grid_size=500)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert T.exp1_l1_table(2, 64, upper=2.0).max_rho < T.exp1_l1_table(2, 64).max_rho
    clear_memory_cache()


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("RANDSMOOTH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "randsmooth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "randsmooth"


# ------------------------------------------------------------------------ slow sweeps
SWEEP = (
    [("exp2", k, j) for k in (1, 2, 10, 100) for j in (0, 1, 10, 100, 1000)]
    + [("exp2", 2, j) for j in (2048, 3068, 3071)]
    + [("pow2", k, a) for k in (1, 2, 10, 100) for a in ((D + 10) / k, (D + 100) / k, (D + 1000) / k)]
    + [("pow2", 2, a) for a in (1538, 1544)]
    + [("exp1", k, None) for k in (0.5, 3, 4, 20, 50)]
    + [("expinf", k, None) for k in (0.5, 4, 10, 50)]
    + [("powinf", D + a, None) for a in (3, 10, 16, 100, 1000)]
    + [("expp", p, None) for p in (0.05, 0.1, 0.9)]
)


@pytest.mark.slow
@pytest.mark.parametrize("family,x,y", SWEEP, ids=[f"{f}-{x}-{y}" for f, x, y in SWEEP])
def test_reference_parameter_sweep_builds_valid_tables(family, x, y):
    if family == "exp2":
        table = T.exp2_l2_table(x, y, D, sq_exp2(x, y))
    elif family == "pow2":
        table = T.pow2_l2_table(x, y, D, sq_pow2(x, y))
    elif family == "exp1":
        table = T.exp1_l1_table(x, D)
    elif family == "expinf":
        table = T.expinf_linf_table(x, D)
    elif family == "powinf":
        table = T.powinf_linf_table(x, D)
    else:
        table = T.expp_l1_table(x)
    assert table.max_rho > 0.99
    assert (table.lookup(RHO_TEST) > 0).all()


@pytest.mark.slow
def test_exp2_k2_j3071_verified_by_monte_carlo():
    k, j = 2, D - 1
    table = T.exp2_l2_table(k, j, D, sq_exp2(k, j))
    rng = np.random.default_rng(3071)
    for i in (1, 30, 150):
        e, rho = float(table.radius[i]), float(table.rho[i])
        rho_mc, qv = _mc_rho(k, j, e, rho, 4_000_000, rng)
        assert abs(rho_mc - rho) < 5.0 * math.sqrt(2.0 * rho * (1.0 - rho) / 4_000_000), (i, rho, rho_mc)


@pytest.mark.slow
def test_imagenet_dimension_tables():
    d = 150528
    rho = np.arange(0.51, 0.99, 0.01)
    np.testing.assert_allclose(T.laplace_linf_radius(rho, d), stats.norm.ppf(rho) / math.sqrt(d), rtol=1e-3)
    sq = sq_exp2(2, 0, d)
    np.testing.assert_allclose(T.exp2_l2_radius(rho, 2, 0, d, sq), stats.norm.ppf(rho) / math.sqrt(2), rtol=1e-3)
    sq = sq_exp2(1, 0, d)
    np.testing.assert_allclose(T.exp2_l2_radius(rho, 1, 0, d, sq), exp2_k1_closed(rho, d), rtol=1e-2)
    assert os.environ.get("RANDSMOOTH_CACHE_DIR")
