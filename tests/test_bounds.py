"""Tests for randsmooth.bounds against the reference test vectors and independent computations.

Reference values are compared to the precision at which they are printed in
the papers' specifications (half a unit in the last printed digit), see ``assert_printed``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import beta, binom, binomtest, norm

from randsmooth.bounds import (
    CostSensitiveRadius,
    cost_sensitive_radius,
    cp_lower,
    cp_upper,
    max_radius,
    predict_abstains,
    predict_pvalue,
)

N = 100_000


def assert_printed(actual: float, printed: str, rel: float = 0.0) -> None:
    """``actual`` rounds to ``printed``: |actual - value| <= half a unit of the last printed digit.

    ``rel`` optionally adds a relative tolerance (for values printed with few significant digits).
    """
    mantissa = printed.lower().split("e")[0]
    exponent = int(printed.lower().split("e")[1]) if "e" in printed.lower() else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    tol = 0.5 * 10.0 ** (exponent - decimals) * (1 + 1e-9) + rel * abs(float(printed))
    assert abs(float(actual) - float(printed)) <= tol, f"{actual!r} does not round to {printed}"


# ------------------------------------------------------------------------- Cohen 2019 section 3
COHEN_LADDER = [  # n_A, p_lower (8 dp), R/sigma (6 dp); n = 1e5, alpha = 0.001
    (100000, "0.99993092", "3.811457"),
    (99999, "0.99990767", "3.739127"),
    (99990, "0.99975868", "3.490208"),
    (99900, "0.99865099", "3.000201"),
    (99000, "0.98898934", "2.290000"),
    (95000, "0.94783490", "1.624214"),
    (90000, "0.89703650", "1.264845"),
    (75000, "0.74574684", "0.661165"),
    (60000, "0.59520105", "0.240945"),
    (50500, "0.50010895", "0.000273"),
]


@pytest.mark.parametrize("n_a, p_str, r_str", COHEN_LADDER)
def test_cohen_ladder(n_a: int, p_str: str, r_str: str) -> None:
    p = cp_lower(n_a, N, 0.001)
    assert_printed(p, p_str)
    assert_printed(norm.ppf(p), r_str)
    # sigma scaling: the radius is sigma * Phi^{-1}(p)
    assert 0.25 * norm.ppf(p) == pytest.approx(0.25 * float(r_str), rel=1e-6, abs=5e-7)


def test_cohen_ladder_vectorised() -> None:
    ks = np.array([row[0] for row in COHEN_LADDER])
    expected = np.array([float(row[1]) for row in COHEN_LADDER])
    np.testing.assert_allclose(cp_lower(ks, N, 0.001), expected, atol=5e-9, rtol=0)


def test_cohen_top_bound_is_alpha_root() -> None:
    assert cp_lower(N, N, 0.001) == pytest.approx(0.001 ** (1 / N), rel=1e-14)
    assert norm.ppf(cp_lower(N, N, 0.001)) == pytest.approx(max_radius(N, 0.001, 1.0), rel=1e-9)


@pytest.mark.parametrize("alpha, first", [(0.001, 50490), (0.01, 50369)])
def test_smallest_non_abstaining_count(alpha: float, first: int) -> None:
    ks = np.arange(50000, 51000)
    certified = ks[cp_lower(ks, N, alpha) >= 0.5]
    assert certified[0] == first
    assert np.all(cp_lower(ks[ks >= first], N, alpha) >= 0.5)


def test_ceiling_alpha_001() -> None:
    assert_printed(max_radius(N, 0.01, 1.0), "3.910510")
    assert_printed(norm.ppf(cp_lower(N, N, 0.01)), "3.910510")


MAX_RADIUS_TABLE = [  # n, (alpha=0.001, 0.01, 0.05), Cohen et al. 2019, reference test vectors
    (100, ("1.5005", "1.6953", "1.8880")),
    (1000, ("2.4633", "2.6049", "2.7487")),
    (10**4, ("3.1986", "3.3137", "3.4320")),
    (10**5, ("3.8115", "3.9105", "4.0132")),
    (10**6, ("4.3468", "4.4349", "4.5267")),
]


@pytest.mark.parametrize("n, values", MAX_RADIUS_TABLE)
def test_max_radius_table_cohen(n: int, values: tuple[str, str, str]) -> None:
    for alpha, printed in zip((0.001, 0.01, 0.05), values, strict=True):
        assert_printed(max_radius(n, alpha, 1.0), printed)
        # = the radius at n_A = n (independently: Beta(n, 1) quantile = alpha^(1/n))
        assert max_radius(n, alpha, 1.0) == pytest.approx(norm.ppf(beta.ppf(alpha, n, 1)), rel=1e-9)
        assert max_radius(n, alpha, 0.5) == pytest.approx(0.5 * max_radius(n, alpha, 1.0), rel=1e-15)


SUN_TABLE = [  # Sun et al. 2025, reference test vectors
    (1e2, "1.500", "1.695"),
    (1e3, "2.463", "2.605"),
    (1e4, "3.199", "3.314"),
    (1e5, "3.811", "3.911"),
    (1e6, "4.347", "4.435"),
    (1e8, "5.268", "5.342"),
    (1e10, "6.058", "6.123"),
]


@pytest.mark.parametrize("n, r001, r01", SUN_TABLE)
def test_max_radius_table_sun(n: float, r001: str, r01: str) -> None:
    assert_printed(max_radius(int(n), 0.001, 1.0), r001)
    assert_printed(max_radius(int(n), 0.01, 1.0), r01)
    # independent: 1 - alpha^(1/n) via log1p-free series is exact enough for the tail
    t = -np.expm1(np.log(0.001) / n)
    assert max_radius(int(n), 0.001, 1.0) == pytest.approx(norm.isf(t), rel=1e-12)


def test_max_radius_caps_and_logged_format() -> None:
    caps = max_radius(N, 0.001, np.array([0.25, 0.5, 1.0]))
    for cap, printed, logged in zip(caps, ("0.953", "1.906", "3.811"), ("0.953", "1.91", "3.81"), strict=True):
        assert_printed(cap, printed)
        assert "{:.3}".format(cap) == logged


def test_max_radius_smallest_budget() -> None:
    """n = 1 is a valid budget (the bound is alpha itself: a negative radius); n = 0 is refused."""
    assert max_radius(1, 0.001, 0.5) == pytest.approx(0.5 * norm.ppf(0.001), rel=1e-12)
    with pytest.raises(ValueError, match="n must be >= 1"):
        max_radius(0, 0.001, 0.5)


def test_max_radius_broadcasting() -> None:
    out = max_radius(np.array([[100], [1000]]), np.array([0.001, 0.01, 0.05]), 1.0)
    assert out.shape == (2, 3)
    assert_printed(out[1, 2], "2.7487")


def test_max_radius_huge_n_is_finite_and_increasing() -> None:
    ns = np.array([10**8, 10**10, 10**12, 10**15])
    r = max_radius(ns, 0.001, 1.0)
    assert np.all(np.isfinite(r)) and np.all(np.diff(r) > 0)
    # Phi^{-1}(1 - t) ~ sqrt(2 ln(1/t)) growth: compare with the exact tail t = ln(1/alpha)/n
    np.testing.assert_allclose(r, norm.isf(np.log(1000) / ns), rtol=1e-6)


# ------------------------------------------------------------------ Cohen 2019 section 16
@pytest.mark.parametrize(
    "sigma, alpha, written",
    [
        (0.25, 0.01, ["0.978", "0.955", "0.941", "0.929", "0.92", "0.913"]),
        (0.12, 0.001, ["0.457", "0.449", "0.443", "0.438", "0.434", "0.431"]),
    ],
)
def test_written_radius_ladders(sigma: float, alpha: float, written: list[str]) -> None:
    ks = N - np.arange(len(written))
    radii = sigma * norm.ppf(cp_lower(ks, N, alpha))
    assert ["{:.3}".format(r) for r in radii] == written


def test_cohen_check7_cross_spec() -> None:
    got = cp_lower([60000, 90000, 99000, 100000], N, 0.001)
    for value, printed in zip(got, ("0.595201", "0.897036", "0.988989", "0.999931"), strict=True):
        assert_printed(value, printed)


# ------------------------------------------------------------------------------- PREDICT
def test_predict_pvalues_small_n() -> None:
    assert_printed(predict_pvalue(10, 0), "0.001953")
    assert_printed(predict_pvalue(11, 0), "0.000977")
    assert predict_pvalue(10, 0) == pytest.approx(2 * 0.5**10, rel=1e-12)
    assert bool(predict_abstains(10, 0, 0.001)) is True
    assert bool(predict_abstains(11, 0, 0.001)) is False
    # n <= 10 always abstains at alpha = 0.001
    n1 = np.arange(1, 11)
    assert np.all(predict_abstains(n1, 0, 0.001))


def test_predict_matches_scipy_binomtest() -> None:
    rng = np.random.default_rng(0)
    n1 = rng.integers(0, 400, size=200)
    n2 = (rng.random(200) * (n1 + 1)).astype(int)
    n2 = np.minimum(n2, n1)
    pairs = list(zip(n1, n2, strict=True)) + [(500, 480), (5, 5), (6, 5), (50600, 49400), (100, 0)]
    a1 = np.array([p[0] for p in pairs])
    a2 = np.array([p[1] for p in pairs])
    got = predict_pvalue(a1, a2)
    for (x1, x2), p in zip(pairs, got, strict=True):
        expected = 1.0 if x1 + x2 == 0 else binomtest(int(x1), int(x1 + x2), 0.5).pvalue
        assert p == pytest.approx(expected, rel=1e-9, abs=1e-300), (x1, x2)
    np.testing.assert_array_equal(predict_abstains(a1, a2, 0.01), got > 0.01)


def test_predict_ties_abstain() -> None:
    assert predict_pvalue(7, 7) == 1.0
    assert predict_pvalue(0, 0) == 1.0
    assert bool(predict_abstains(50000, 50000, 0.5)) is True


def test_predict_broadcasting() -> None:
    out = predict_abstains(np.array([[20], [11], [10]]), 0, np.array([0.001, 0.01]))
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out, [[False, False], [False, False], [True, False]])


# ----------------------------------------------------------------------- Yang 2020 / rs4a
YANG_TABLE = [  # k, two-sided alpha = 0.001, one-sided alpha = 0.001
    (50000, "0.494792", "0.495109"),
    (60000, "0.594890", "0.595201"),
    (90000, "0.896843", "0.897036"),
    (99000, "0.988922", "0.988989"),
    (99990, "0.999747", "0.999759"),
    (100000, "0.999924", "0.999931"),
]


@pytest.mark.parametrize("k, two, one", YANG_TABLE)
def test_yang_cp_table(k: int, two: str, one: str) -> None:
    assert_printed(cp_lower(k, N, 0.001, two_sided=True), two)
    assert_printed(cp_lower(k, N, 0.001), one)
    assert cp_lower(k, N, 0.001, two_sided=True) == cp_lower(k, N, 0.0005)


def test_yang_end_to_end() -> None:
    sigma = 0.5
    rho = cp_lower(90000, N, 0.001, two_sided=True)
    assert_printed(rho, "0.896843")
    lam_uniform = np.sqrt(3.0) * sigma
    lam_laplace = sigma / np.sqrt(2.0)
    assert_printed(2 * lam_uniform * (rho - 0.5), "0.687352")
    assert_printed(-lam_laplace * np.log(2 * (1 - rho)), "0.558033")
    assert_printed(sigma * norm.ppf(rho), "0.631883")


def test_two_sided_upper_is_alpha_half() -> None:
    assert cp_upper(2000, N, 0.001, two_sided=True) == cp_upper(2000, N, 0.0005)


# -------------------------------------------------------------- Xin 2025 spot values (8)
def test_xin_spot_values() -> None:
    assert_printed(cp_lower(60000, N, 0.001), "0.595201")
    assert_printed(cp_lower(60000, N, 0.0005), "0.594890")
    assert_printed(cp_upper(2000, N, 0.0005), "0.021498")
    assert_printed(cp_upper(0, N, 0.0005), "0.000076")
    assert_printed(cp_lower(100000, N, 0.001), "0.999931")


# ---------------------------------------------------- independent Clopper-Pearson checks
def _brute_lower(k: int, n: int, a: float) -> float:
    """Root of P[X >= k | p] = a (exact binomial tail inversion)."""
    if k == 0:
        return 0.0
    return brentq(lambda p: binom.sf(k - 1, n, p) - a, 0.0, 1.0, xtol=1e-15, rtol=1e-14)


def _brute_upper(k: int, n: int, a: float) -> float:
    """Root of P[X <= k | p] = a."""
    if k == n:
        return 1.0
    return brentq(lambda p: binom.cdf(k, n, p) - a, 0.0, 1.0, xtol=1e-15, rtol=1e-14)


def test_cp_matches_binomial_inversion_random() -> None:
    rng = np.random.default_rng(12345)
    ns = rng.integers(1, 3000, size=60)
    ks = (rng.random(60) * (ns + 1)).astype(int)
    ks[:5] = 0
    ks[5:10] = ns[5:10]
    alphas = rng.choice([0.2, 0.05, 0.01, 0.001, 1e-6], size=60)
    low = cp_lower(ks, ns, alphas)
    up = cp_upper(ks, ns, alphas)
    for k, n, a, lo, hi in zip(ks, ns, alphas, low, up, strict=True):
        assert lo == pytest.approx(_brute_lower(int(k), int(n), a), rel=1e-7, abs=1e-12), (k, n, a)
        assert hi == pytest.approx(_brute_upper(int(k), int(n), a), rel=1e-7, abs=1e-12), (k, n, a)
        assert lo <= k / n <= hi


def test_cp_matches_scipy_exact_interval() -> None:
    # scipy's exact two-sided interval at confidence 1 - 2a has one-sided level a at each end.
    for k, n, a in [(60000, N, 0.001), (3, 10, 0.05), (99, 100, 0.01), (0, 50, 0.1), (50, 50, 0.1)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * a, method="exact")
        assert cp_lower(k, n, a) == pytest.approx(ci.low, rel=1e-9, abs=1e-15)
        assert cp_upper(k, n, a) == pytest.approx(ci.high, rel=1e-9, abs=1e-15)


def test_cp_edge_cases() -> None:
    assert cp_lower(0, 10, 0.05) == 0.0
    assert cp_upper(10, 10, 0.05) == 1.0
    assert cp_lower(1, 1, 0.05) == pytest.approx(0.05, rel=1e-12)  # Beta(1, 1) = U(0, 1)
    assert cp_upper(0, 1, 0.05) == pytest.approx(0.95, rel=1e-12)
    assert cp_lower(10, 10, 0.05) == pytest.approx(0.05**0.1, rel=1e-12)
    assert cp_upper(0, 10, 0.05) == pytest.approx(1 - 0.05**0.1, rel=1e-12)
    # symmetry: upper(k) = 1 - lower(n - k)
    assert cp_upper(37, 100, 0.01) == pytest.approx(1 - cp_lower(63, 100, 0.01), rel=1e-12)
    assert isinstance(cp_lower(5, 10, 0.05), np.floating)
    assert float(cp_lower(5.0, 10.0, 0.05)) == float(cp_lower(5, 10, 0.05))


def test_cp_mixed_arrays_and_broadcasting() -> None:
    ks = np.array([0, 1, 50, 99, 100])
    low = cp_lower(ks, 100, 0.01)
    up = cp_upper(ks, 100, 0.01)
    assert low.shape == up.shape == (5,)
    assert low[0] == 0.0 and up[-1] == 1.0
    assert np.all(np.diff(low) > 0) and np.all(np.diff(up) > 0)
    grid = cp_lower(np.array([[10], [20]]), np.array([20, 40, 80]), np.array([0.01, 0.05, 0.1]))
    assert grid.shape == (2, 3)
    assert grid[1, 0] == cp_lower(20, 20, 0.01)
    assert grid[0, 2] == cp_lower(10, 80, 0.1)
    # monotone in alpha: larger alpha -> tighter (larger) lower bound
    assert cp_lower(60, 100, 0.1) > cp_lower(60, 100, 0.01)


# ---------------------------------------------------------------------- input validation
INVALID = [
    (cp_lower, (5, 10, 1.5), {}, "alpha must be in (0, 1), got 1.5"),
    (cp_lower, (5, 10, 0.0), {}, "alpha"),
    (cp_lower, (5, 10, -0.1), {}, "alpha"),
    (cp_lower, (5, 10, np.nan), {}, "alpha"),
    (cp_lower, (5, 10, [0.01, 1.0]), {}, "alpha"),
    (cp_lower, (11, 10, 0.01), {}, "k must be <= n"),
    (cp_lower, ([1, 11], 10, 0.01), {}, "k must be <= n"),
    (cp_lower, (-1, 10, 0.01), {}, "k must be >= 0"),
    (cp_lower, (0, 0, 0.01), {}, "n must be >= 1"),
    (cp_lower, (2.5, 10, 0.01), {}, "k must contain whole numbers"),
    (cp_lower, (2, 10.5, 0.01), {}, "n must contain whole numbers"),
    (cp_lower, (np.nan, 10, 0.01), {}, "k must not contain NaN"),
    (cp_lower, (np.inf, 10, 0.01), {}, "k must contain whole numbers"),
    (cp_lower, (True, 10, 0.01), {}, "k must be numeric"),
    (cp_lower, ("3", 10, 0.01), {}, "k must be numeric"),
    (cp_lower, ([1, 2], [10, 10, 10], 0.01), {}, "cannot be broadcast"),
    (cp_lower, (5, 10, 0.01), {"two_sided": "yes"}, "two_sided"),
    (cp_upper, (5, 10, 1.0), {}, "alpha"),
    (cp_upper, (11, 10, 0.01), {}, "k must be <= n"),
    (cp_upper, (-2, 10, 0.01), {}, "k must be >= 0"),
    (cp_upper, (1, 0, 0.01), {}, "n must be >= 1"),
    (cp_upper, (1.5, 10, 0.01), {}, "k must contain whole numbers"),
    (predict_pvalue, (3, 5), {}, "n1 must be >= n2"),
    (predict_pvalue, (-3, 0), {}, "n1 must be >= 0"),
    (predict_pvalue, (3, 0.5), {}, "n2 must contain whole numbers"),
    (predict_abstains, (10, 0, 2.0), {}, "alpha must be in (0, 1)"),
    (predict_abstains, (10, 0, np.nan), {}, "alpha"),
    (max_radius, (100, 0.001, -0.5), {}, "sigma must be a positive finite number"),
    (max_radius, (100, 0.001, 0.0), {}, "sigma"),
    (max_radius, (100, 0.001, np.nan), {}, "sigma"),
    (max_radius, (0, 0.001, 0.5), {}, "n must be >= 1"),
    (max_radius, (100.5, 0.001, 0.5), {}, "n must contain whole numbers"),
    (max_radius, (100, 1.0, 0.5), {}, "alpha"),
]


@pytest.mark.parametrize("func, args, kwargs, message", INVALID)
def test_invalid_inputs_raise_value_error(func, args, kwargs, message: str) -> None:
    with pytest.raises(ValueError) as info:
        func(*args, **kwargs)
    assert message in str(info.value)


# ----------------------------------------------------------- Xin 2025 cost-sensitive radius
ALL_BUT_3 = [0, 1, 2, 4, 5, 6, 7, 8, 9]
# id: counts, cA, Omega, pred (-1 = abstain), cB, r1, r2 code, r code, r2 paper, r paper, correct
XIN_VECTORS = {
    "A": (
        {2: 20000, 3: 60000, 5: 2000, 6: 18000},
        3,
        [5],
        3,
        5,
        "0.120472",
        "0.565971",
        "0.565971",
        "0.565971",
        "0.565971",
        1,
    ),
    "B": (
        {2: 30000, 3: 45000, 5: 500, 6: 24500},
        3,
        [5],
        -1,
        5,
        "-0.068979",
        "0.596679",
        "0.596679",
        "0.596679",
        "0.596679",
        1,
    ),
    "C": (
        {2: 15000, 3: 60000, 4: 5000, 5: 10000, 6: 10000},
        3,
        [2, 4, 5],
        3,
        2,
        "0.120472",
        "0.315549",
        "0.315549",
        "0.314800",
        "0.314800",
        1,
    ),
    "D": (
        {2: 8000, 3: 80000, 5: 12000},
        3,
        ALL_BUT_3,
        3,
        5,
        "0.413826",
        "0.497076",
        "0.497076",
        "0.495473",
        "0.495473",
        1,
    ),
    "E": (
        {2: 10000, 3: 20000, 5: 70000},
        5,
        [5],
        5,
        5,
        "0.255756",
        "-0.006864",
        "0.255756",
        "-0.006864",
        "0.255756",
        0,
    ),
    "F": ({2: 10, 3: 99990}, 3, [5], 3, 5, "1.745104", "1.816453", "1.816453", "1.816453", "1.816453", 1),
    "G": ({3: 100000}, 3, [5], 3, 5, "1.905728", "1.893879", "1.905728", "1.893879", "1.905728", 1),
    "H": (
        {1: 30000, 3: 52000, 5: 9000, 9: 9000},
        3,
        [2, 4, 5, 7, 9],
        3,
        5,
        "0.018944",
        "0.340550",
        "0.340550",
        "0.339285",
        "0.339285",
        1,
    ),
    "I": ({3: 40000, 5: 5000, 6: 55000}, 6, [5], 6, 5, "0.056683", "0.433864", "0.433864", "0.433864", "0.433864", 1),
}


def _counts(nonzero: dict[int, int], k: int = 10) -> np.ndarray:
    out = np.zeros(k, dtype=np.int64)
    for cls, c in nonzero.items():
        out[cls] = c
    return out


def _sound_reference(counts: np.ndarray, c_a: int, omega: list[int], alpha: float, sigma: float) -> float:
    """Independent computation of the default radius max(r1_shared, r2) with scipy directly."""
    n = int(counts.sum())
    n_a = int(counts[c_a])
    p_a = beta.ppf(alpha / 2, n_a, n - n_a + 1) if n_a > 0 else 0.0
    a_b = alpha / (2 * len(omega))
    ucbs = [1.0 if counts[j] == n else beta.ppf(1 - a_b, counts[j] + 1, n - counts[j]) for j in omega]
    r2 = sigma / 2 * (norm.ppf(p_a) - norm.ppf(max(ucbs)))
    return max(sigma * norm.ppf(p_a), r2)


@pytest.mark.parametrize("vid", sorted(XIN_VECTORS))
def test_xin_certification_vectors(vid: str) -> None:
    nonzero, c_a, omega, pred, c_b, r1, r2_code, r_code, r2_paper, r_paper, correct = XIN_VECTORS[vid]
    counts = _counts(nonzero)
    res = cost_sensitive_radius(counts, c_a, omega, 0.001, 0.5)
    leg = cost_sensitive_radius(counts, c_a, omega, 0.001, 0.5, legacy_alpha=True)
    assert isinstance(res, CostSensitiveRadius)
    for out in (res, leg):
        assert int(out.c_b) == c_b
        assert_printed(out.r_std, r1)
        assert bool(out.abstain) == (pred == -1)
        assert int(out.n_a) == counts[c_a] and int(out.n_b) == counts[c_b] and int(out.n) == N
        rest = N - counts[c_a]
        assert float(out.mass) == pytest.approx(counts[c_b] / rest if rest else 0.0, rel=1e-15)
        # 'correct' column of the reference: predicted class (c_A unless abstained) not in Omega
        predicted = -1 if out.abstain else c_a
        assert int(predicted not in omega) == correct
    # default = the paper's alpha_B = alpha / (2 |Omega|)
    assert_printed(res.r_cs, r2_paper)
    # 'r paper' is max(r1, r2) only under the reference's (2 alpha) combination ...
    assert_printed(max(res.r_std, res.r_cs), r_paper)
    # ... our default shares alpha/2 between the two certificates and can only be smaller
    expected = _sound_reference(counts, c_a, omega, 0.001, 0.5)
    assert float(res.r) == pytest.approx(expected, rel=1e-9)
    assert float(res.r) <= float(r_paper) + 5e-7
    assert float(res.r) <= max(float(res.r_std), float(res.r_cs))
    # legacy reproduces the code columns, including r
    assert_printed(leg.r_cs, r2_code)
    assert_printed(leg.r, r_code)
    assert float(leg.r) == max(float(leg.r_std), float(leg.r_cs))


def test_xin_vectors_batched_match_single() -> None:
    """All vectors with |Omega| = 1 in one (N, K) call; per-row top_class."""
    ids = [v for v in sorted(XIN_VECTORS) if XIN_VECTORS[v][2] == [5]]
    counts = np.stack([_counts(XIN_VECTORS[v][0]) for v in ids])
    tops = np.array([XIN_VECTORS[v][1] for v in ids])
    batch = cost_sensitive_radius(counts, tops, [5], 0.001, 0.5)
    assert batch.r.shape == (len(ids),)
    for i, v in enumerate(ids):
        single = cost_sensitive_radius(counts[i], int(tops[i]), [5], 0.001, 0.5)
        for field in ("r", "r_std", "r_shared", "r_cs", "c_b", "n_a", "n_b", "mass", "abstain"):
            assert getattr(batch, field)[i] == getattr(single, field), (v, field)


def test_xin_extra_vectors() -> None:
    a = _counts(XIN_VECTORS["A"][0])
    res = cost_sensitive_radius(a, 3, [5], 0.001, 0.25)
    assert_printed(res.r_std, "0.060236")
    # The spec's 0.282986 is half of the rounded 0.565971 (double rounding); the exact value is
    # 0.5659707674 / 2 = 0.2829853837, so allow one unit in the last printed digit here.
    assert abs(res.r_cs - 0.282986) <= 1e-6
    assert_printed(res.r_cs, "0.2829854")
    assert res.r == res.r_cs
    # radii are linear in sigma
    half = cost_sensitive_radius(a, 3, [5], 0.001, 0.5)
    assert 2 * res.r == pytest.approx(half.r, rel=1e-14)

    small = cost_sensitive_radius(_counts({2: 2000, 3: 6000, 5: 200, 6: 1800}), 3, [5], 0.001, 0.5)
    assert int(small.n) == 10_000
    assert_printed(small.r_std, "0.1070")
    assert_printed(small.r_cs, "0.5427")
    assert_printed(small.r, "0.5427")

    ham = cost_sensitive_radius([70000, 30000, 0, 0], 0, [1], 0.001, 0.25)
    ham_leg = cost_sensitive_radius([70000, 30000, 0, 0], 0, [1], 0.001, 0.25, legacy_alpha=True)
    assert_printed(ham.r_std, "0.1279")
    assert_printed(ham.r_cs, "0.1277")
    assert_printed(ham_leg.r, "0.1279")  # reference convention: max(r1 at alpha, r2)
    assert_printed(max(ham.r_std, ham.r_cs), "0.1279")
    assert float(ham.mass) == 1.0
    # sound default: both certificates from the alpha/2 lower bound -> below the reference value
    assert float(ham.r) == pytest.approx(_sound_reference(np.array([70000, 30000, 0, 0]), 0, [1], 0.001, 0.25))
    assert float(ham.r) < float(ham_leg.r)


def test_xin_variants_agree_when_single_target() -> None:
    rng = np.random.default_rng(7)
    counts = rng.multinomial(10_000, rng.dirichlet(np.ones(10)), size=50)
    tops = counts.argmax(axis=1)
    target = [(int(t) + 1) % 10 for t in tops[:1]]
    res = cost_sensitive_radius(counts, tops, target, 0.01, 0.5)
    leg = cost_sensitive_radius(counts, tops, target, 0.01, 0.5, legacy_alpha=True)
    np.testing.assert_array_equal(res.r_cs, leg.r_cs)
    assert res.alpha_b == leg.alpha_b == 0.005
    np.testing.assert_array_equal(leg.r, np.maximum(leg.r_std, leg.r_cs))


def test_xin_invariants() -> None:
    rng = np.random.default_rng(11)
    counts = rng.multinomial(20_000, rng.dirichlet(np.ones(10) * 0.5), size=200)
    tops = rng.integers(0, 10, size=200)
    omega = [2, 4, 5]
    res = cost_sensitive_radius(counts, tops, omega, 0.001, 0.5)
    leg = cost_sensitive_radius(counts, tops, omega, 0.001, 0.5, legacy_alpha=True)
    # c_A in Omega => r2 < 0
    in_omega = np.isin(tops, omega)
    assert np.all(res.r_cs[in_omega] < 0) and np.all(leg.r_cs[in_omega] < 0)
    # r >= r1 in the reference convention; r >= both shared certificates in the default
    assert np.all(leg.r >= leg.r_std)
    assert np.all(res.r >= res.r_shared) and np.all(res.r >= res.r_cs)
    # default never exceeds the reference 'paper' or 'code' values
    assert np.all(res.r <= np.maximum(res.r_std, res.r_cs))
    assert np.all(res.r <= leg.r)
    assert np.all(res.r_shared <= res.r_std)
    # c_B = first maximum-count class in Omega order
    sub = counts[:, omega]
    for i in range(len(counts)):
        best = max(sub[i])
        assert res.c_b[i] == next(j for j in omega if counts[i, j] == best)
    assert res.alpha_a == 0.0005
    assert res.alpha_b == pytest.approx(0.001 / 6) and leg.alpha_b == pytest.approx(0.0015)


def test_xin_tie_break_follows_target_order() -> None:
    counts = _counts({1: 30000, 3: 52000, 5: 9000, 9: 9000})
    assert int(cost_sensitive_radius(counts, 3, [2, 4, 5, 7, 9], 0.001, 0.5).c_b) == 5
    assert int(cost_sensitive_radius(counts, 3, [9, 5], 0.001, 0.5).c_b) == 9


def test_xin_r2_increases_as_nb_decreases() -> None:
    n_b = np.arange(0, 20001, 1000)
    rows = np.zeros((len(n_b), 10), dtype=np.int64)
    rows[:, 3] = 60000
    rows[:, 5] = n_b
    rows[:, 6] = 40000 - n_b
    res = cost_sensitive_radius(rows, 3, [5], 0.001, 0.5)
    assert np.all(np.diff(res.r_cs) < 0)
    assert np.all(res.r_std == res.r_std[0])


def test_xin_pair_mode_min_equals_group() -> None:
    rng = np.random.default_rng(3)
    counts = rng.multinomial(5000, rng.dirichlet(np.ones(8)), size=100)
    tops = counts.argmax(axis=1)
    omega = [6, 1, 3, 7]
    for legacy in (False, True):
        group = cost_sensitive_radius(counts, tops, omega, 0.01, 0.25, legacy_alpha=legacy)
        pair = cost_sensitive_radius(counts, tops, omega, 0.01, 0.25, mode="pair", legacy_alpha=legacy)
        assert group.r_pair is None and group.r_pair_certified is None
        assert pair.r_pair.shape == (100, len(omega))
        np.testing.assert_array_equal(pair.r_pair.min(axis=1), group.r_cs)
        np.testing.assert_array_equal(pair.r_cs, group.r_cs)
        np.testing.assert_array_equal(pair.r, group.r)
        base = group.r_std if legacy else group.r_shared
        np.testing.assert_array_equal(pair.r_pair_certified, np.maximum(base[:, None], pair.r_pair))
    # independent per-target value
    i, j = 0, 2
    n = counts[i].sum()
    a_b = 0.01 / (2 * len(omega))
    p_a = beta.ppf(0.005, counts[i, tops[i]], n - counts[i, tops[i]] + 1)
    ucb = beta.ppf(1 - a_b, counts[i, omega[j]] + 1, n - counts[i, omega[j]])
    pair = cost_sensitive_radius(counts, tops, omega, 0.01, 0.25, mode="pair")
    assert pair.r_pair[i, j] == pytest.approx(0.125 * (norm.ppf(p_a) - norm.ppf(ucb)), rel=1e-9)
    single = cost_sensitive_radius(counts[0], int(tops[0]), omega, 0.01, 0.25, mode="pair")
    assert single.r_pair.shape == (len(omega),)


def test_xin_extreme_counts_are_infinite_not_nan() -> None:
    # n_A = 0 -> LCB = 0 -> r_std = -inf; target holding every sample -> UCB = 1 -> r_cs = -inf
    res = cost_sensitive_radius([0, 100, 0], 0, [1], 0.01, 0.5)
    assert res.r_std == -np.inf and res.r_cs == -np.inf and res.r == -np.inf
    res = cost_sensitive_radius([100, 0, 0], 0, [0], 0.01, 0.5)  # c_A in Omega, n_A = n
    assert res.r_cs == -np.inf and res.r > 0  # Cohen certificate of a sensitive class, see docstring
    assert float(res.mass) == 0.0
    assert not np.isnan(cost_sensitive_radius([0, 0, 1], 2, [0, 1], 0.5, 1.0).r)


def test_xin_max_radius_consistency() -> None:
    res = cost_sensitive_radius([0, 100000, 0], 1, [0], 0.001, 0.5)
    assert float(res.r_std) == pytest.approx(max_radius(100000, 0.001, 0.5), rel=1e-12)
    assert float(res.r_shared) == pytest.approx(max_radius(100000, 0.0005, 0.5), rel=1e-12)


CS_INVALID = [
    (([1, 2, 3], 0, [], 0.01, 0.5), {}, "targets must be non-empty"),
    (([1, 2, 3], 0, [3], 0.01, 0.5), {}, "targets must be in [0, 3)"),
    (([1, 2, 3], 0, [-1], 0.01, 0.5), {}, "targets must be in"),
    (([1, 2, 3], 0, [1, 1], 0.01, 0.5), {}, "targets must not contain duplicates"),
    (([1, 2, 3], 0, [1.0], 0.01, 0.5), {}, "targets must contain integer"),
    (([1, 2, 3], 0, 1, 0.01, 0.5), {}, "targets must be a sequence"),
    (([1, 2, 3], 3, [1], 0.01, 0.5), {}, "top_class must be in [0, 3)"),
    (([1, 2, 3], -1, [1], 0.01, 0.5), {}, "top_class must be >= 0"),
    (([1, 2, 3], 0.5, [1], 0.01, 0.5), {}, "top_class must contain whole numbers"),
    (([[1, 2, 3]] * 2, [0, 1, 2], [1], 0.01, 0.5), {}, "top_class must be an int or have shape (2,)"),
    (([1, 2, 3], [0], [1], 0.01, 0.5), {}, "top_class must be an int"),
    (([1, 2, 3], 0, [1], 1.5, 0.5), {}, "alpha must be in (0, 1), got 1.5"),
    (([1, 2, 3], 0, [1], [0.1, 0.2], 0.5), {}, "alpha must be a scalar"),
    (([1, 2, 3], 0, [1], 0.01, -0.5), {}, "sigma must be a positive finite number"),
    (([1, 2, 3], 0, [1], 0.01, np.nan), {}, "sigma"),
    (([1, -2, 3], 0, [1], 0.01, 0.5), {}, "counts must be >= 0"),
    (([1, 2.5, 3], 0, [1], 0.01, 0.5), {}, "counts must contain whole numbers"),
    (([1, np.nan, 3], 0, [1], 0.01, 0.5), {}, "counts must not contain NaN"),
    (([0, 0, 0], 0, [1], 0.01, 0.5), {}, "counts rows must sum to n >= 1"),
    ((np.ones((2, 2, 3)), 0, [1], 0.01, 0.5), {}, "counts must have shape (K,) or (N, K)"),
    (([1, 2, 3], 0, [1], 0.01, 0.5), {"mode": "groups"}, "mode must be one of"),
    (([1, 2, 3], 0, [1], 0.01, 0.5), {"legacy_alpha": "yes"}, "legacy_alpha must be a bool"),
    (([1, 2, 3], 0, [0, 1, 2], 0.8, 0.5), {"legacy_alpha": True}, "legacy alpha_b"),
]


@pytest.mark.parametrize("args, kwargs, message", CS_INVALID)
def test_cost_sensitive_invalid_inputs(args, kwargs, message: str) -> None:
    with pytest.raises(ValueError) as info:
        cost_sensitive_radius(*args, **kwargs)
    assert message in str(info.value)


def test_result_is_frozen() -> None:
    res = cost_sensitive_radius([1, 2, 3], 2, [1], 0.01, 0.5)
    with pytest.raises(AttributeError):
        res.r = 1.0  # type: ignore[misc]


def test_cost_sensitive_standard_radius_with_a_single_top_class_count() -> None:
    """n_A = 1 gives a finite (negative) radius sigma * Phi^-1(Beta(alpha; 1, n)); n_A = 0 gives -inf."""
    res = cost_sensitive_radius(np.array([[1, 9, 0], [0, 10, 0]]), np.array([0, 0]), [1], 0.001, 0.5)
    assert res.r_std[0] == pytest.approx(0.5 * norm.ppf(beta.ppf(0.001, 1, 10)), rel=1e-12)
    assert res.r_shared[0] == pytest.approx(0.5 * norm.ppf(beta.ppf(0.0005, 1, 10)), rel=1e-12)
    assert res.r_std[1] == -np.inf and res.r_shared[1] == -np.inf


# ------------------------------------------------------- boundaries found by the mutation check
def test_certificate_alpha_is_the_open_interval_zero_to_one_half() -> None:
    from randsmooth.bounds import CERTIFICATE_ALPHA, certificate_alpha

    assert CERTIFICATE_ALPHA == (0.0, 0.5)
    for alpha in (1e-300, 0.001, 0.4999):
        assert certificate_alpha(alpha) == alpha
    for alpha in (0.0, 0.5, -0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\)"):
            certificate_alpha(alpha)


def test_predict_returns_the_class_when_the_pvalue_equals_alpha() -> None:
    """Cohen et al.'s PREDICT returns c_A if the p-value is <= alpha: n1 = 4, n2 = 0 has the exact
    p-value 2 * 2^-4 = 0.125."""
    assert predict_pvalue(4, 0) == 0.125
    assert bool(predict_abstains(4, 0, 0.125)) is False
    assert bool(predict_abstains(4, 0, 0.1249)) is True


def test_cost_sensitive_radius_with_one_class() -> None:
    """K = 1 is allowed (c_A = 0 in Omega = [0]): r is the shared-bound standard radius,
    sigma * Phi^-1(LCB(n; alpha/2)) with LCB(n; a) = a^(1/n) for n_A = n."""
    res = cost_sensitive_radius([100], 0, [0], 0.01, 0.5)
    assert float(res.r) == pytest.approx(0.5 * norm.ppf(0.005 ** (1 / 100)), rel=1e-12)


def test_legacy_alpha_b_of_exactly_one_is_refused() -> None:
    """legacy alpha_b = alpha * |Omega| / 2 must be < 1: alpha 0.25 with 8 targets gives exactly 1."""
    counts = [50, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    with pytest.raises(ValueError, match="legacy alpha_b = alpha"):
        cost_sensitive_radius(counts, 0, list(range(1, 9)), 0.25, 0.5, legacy_alpha=True)
    assert np.isfinite(cost_sensitive_radius(counts, 0, list(range(1, 8)), 0.25, 0.5, legacy_alpha=True).r)


@pytest.mark.parametrize(
    ("k", "n", "a", "b"), [(7, 10, 0.5, 0.5), (30, 40, 1.0, 1.0), (2, 25, 0.5, 0.5), (0, 9, 2, 1), (1, 25, 0.5, 0.5)]
)
def test_betabinomial_cs_ends_are_on_the_rejected_side(k: int, n: int, a: float, b: float) -> None:
    """Both returned ends are rejected points: log M_n(end) >= log(1/alpha), with
    log M_n(p) = ln B(a+k, b+n-k) - ln B(a, b) - k ln p - (n-k) ln(1-p) (Howard et al. 2021, eq. (14))
    computed here in float64 (rounding ~1e-14, far below the bisection's safety margin), and tight:
    a point 1e-6 inside either end is kept (log M_n < log(1/alpha)); lower = 0 only at k = 0,
    upper = 1 only at k = n."""
    from scipy.special import betaln

    from randsmooth.bounds import betabinomial_cs

    alpha = 0.05
    lower, upper = betabinomial_cs(k, n, alpha, a=a, b=b)

    def log_m(p: float) -> float:
        return betaln(a + k, b + n - k) - betaln(a, b) - k * np.log(p) - (n - k) * np.log1p(-p)

    for end in (lower, upper):
        if 0 < end < 1:
            assert log_m(end) - np.log(1 / alpha) >= 0.0, (end, log_m(end) - np.log(1 / alpha))
    assert (lower > 0) == (k > 0) and (upper < 1) == (k < n)
    for inside in (lower + 1e-6, upper - 1e-6):
        assert log_m(inside) < np.log(1 / alpha), (inside, lower, upper)
    assert betabinomial_cs(k, n, alpha) == betabinomial_cs(k, n, alpha, a=0.5, b=0.5)  # Jeffreys by default


def test_spend_alpha_never_spends_more_than_alpha_through_rounding() -> None:
    """The levels sum to at most alpha (the union bound's budget) even where the float sum of the
    equal shares rounds above it (e.g. alpha 0.001, 13 looks, final share 1/4)."""
    from randsmooth.bounds import spend_alpha

    rest = np.full(12, 0.001 * 0.75 / 12)
    assert np.append(rest, 0.001 * 0.25).sum() > 0.001  # the naive split overspends by rounding
    for alpha in (1e-5, 0.001, 0.01, 0.05, 0.123, 0.45):
        for looks in range(1, 40):
            for share in (0.1, 0.25, 0.5, 0.9):
                spent = spend_alpha(alpha, looks, share)
                assert spent.sum() <= alpha and spent.sum() == pytest.approx(alpha, rel=1e-12)


def test_probits_of_bounds_next_to_one_are_exact() -> None:
    """At n = 2^53 (the largest count) the bounds lie within a few ulps of 1 in float64; their
    probits come from the complements (1 - LCB = -expm1(ln(alpha)/n) for n_A = n, 1 - UCB =
    -expm1(ln(1 - alpha_b)/n) for n_B = n - 1), not from the rounded bounds (off by ~1 %)."""
    n, alpha = 2**53, 0.001
    top = cost_sensitive_radius([n, 0], 0, [1], alpha, 0.5)
    assert float(top.r_std) == pytest.approx(0.5 * norm.isf(-np.expm1(np.log(alpha) / n)), rel=1e-9)
    m = 5 * 10**10  # 1 - UCB ~ 1e-14: representable next to 1, but only to ~1 %
    other = cost_sensitive_radius([1, m - 1], 0, [1], alpha, 0.5)
    z_b = norm.isf(-np.expm1(np.log1p(-alpha / 2) / m))  # alpha_b = alpha / (2 |Omega|)
    z_a = norm.ppf(beta.ppf(alpha / 2, 1, m))
    assert float(other.r_cs) == pytest.approx(0.25 * (z_a - z_b), rel=1e-9)


def test_betabinomial_cs_ends_without_failures_or_successes_in_closed_form() -> None:
    """At k = 0, log M_n(p) = ln B(a, b+n) - ln B(a, b) - n ln(1-p) has the closed-form root
    p = 1 - exp((ln B(a, b+n) - ln B(a, b) + ln alpha) / n), and at k = n (by symmetry)
    p = exp((ln B(a+n, b) - ln B(a, b) + ln alpha) / n); the returned inner end lies on it (within
    the bisection's 1e-9 log-margin) on the rejected side, the outer end is 0 or 1."""
    from scipy.special import betaln

    from randsmooth.bounds import betabinomial_cs

    for n, alpha, a, b in ((9, 0.05, 2.0, 1.0), (100, 0.001, 0.5, 0.5), (5000, 0.01, 1.0, 1.0)):
        root = -np.expm1((betaln(a, b + n) - betaln(a, b) + np.log(alpha)) / n)
        lower, upper = betabinomial_cs(0, n, alpha, a=a, b=b)
        assert lower == 0.0 and root <= upper <= root * (1 + 1e-8), (n, root, upper)
        root = np.exp((betaln(a + n, b) - betaln(a, b) + np.log(alpha)) / n)
        lower, upper = betabinomial_cs(n, n, alpha, a=a, b=b)
        assert upper == 1.0 and root * (1 - 1e-8) <= lower <= root, (n, root, lower)


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0), (np.inf, 1.0)])
def test_betabinomial_cs_prior_must_be_positive_and_finite(a: float, b: float) -> None:
    from randsmooth.bounds import betabinomial_cs

    with pytest.raises(ValueError, match="prior parameters a, b must be positive and finite"):
        betabinomial_cs(3, 10, 0.05, a=a, b=b)


