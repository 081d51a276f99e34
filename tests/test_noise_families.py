"""Radius and scale tests for every noise family (randsmooth.sampling.iid / radial).

Test vectors: Yang et al. 2020, reference test vectors,
§3 (reference closed-form vs table agreements), §7.2 (max certifiable l1 radius), §11.3
(Clopper-Pearson end-to-end and crossing points). Tolerances: closed forms rtol 1e-6,
differential tables 1e-3, level-set tables 1e-2. Numerical tables are cached in a temporary
directory (RANDSMOOTH_CACHE_DIR) for the duration of this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from randsmooth.sampling import NORMS, convert_radius, get_noise, noise_names, tables

D = 3072
D_IMAGENET = 150528
RHO3 = np.array([0.6, 0.9, 0.99])
CLOSED, TAB, LS = 1e-6, 1e-3, 1e-2


@pytest.fixture(autouse=True, scope="module")
def _table_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path_factory.mktemp("radius_tables")))
    yield
    mp.undo()


# ------------------------------------------------------------------ §11.1 radii (sigma 0.5)
# (name, params, norm, radii at rho = 0.6 / 0.9 / 0.99, rtol)
CASES_11_1: list[tuple[str, dict, str, tuple[float, float, float], float]] = [
    ("uniform", {}, "l1", (0.173205, 0.692820, 0.848705), CLOSED),
    ("uniform", {}, "l2", (0.003125, 0.0125, 0.0153125), CLOSED),
    ("uniform", {}, "linf", (5.94032e-05, 2.87989e-04, 3.79603e-04), CLOSED),
    ("gaussian", {}, "l2", (0.126674, 0.640776, 1.16317), CLOSED),
    ("gaussian", {}, "l1", (0.126674, 0.640776, 1.16317), CLOSED),
    ("gaussian", {}, "linf", (0.00228547, 0.0115610, 0.0209862), CLOSED),
    ("laplace", {}, "l1", (0.0788932, 0.569022, 1.38311), CLOSED),
    ("laplace", {}, "linf", (0.00161612, 0.00817520, 0.0148406), TAB),  # "integrate" table
    ("laplace", {}, "linf", (0.00161607, 0.00817486, 0.0148395), TAB),  # "approx" (agrees to 1e-3)
    ("laplace", {}, "l2", (0.00161607, 0.0102664, 0.0249543), TAB),
    ("uniform_ball", {}, "l2", (0.125692, 0.524517, 0.658975), CLOSED),
    ("uniform_ball", {}, "l1", (0.125692, 0.524517, 0.658975), CLOSED),
    ("uniform_ball", {}, "linf", (0.00226776, 0.00946343, 0.0118894), CLOSED),
    ("pareto", {"a": 3}, "l1", (0.0351403, 0.224460, 0.516205), CLOSED),
    ("pareto", {"a": 3}, "l2", (6.34009e-04, 4.04974e-03, 9.31347e-03), CLOSED),
    ("pareto", {"a": 3}, "linf", (1.14389e-05, 7.30663e-05, 1.68035e-04), CLOSED),
    ("pareto", {"a": 6}, "l1", (0.0568426, 0.384252, 0.907885), CLOSED),
    ("pareto", {"a": 100}, "l1", (0.0775186, 0.556799, 1.35105), CLOSED),
    ("expp", {"p": 0.5}, "l1", (0.0186705, 0.0890041, 0.131589), CLOSED),
    ("expp", {"p": 0.2}, "l1", (1.9919e-04, 8.04762e-04, 1.00309e-03), TAB),
    ("expp", {"p": 2}, "l1", (0.126674, 0.640776, 1.16317), CLOSED),
    ("expp", {"p": 4}, "l1", (0.155942, 0.667607, 1.00801), CLOSED),
    ("expp", {"p": 8}, "l1", (0.167892, 0.679973, 0.919590), CLOSED),
    ("exp1", {"k": 1}, "l1", (0.0788932, 0.569022, 1.38311), CLOSED),  # Laplace closed form
    ("exp1", {"k": 1}, "l1", (0.0788927, 0.569022, 1.38311), TAB),  # reference table value
    ("exp1", {"k": 2}, "l1", (0.0787158, 0.563173, 1.35768), TAB),
    ("exp1", {"k": 10}, "l1", (0.0781581, 0.545978, 1.28493), TAB),
    ("expinf", {"k": 1, "j": 0}, "l1", (0.173121, 0.692482, 0.848291), CLOSED),
    ("expinf", {"k": 1, "j": 0}, "linf", (6.28755e-05, 4.53494e-04, 1.10230e-03), CLOSED),
    ("expinf", {"k": 2, "j": 0}, "l1", (0.173163, 0.692651, 0.848498), CLOSED),
    ("expinf", {"k": 2, "j": 0}, "linf", (6.27342e-05, 4.48832e-04, 1.08203e-03), TAB),
    ("expinf", {"k": 8, "j": 0}, "l1", (0.173195, 0.692778, 0.848653), CLOSED),
    ("expinf", {"k": 8, "j": 0}, "linf", (6.23666e-05, 4.37448e-04, 1.03373e-03), TAB),
    ("expinf", {"k": 1, "j": 3070}, "l1", (0.0707107, 0.282843, 0.346482), CLOSED),
    ("expinf", {"k": 1, "j": 3062}, "l1", (0.148630, 0.594521, 0.728288), CLOSED),
    ("expinf", {"k": 1, "j": 2972}, "l1", (0.170622, 0.682488, 0.836048), CLOSED),
    ("powinf", {"a": D + 3}, "l1", (0.0816098, 0.326439, 0.399888), CLOSED),
    ("powinf", {"a": D + 10}, "l1", (0.146898, 0.587591, 0.719799), CLOSED),
    ("powinf", {"a": D + 100}, "l1", (0.170522, 0.682086, 0.835556), CLOSED),
    ("powinf", {"a": D + 4}, "linf", (3.58010e-05, 2.00124e-04, 3.82744e-04), TAB),
    ("powinf", {"a": D + 32}, "linf", (5.80750e-05, 3.77733e-04, 8.29311e-04), TAB),
    ("powinf", {"a": D + 128}, "linf", (6.11390e-05, 4.18192e-04, 9.63921e-04), TAB),
    ("exp2", {"k": 1, "j": 0}, "l2", (0.126643, 0.640648, 1.16306), CLOSED),
    ("exp2", {"k": 2, "j": 0}, "l2", (0.126674, 0.640776, 1.16317), CLOSED),
    ("pow2", {"k": 2, "a": 1540}, "l2", (0.113167, 0.572289, 1.03871), LS),
]

# lambd in the parentheses of §11.1 (sigma = 0.5, d = 3072), 6 significant digits
LAMBDS_11_1: list[tuple[str, dict, float]] = [
    ("uniform", {}, 0.866025),
    ("gaussian", {}, 0.5),
    ("laplace", {}, 0.353553),
    ("uniform_ball", {}, 27.7218),
    ("pareto", {"a": 3}, 0.5),
    ("pareto", {"a": 6}, 1.58114),
    ("pareto", {"a": 100}, 34.8246),
    ("expp", {"p": 0.5}, 0.0456435),
    ("expp", {"p": 0.2}, 8.29605e-06),
    ("expp", {"p": 2}, 0.707107),
    ("expp", {"p": 4}, 0.86004),
    ("expp", {"p": 8}, 0.891388),
    ("exp1", {"k": 1}, 0.353553),
    ("exp1", {"k": 2}, 27.7173),
    ("exp1", {"k": 10}, 612.719),
    ("expinf", {"k": 1, "j": 0}, 2.81772e-04),
    ("expinf", {"k": 2, "j": 0}, 0.0220899),
    ("expinf", {"k": 8, "j": 0}, 0.411529),
    ("expinf", {"k": 1, "j": 3070}, 0.353438),
    ("expinf", {"k": 1, "j": 3062}, 0.0825454),
    ("expinf", {"k": 1, "j": 2972}, 0.00861447),
    ("powinf", {"a": D + 3}, 3.98485e-04),
    ("powinf", {"a": D + 10}, 0.00239091),
    ("powinf", {"a": D + 100}, 0.0277542),
    ("powinf", {"a": D + 4}, 6.90197e-04),
    ("powinf", {"a": D + 32}, 0.00859288),
    ("powinf", {"a": D + 128}, 0.0356438),
    ("exp2", {"k": 1, "j": 0}, 0.00901963),
    ("exp2", {"k": 2, "j": 0}, 0.707107),
    ("pow2", {"k": 2, "a": 1540}, 1.22474),
]


def assert_matches(got: np.ndarray, expected: tuple | list, rtol: float, msg: str = "") -> None:
    """``got`` agrees with spec values printed to 6 significant digits, up to ``rtol``.

    Tolerance per entry: rtol * |expected| + half a unit in the 6th significant digit (the
    printing precision of the Yang et al. 2020, reference test vectors test vectors).
    """
    exp = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    half_unit = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(exp))) - 5)
    tol = rtol * np.abs(exp) + half_unit
    assert got.shape == exp.shape, msg
    assert (np.abs(got - exp) <= tol).all(), f"{msg}: got {got.tolist()}, expected {exp.tolist()} (rtol {rtol})"


def _id(name: str, params: dict, *extra: object) -> str:
    return "-".join([name, *(f"{k}{v}" for k, v in params.items()), *map(str, extra)])


@pytest.mark.parametrize(
    "name,params,norm,expected,rtol", CASES_11_1, ids=[_id(c[0], c[1], c[2], c[4]) for c in CASES_11_1]
)
def test_radii_sigma_half(name: str, params: dict, norm: str, expected: tuple, rtol: float) -> None:
    noise = get_noise(name, 0.5, D, **params)
    assert_matches(noise.radius(RHO3, norm), expected, rtol, f"{name} {params} {norm}")


@pytest.mark.parametrize("name,params,lambd", LAMBDS_11_1, ids=[_id(c[0], c[1]) for c in LAMBDS_11_1])
def test_lambd_values(name: str, params: dict, lambd: float) -> None:
    assert get_noise(name, 0.5, D, **params).lambd == pytest.approx(lambd, rel=1e-5)


def test_level_set_tables_for_closed_form_exp2() -> None:
    """§11.1 'l2 LS table' row for Exp2 k=1, j=0, and §3: LS table vs closed forms on a grid."""
    noise = get_noise("exp2", 0.5, D, k=1, j=0)
    ls = noise.lambd * tables.exp2_l2_radius(RHO3, 1, 0, D, noise.unit_rms())
    assert_matches(ls, (0.126640, 0.640657, 1.16309), LS, "exp2 LS table")
    rho = np.arange(0.51, 0.995, 0.01)
    for k, rtol in ((1, 1e-2), (2, 1e-3)):
        noise = get_noise("exp2", 1.0, D, k=k, j=0)
        table = noise.lambd * tables.exp2_l2_radius(rho, k, 0, D, noise.unit_rms())
        np.testing.assert_allclose(table, noise.radius(rho, "l2"), rtol=rtol)


def test_exp2_near_degenerate_j_is_sane_or_refused() -> None:
    """Exp2 k=2, j=3064: the reference's level-set table is broken there (§3)."""
    rho = np.linspace(0.51, 0.999, 60)
    try:
        noise = get_noise("exp2", 0.5, D, k=2, j=3064)
        radii = noise.radius(rho, "l2")
    except ValueError as err:
        assert "j" in str(err) or "table" in str(err)
        return
    assert np.isfinite(radii).all() and (radii >= 0).all()
    assert (np.diff(radii) >= 0).all()
    gaussian = get_noise("gaussian", 0.5, D).radius(rho, "l2")
    assert (radii <= gaussian).all()


# ------------------------------------------------------------- §3 reference agreement tests
RHO_GRID = np.arange(0.5, 1, 0.01)


def test_laplace_linf_integrate_matches_approximation() -> None:
    noise = get_noise("laplace", 1.0, D)
    approx = noise.lambd * stats.norm.ppf(RHO_GRID) / math.sqrt(D)
    np.testing.assert_allclose(noise.radius(RHO_GRID, "linf"), approx, rtol=1e-3, atol=1e-12)


def test_differential_tables_match_closed_forms() -> None:
    laplace = -np.log(2 * (1 - RHO_GRID))
    np.testing.assert_allclose(tables.exp1_l1_radius(RHO_GRID, 1, D), laplace, rtol=1e-3, atol=1e-12)
    np.testing.assert_allclose(tables.expinf_linf_radius(RHO_GRID, 1, D), laplace, rtol=1e-3, atol=1e-12)
    np.testing.assert_allclose(tables.expp_l1_radius(RHO_GRID, 1.0), laplace, rtol=1e-3, atol=1e-12)
    dilog = get_noise("expp", 1.0, D, p=0.5)
    np.testing.assert_allclose(
        dilog.lambd * tables.expp_l1_radius(RHO_GRID, 0.5), dilog.radius(RHO_GRID, "l1"), rtol=1e-3, atol=1e-12
    )