def test_counts_above_two_to_the_53_are_refused() -> None:
    """Counts are exact in float64 up to 2^53; 2^53 itself is accepted, 2^53 + 2 is not."""
    assert cp_lower(2**53, 2**53, 0.001) > 0.99
    with pytest.raises(ValueError, match=r"must be <= 2\*\*53"):
        cp_lower(2**53 + 2, 2**53 + 2, 0.001)


def test_cost_sensitive_top_class_of_two_dimensions_is_refused() -> None:
    with pytest.raises(ValueError, match=r"top_class must be an int or have shape \(2,\)"):
        cost_sensitive_radius([[5, 3, 2, 0], [1, 8, 1, 0]], [[0], [1]], [2], 0.01, 0.5)


def test_cost_sensitive_one_row_equals_its_batch_of_one() -> None:
    """Counts of shape (K,) (here K = 4, even) give the row of the (1, K) batch."""
    counts = [60, 25, 10, 5]
    single = cost_sensitive_radius(counts, 0, [1, 3], 0.01, 0.5)
    batch = cost_sensitive_radius([counts], [0], [1, 3], 0.01, 0.5)
    for name in ("r", "r_std", "r_cs", "mass", "abstain", "c_b"):
        assert np.asarray(getattr(single, name)).reshape(-1).tolist() == np.asarray(getattr(batch, name)).tolist(), name


def test_cost_sensitive_mass_with_a_single_count_outside_the_top_class() -> None:
    """mass = n_B / (n - n_A): with one count left outside the top class, in the target, it is 1."""
    result = cost_sensitive_radius([[9, 1, 0], [10, 0, 0]], [0, 0], [1], 0.01, 0.5)
    assert np.asarray(result.mass).tolist() == [1.0, 0.0]