def test_expp_closed_forms_reduce_to_laplace_and_gaussian() -> None:
    rho = RHO_GRID[1:]
    np.testing.assert_allclose(
        get_noise("expp", 1.0, D, p=1).radius(rho, "l1"), get_noise("laplace", 1.0, D).radius(rho, "l1"), rtol=CLOSED
    )
    np.testing.assert_allclose(
        get_noise("expp", 1.0, D, p=2).radius(rho, "l1"), get_noise("gaussian", 1.0, D).radius(rho, "l2"), rtol=CLOSED
    )
    np.testing.assert_allclose(
        get_noise("exp2", 1.0, D, k=2, j=0).radius(rho, "l2"),
        get_noise("gaussian", 1.0, D).radius(rho, "l2"),
        rtol=CLOSED,
    )


@pytest.mark.parametrize("a", [3, 6, 100])
def test_pareto_closed_form_matches_quadrature(a: float) -> None:
    """R = (lambd/a) int_0^{2 rho - 1} du / (1 - u^(1 + 1/a)) (differential method, 1-D Pareto)."""
    noise = get_noise("pareto", 0.5, D, a=a)
    for rho in (0.55, 0.6, 0.9, 0.99, 0.9999):
        quad, _ = integrate.quad(
            lambda u: 1.0 / (1.0 - u ** (1.0 + 1.0 / a)), 0.0, 2 * rho - 1, epsabs=0, epsrel=1e-11, limit=200
        )
        assert noise.radius(rho, "l1") == pytest.approx(noise.lambd / a * quad, rel=1e-8)


# ----------------------------------------------------------------------- §11.2 other sigma/d
def test_radii_sigma_one() -> None:
    cases = [
        ("uniform", "l1", (0.346410, 1.38564, 1.69741), CLOSED),
        ("uniform", "linf", (1.18806e-04, 5.75978e-04, 7.59205e-04), CLOSED),
        ("gaussian", "l1", (0.253347, 1.28155, 2.32635), CLOSED),
        ("gaussian", "linf", (0.00457094, 0.0231220, 0.0419724), CLOSED),
        ("laplace", "l1", (0.157786, 1.13804, 2.76622), CLOSED),
        ("laplace", "linf", (0.00323214, 0.0163497, 0.0296790), TAB),
    ]
    for name, norm, expected, rtol in cases:
        assert_matches(get_noise(name, 1.0, D).radius(RHO3, norm), expected, rtol, f"{name} {norm}")


def test_radii_imagenet_dim() -> None:
    cases = [
        ("uniform", "linf", (1.21233e-06, 5.87781e-06, 7.74782e-06), CLOSED),
        ("uniform", "l2", (4.46429e-04, 1.78571e-03, 2.1875e-03), CLOSED),
        ("uniform", "l1", (0.173205, 0.692820, 0.848705), CLOSED),
        ("gaussian", "linf", (3.26496e-04, 1.65157e-03, 2.99803e-03), CLOSED),
        ("laplace", "linf", (2.30867e-04, 1.16784e-03, 2.11993e-03), TAB),
        ("laplace", "l1", (0.0788932, 0.569022, 1.38311), CLOSED),
    ]
    for name, norm, expected, rtol in cases:
        assert_matches(get_noise(name, 0.5, D_IMAGENET).radius(RHO3, norm), expected, rtol, f"{name} {norm}")


def test_uniform_linf_float64_precision() -> None:
    r = get_noise("uniform", 0.5, D).radius(0.6, "linf")
    assert_matches(r, 5.94032e-05, CLOSED)
    assert abs(r - 5.9362e-05) > 3e-8  # not the float32 reference value


# ------------------------------------------------------------------------ §2.1 sigma <-> lambd
@pytest.mark.parametrize("sigma", [0.12, 0.5, 1.0])
@pytest.mark.parametrize("d", [784, D, D_IMAGENET])
def test_sigma_lambd_identities(sigma: float, d: int) -> None:
    # Gamma-function ratios at huge arguments (d = 150528) are accurate to ~1e-10 only
    approx = lambda x: pytest.approx(x, rel=1e-12)  # noqa: E731
    assert get_noise("uniform", sigma, d).lambd == approx(math.sqrt(3) * sigma)
    assert get_noise("laplace", sigma, d).lambd == approx(sigma / math.sqrt(2))
    assert get_noise("gaussian", sigma, d).lambd == approx(sigma)
    assert get_noise("uniform_ball", sigma, d).lambd == approx(sigma * math.sqrt(d + 2))
    assert get_noise("exp1", sigma, d, k=1).lambd == pytest.approx(sigma / math.sqrt(2), rel=1e-9)
    assert get_noise("exp1", sigma, d, k=2).lambd == pytest.approx(sigma * math.sqrt(d + 1), rel=1e-9)
    r2 = 1 + (d - 1) / 3
    assert get_noise("expinf", sigma, d, k=1, j=0).lambd == pytest.approx(sigma / math.sqrt(r2 * (d + 1)), rel=1e-9)
    for a in (3, 6, 100):
        assert get_noise("pareto", sigma, d, a=a).lambd == approx(sigma * math.sqrt(0.5 * (a - 1) * (a - 2)))
    assert get_noise("exp2", sigma, d, k=2, j=0).lambd == pytest.approx(sigma * math.sqrt(2), rel=1e-9)
    noise = get_noise("expinf", sigma, d, k=1, j=0)
    assert noise.sigma == sigma and noise.lambd * noise.unit_rms() == pytest.approx(sigma, rel=1e-12)


@pytest.mark.parametrize("p", [0.2, 0.5, 1, 2, 4, 8])
def test_expp_unit_rms_matches_scipy(p: float) -> None:
    assert get_noise("expp", 1.0, D, p=p).unit_rms() ** 2 == pytest.approx(stats.gennorm(beta=p).var(), rel=1e-9)


@pytest.mark.parametrize("a", [2.5, 3, 10, 100])
def test_pareto_unit_rms_matches_scipy(a: float) -> None:
    assert get_noise("pareto", 1.0, D, a=a).unit_rms() ** 2 == pytest.approx(stats.lomax(c=a).moment(2), rel=1e-9)


def test_radial_unit_rms_matches_numerical_moments() -> None:
    """E||x||^2/d at lambd = 1 by numerical integration over the radial law (d = 200)."""
    d = 200
    r2 = 1 + (d - 1) / 3
    # (family, params, law of the radius^k, k, E||unit direction||_2^2)
    cases = [
        ("exp2", {"k": 1, "j": 0}, stats.gamma(d), 1, 1.0),
        ("exp2", {"k": 3, "j": 50}, stats.gamma((d - 50) / 3), 3, 1.0),
        ("expinf", {"k": 2, "j": 10}, stats.gamma((d - 10) / 2), 2, r2),
        ("exp1", {"k": 4}, stats.gamma(d / 4), 4, 2 / (d + 1)),
        ("powinf", {"a": d + 20}, stats.betaprime(d, 20), 1, r2),
        ("pow2", {"k": 2, "a": d / 2 + 10}, stats.betaprime(d / 2, 10), 2, 1.0),
    ]
    for name, params, law, k, dir_sq in cases:
        second = law.expect(lambda t, k=k: t ** (2 / k), epsrel=1e-10)
        expected = math.sqrt(second * dir_sq / d)
        assert get_noise(name, 1.0, d, **params).unit_rms() == pytest.approx(expected, rel=1e-7), name
    ball = get_noise("uniform_ball", 1.0, d).unit_rms()
    assert ball == pytest.approx(math.sqrt(stats.beta(d, 1).moment(2) / d), rel=1e-12)


# ----------------------------------------------------------------- §11.3 and §7.2 (CP based)
def _cp_two_sided_lower(k: int, n: int, alpha: float = 0.001) -> float:
    return float(stats.beta.ppf(alpha / 2, k, n - k + 1))


def test_end_to_end_clopper_pearson() -> None:
    rho = _cp_two_sided_lower(90_000, 100_000)
    assert rho == pytest.approx(0.896843, abs=5e-7)
    assert get_noise("uniform", 0.5, D).radius(rho, "l1") == pytest.approx(0.687352, rel=1e-5)
    assert get_noise("laplace", 0.5, D).radius(rho, "l1") == pytest.approx(0.558033, rel=1e-5)
    assert get_noise("gaussian", 0.5, D).radius(rho, "l2") == pytest.approx(0.631883, rel=1e-5)


def test_crossing_points() -> None:
    def l1(name: str) -> Callable[[float], float]:
        noise = get_noise(name, 1.0, D)
        return lambda rho: float(noise.radius(rho, "l1"))

    uni, lap, gau = l1("uniform"), l1("laplace"), l1("gaussian")
    for f, g, expected in ((uni, lap, 0.942896), (uni, gau, 0.933339), (gau, lap, 0.953559)):
        root = optimize.brentq(lambda r, f=f, g=g: f(r) - g(r), 0.6, 0.999, xtol=1e-12)
        assert root == pytest.approx(expected, abs=1e-5)
        assert f(root - 0.01) > g(root - 0.01) and f(root + 0.01) < g(root + 0.01)
    # Laplace l2 = max(l1/sqrt d, linf): the l1 term takes over at rho ~ 0.7249
    laplace = get_noise("laplace", 1.0, D)
    gap = lambda r: float(laplace.radius(r, "l1")) / math.sqrt(D) - float(laplace.radius(r, "linf"))  # noqa: E731
    assert optimize.brentq(gap, 0.6, 0.9, xtol=1e-10) == pytest.approx(0.7249, abs=1e-3)


def test_max_certifiable_l1_radius() -> None:
    rho_max = _cp_two_sided_lower(100_000, 100_000)
    assert rho_max == pytest.approx(0.999924, abs=5e-7)
    table = {
        0.25: (0.4329, 1.5541, 0.9469),
        0.5: (0.8659, 3.1083, 1.8939),
        1.0: (1.7318, 6.2166, 3.7878),
        1.25: (2.1647, 7.7707, 4.7347),
    }
    for sigma, expected in table.items():
        got = [float(get_noise(name, sigma, D).radius(rho_max, "l1")) for name in ("uniform", "laplace", "gaussian")]
        np.testing.assert_allclose(got, expected, atol=5.1e-5, rtol=0, err_msg=f"sigma={sigma}")
    assert float(get_noise("uniform", 3.5, D).radius(rho_max, "l1")) == pytest.approx(6.0613, abs=5.1e-5)


# -------------------------------------------------------------- generic radius properties
FAMILIES: list[tuple[str, dict]] = [
    ("gaussian", {}),
    ("laplace", {}),
    ("uniform", {}),
    ("uniform_ball", {}),
    ("pareto", {"a": 3}),
    ("pareto", {"a": 2.5}),
    ("expp", {"p": 0.2}),
    ("expp", {"p": 0.5}),
    ("expp", {"p": 1}),
    ("expp", {"p": 3}),
    ("exp1", {"k": 1}),
    ("exp1", {"k": 2}),
    ("expinf", {"k": 1, "j": 0}),
    ("expinf", {"k": 2, "j": 0}),
    ("expinf", {"k": 1, "j": 10}),
    ("powinf", {"a": D + 10}),
    ("exp2", {"k": 1, "j": 0}),
    ("exp2", {"k": 2, "j": 0}),
    ("exp2", {"k": 1, "j": 10}),
    ("pow2", {"k": 1, "a": D + 10}),
]
FAMILY_IDS = [_id(n, p) for n, p in FAMILIES]
P_GRID = np.concatenate([np.linspace(0.5, 0.999, 400), [0.9995, 0.9999, 0.99999]])


def test_families_cover_registry() -> None:
    assert {n for n, _ in FAMILIES} == {
        "gaussian",
        "laplace",
        "uniform",
        "uniform_ball",
        "pareto",
        "expp",
        "exp1",
        "expinf",
        "powinf",
        "exp2",
        "pow2",
    }
    assert {n for n, _ in FAMILIES} <= set(noise_names())


@pytest.mark.parametrize("name,params", FAMILIES, ids=FAMILY_IDS)
def test_radius_monotone_zero_at_half_and_finite(name: str, params: dict) -> None:
    noise = get_noise(name, 0.5, D, **params)
    for norm in NORMS:
        r = noise.radius(P_GRID, norm)
        assert r.dtype == np.float64 and r.shape == P_GRID.shape
        assert r[0] == 0.0 and np.isfinite(r).all() and (r >= 0).all()
        assert (np.diff(r) >= -1e-12 * r.max()).all(), f"{norm} radius not monotone"
        assert r[-1] > r[len(r) // 2] > 0
        at_one = noise.radius(1.0, norm)
        assert not np.isnan(at_one) and at_one >= r[-1]
        low = noise.radius([0.0, 0.2, 0.5, np.nextafter(0.5, 0.0)], norm)
        assert (low == 0).all()
        mixed = np.array([[0.4, 0.6], [0.5, 0.9]])
        out = noise.radius(mixed, norm)
        assert out.shape == (2, 2) and out[0, 0] == 0 and out[1, 0] == 0
        assert out[0, 1] == noise.radius(0.6, norm) and out[1, 1] == noise.radius(0.9, norm)
        assert np.ndim(noise.radius(0.7, norm)) == 0


@pytest.mark.parametrize("name,params", FAMILIES, ids=FAMILY_IDS)
def test_converted_norms_are_max_over_direct_norms(name: str, params: dict) -> None:
    noise = get_noise(name, 0.5, D, **params)
    p = np.array([0.55, 0.6, 0.75, 0.9, 0.99])
    direct = {a: noise.radius(p, a) for a in noise.direct_norms}
    for norm in NORMS:
        if norm in noise.direct_norms:
            continue
        expected = np.max([convert_radius(r, a, norm, D) for a, r in direct.items()], axis=0)
        np.testing.assert_array_equal(noise.radius(p, norm), expected)


def test_conversion_rules() -> None:
    r = np.array([0.5, 2.0])
    np.testing.assert_allclose(convert_radius(r, "l1", "l2", D), r / math.sqrt(D))
    np.testing.assert_allclose(convert_radius(r, "l1", "linf", D), r / D)
    np.testing.assert_allclose(convert_radius(r, "l2", "linf", D), r / math.sqrt(D))
    for target in ("l1", "l2"):
        np.testing.assert_array_equal(convert_radius(r, "linf", target, D), r)
    np.testing.assert_array_equal(convert_radius(r, "l2", "l1", D), r)
    # families: Gaussian l1 = l2, linf = l2/sqrt d; ExpInf j != 0 has only l1
    p = np.array([0.6, 0.9])
    gauss = get_noise("gaussian", 0.5, D)
    np.testing.assert_allclose(gauss.radius(p, "l1"), gauss.radius(p, "l2"), rtol=0)
    np.testing.assert_allclose(gauss.radius(p, "linf"), gauss.radius(p, "l2") / math.sqrt(D), rtol=1e-15)
    cube_j = get_noise("expinf", 0.5, D, k=1, j=10)
    assert cube_j.direct_norms == ("l1",)
    assert get_noise("expinf", 0.5, D, k=1, j=0).direct_norms == ("l1", "linf")
    np.testing.assert_allclose(cube_j.radius(p, "linf"), cube_j.radius(p, "l1") / D, rtol=1e-15)
    np.testing.assert_allclose(cube_j.radius(p, "l2"), cube_j.radius(p, "l1") / math.sqrt(D), rtol=1e-15)
    # Laplace l2: linf term wins at 0.6, l1 term at 0.9
    lap = get_noise("laplace", 0.5, D)
    l2 = lap.radius(p, "l2")
    assert l2[0] == lap.radius(0.6, "linf") and l2[1] == lap.radius(0.9, "l1") / math.sqrt(D)
    # Uniform l2: l1/sqrt(d) beats linf
    uni = get_noise("uniform", 0.5, D)
    np.testing.assert_allclose(uni.radius(p, "l2"), uni.radius(p, "l1") / math.sqrt(D), rtol=1e-15)
    assert (uni.radius(p, "linf") < uni.radius(p, "l2")).all()


def test_params_and_describe() -> None:
    noise = get_noise("expinf", 0.5, D, k=2, j=0)
    assert noise.params() == {"k": 2, "j": 0}
    desc = noise.describe()
    assert desc["name"] == "expinf" and desc["dim"] == D and desc["sigma"] == 0.5
    assert get_noise("pow2", 0.5, D, k=2, a=1540).params() == {"k": 2, "a": 1540}
    assert "Pareto(sigma=0.5, dim=3072, a=3)" == repr(get_noise("pareto", 0.5, D, a=3))


# ------------------------------------------------------------------------- invalid inputs
def test_invalid_common_inputs() -> None:
    with pytest.raises(ValueError, match="sigma"):
        get_noise("gaussian", -0.5, D)
    with pytest.raises(ValueError, match="sigma"):
        get_noise("uniform", 0.0, D)
    with pytest.raises(ValueError, match="dim"):
        get_noise("uniform", 0.5, 0)
    with pytest.raises(ValueError, match="unknown noise name"):
        get_noise("cauchy", 0.5, D)
    with pytest.raises(ValueError, match="missing"):
        get_noise("pareto", 0.5, D)
    with pytest.raises(ValueError, match="missing"):
        get_noise("expinf", 0.5, D, k=1)
    with pytest.raises(ValueError, match="unexpected"):
        get_noise("gaussian", 0.5, D, a=3)
    with pytest.raises(ValueError, match="unexpected"):
        get_noise("laplace", 0.5, D, linf_method="approx")
    noise = get_noise("laplace", 0.5, D)
    with pytest.raises(ValueError, match="norm"):
        noise.radius(0.9, "l3")
    for bad in (1.2, -0.1, float("nan"), [0.6, 1.5]):
        with pytest.raises(ValueError, match="p_lower"):
            noise.radius(bad, "l1")


BAD_PARAMS: list[tuple[str, dict, str]] = [
    ("pareto", {"a": 2}, "a"),
    ("pareto", {"a": 1.5}, "a"),
    ("pareto", {"a": True}, "a"),
    ("pareto", {"a": "3"}, "a"),
    ("pareto", {"a": float("nan")}, "a"),
    ("pareto", {"a": float("inf")}, "a"),
    ("expp", {"p": 0}, "p"),
    ("expp", {"p": -1}, "p"),
    ("exp1", {"k": 0}, "k"),
    ("exp1", {"k": -2}, "k"),
    ("expinf", {"k": 0, "j": 0}, "k"),
    ("expinf", {"k": 1, "j": -1}, "j"),
    ("expinf", {"k": 1, "j": D - 1}, "j"),
    ("expinf", {"k": 1, "j": D}, "j"),
    ("powinf", {"a": D + 2}, "a"),
    ("powinf", {"a": D}, "a"),
    ("exp2", {"k": 0, "j": 0}, "k"),
    ("exp2", {"k": 1, "j": D}, "j"),
    ("exp2", {"k": 1, "j": -3}, "j"),
    ("pow2", {"k": 0, "a": D + 10}, "k"),
    ("pow2", {"k": 2, "a": (D + 2) / 2}, "a"),
    ("pow2", {"k": 1, "a": D + 1}, "a"),
]


@pytest.mark.parametrize("name,params,bad", BAD_PARAMS, ids=[_id(*c) for c in BAD_PARAMS])
def test_invalid_family_parameters(name: str, params: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"parameter {bad}\b"):
        get_noise(name, 0.5, D, **params)


def test_cubical_and_spherical_families_need_two_dims() -> None:
    for name, params in (("expinf", {"k": 1, "j": 0}), ("exp2", {"k": 1, "j": 0})):
        with pytest.raises(ValueError, match="dim"):
            get_noise(name, 0.5, 1, **params)
