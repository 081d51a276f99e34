"""Monte Carlo soundness of the certified radii, on models whose smoothed classifier is analytic.

Each test simulates many independent certifications (separate selection and estimation draws,
numpy's seeded Generator) and counts *failures*: a non-abstaining certificate that names the wrong
smoothed class, or a radius larger than the exact one. A sound procedure at level alpha fails with
probability <= alpha, so the failure fraction must stay below alpha + 3 standard errors. Every test
also shows it has power: an unsound bound (point estimate, or a level of 2*alpha) must fail it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta, laplace, norm, uniform

from randsmooth.bounds import cost_sensitive_radius, cp_lower

LOG = logging.getLogger(__name__)

ALPHA = 0.1
TRIALS = 4000
N0 = 50  # selection samples
N = 500  # estimation samples


def threshold(alpha: float, trials: int) -> float:
    """Largest failure fraction compatible with a sound level-alpha procedure (+3 SE)."""
    return alpha + 3.0 * np.sqrt(alpha * (1.0 - alpha) / trials)


def select_and_count(rng: np.random.Generator, p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary CERTIFY sampling: class from N0 selection draws, then its count in N fresh draws.

    Returns (selected class in {0, 1}, estimation count of that class). Ties pick class 0.
    """
    ones = rng.binomial(N0, p1)
    selected = (ones > N0 - ones).astype(int)
    p_selected = np.where(selected == 1, p1, 1.0 - p1)
    return selected, rng.binomial(N, p_selected)


def failure_fraction(selected, bound, radius, true_class, true_radius) -> float:
    """Fraction of non-abstaining certificates (bound >= 1/2) with wrong class or radius > truth."""
    certified = bound >= 0.5
    failed = certified & ((selected != true_class) | (radius > true_radius))
    return float(failed.mean())


# --------------------------------------------------------------- 1. linear model, Gaussian
SIGMA = 0.5
DIM = 5


def linear_problems(rng: np.random.Generator, trials: int):
    """Random half-spaces f(x) = 1[w.x + b > 0] and points x with a chosen smoothed top probability.

    Returns (w, b, x, margin) with margin = (w.x + b)/||w|| the signed distance to the boundary.
    The top-class probability Phi(|margin|/sigma) is drawn in [0.55, 0.995].
    """
    w = rng.normal(size=(trials, DIM))
    b = rng.normal(size=trials)
    x0 = rng.normal(size=(trials, DIM))
    norm_w = np.linalg.norm(w, axis=1)
    p_top = rng.uniform(0.55, 0.995, size=trials)
    margin = rng.choice([-1.0, 1.0], size=trials) * SIGMA * norm.ppf(p_top)
    m0 = (np.einsum("ij,ij->i", w, x0) + b) / norm_w
    x = x0 + ((margin - m0) / norm_w)[:, None] * w
    return w, b, x, margin


def test_linear_smoothed_probability_formula() -> None:
    """Sanity check of the ground truth: P[f(x + eps) = 1] = Phi((w.x + b)/(sigma ||w||))."""
    rng = np.random.default_rng(1)
    w, b, x, margin = linear_problems(rng, 6)
    draws = 20000
    for i in range(6):
        eps = rng.normal(scale=SIGMA, size=(draws, DIM))
        freq = np.mean((x[i] + eps) @ w[i] + b[i] > 0)
        p1 = norm.cdf((x[i] @ w[i] + b[i]) / (SIGMA * np.linalg.norm(w[i])))
        assert p1 == pytest.approx(norm.cdf(margin[i] / SIGMA), rel=1e-9)
        assert abs(freq - p1) <= 5 * np.sqrt(p1 * (1 - p1) / draws) + 1e-12


def run_linear(bound_fn) -> float:
    rng = np.random.default_rng(20240601)
    _, _, _, margin = linear_problems(rng, TRIALS)
    p1 = norm.cdf(margin / SIGMA)
    selected, k = select_and_count(rng, p1)
    bound = bound_fn(k)
    with np.errstate(divide="ignore"):
        radius = SIGMA * norm.ppf(bound)
    return failure_fraction(selected, bound, radius, (margin > 0).astype(int), np.abs(margin))


def test_gaussian_certify_is_sound_on_linear_models() -> None:
    rate = run_linear(lambda k: cp_lower(k, N, ALPHA))
    LOG.info("linear/Gaussian failure fraction %.4f (alpha %.2f)", rate, ALPHA)
    assert rate <= threshold(ALPHA, TRIALS)
    # Power: the top probabilities are well inside (1/2, 1), so almost every miss of the lower
    # bound is a failure; exact Clopper-Pearson is only mildly conservative at N = 500.
    assert rate >= 0.5 * ALPHA


@pytest.mark.parametrize(
    "name, bound_fn",
    [
        ("point estimate k/n", lambda k: k / N),
        ("Clopper-Pearson at 2*alpha", lambda k: cp_lower(k, N, 2 * ALPHA)),
    ],
)
def test_linear_check_rejects_unsound_bounds(name, bound_fn) -> None:
    rate = run_linear(bound_fn)
    LOG.info("linear/Gaussian failure fraction with %s: %.4f", name, rate)
    assert rate > threshold(ALPHA, TRIALS)


# ---------------------------------------------------- 2. 1-D threshold, Laplace and uniform (L1)
def one_d_problem(rng: np.random.Generator, family: str, lam: float, trials: int):
    """Points x for f(x) = 1[x > 0] and the exact P[f(x + delta) = 1] (scipy's CDFs, not the library).

    The smoothed classifier is 1[x > 0], so its exact L1 (= absolute) robust radius is |x|.
    """
    p_top = rng.uniform(0.55, 0.995, size=trials)
    sign = rng.choice([-1.0, 1.0], size=trials)
    if family == "laplace":
        x = sign * laplace.ppf(p_top, scale=lam)
        p1 = laplace.cdf(x, scale=lam)
    else:
        x = sign * uniform.ppf(p_top, loc=-lam, scale=2 * lam)
        p1 = uniform.cdf(x, loc=-lam, scale=2 * lam)
    return x, p1


def _noise(family: str, sigma: float):
    from randsmooth.sampling import get_noise  # written by another helper; see module docstring

    return get_noise(family, sigma, 1)


@pytest.mark.parametrize("family, lam_factor", [("laplace", 1 / np.sqrt(2)), ("uniform", np.sqrt(3))])
def test_one_d_sampler_matches_analytic_probability(family: str, lam_factor: float) -> None:
    """The library's sampler has the scale the analytic truth assumes (lambda from sigma)."""
    sigma = 0.5
    noise = _noise(family, sigma)
    assert noise.lambd == pytest.approx(lam_factor * sigma, rel=1e-12)
    rng = np.random.default_rng(5)
    xs, p1 = one_d_problem(rng, family, noise.lambd, 4)
    gen = torch.Generator().manual_seed(5)
    draws = 20000
    for x, p in zip(xs, p1, strict=True):
        batch = torch.full((draws, 1), float(x), dtype=torch.float64)
        freq = float((noise.sample(batch, generator=gen) > 0).double().mean())
        assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws) + 1e-12


def run_one_d(family: str, bound_fn) -> float:
    sigma = 0.5
    noise = _noise(family, sigma)
    rng = np.random.default_rng({"laplace": 11, "uniform": 12}[family])
    x, p1 = one_d_problem(rng, family, noise.lambd, TRIALS)
    selected, k = select_and_count(rng, p1)
    bound = np.clip(bound_fn(k), 0.0, 1.0)
    radius = noise.radius(bound, "l1")
    return failure_fraction(selected, bound, radius, (x > 0).astype(int), np.abs(x))


@pytest.mark.parametrize("family", ["laplace", "uniform"])
def test_l1_certify_is_sound_in_one_dimension(family: str) -> None:
    noise = _noise(family, 0.5)
    # closed forms (Yang et al.): Laplace -lambda ln(2(1 - p)), uniform 2 lambda (p - 1/2)
    p = np.array([0.6, 0.9, 0.99])
    lam = noise.lambd
    expected = -lam * np.log(2 * (1 - p)) if family == "laplace" else 2 * lam * (p - 0.5)
    np.testing.assert_allclose(noise.radius(p, "l1"), expected, rtol=1e-9)

    rate = run_one_d(family, lambda k: cp_lower(k, N, ALPHA))
    LOG.info("1-D %s failure fraction %.4f", family, rate)
    assert rate <= threshold(ALPHA, TRIALS)
    assert rate >= 0.5 * ALPHA
    wrong = run_one_d(family, lambda k: k / N)
    assert wrong > threshold(ALPHA, TRIALS)


# --------------------------------------------------------------------- 3. cost-sensitive radius
CS_CONFIGS = {
    # name: (true class probabilities, Omega); the true top class is never in Omega
    "binary-like": (np.array([0.02, 0.68, 0.28, 0.02]), [2]),
    "multi-target": (np.array([0.03, 0.03, 0.12, 0.55, 0.10, 0.08, 0.03, 0.02, 0.02, 0.02]), [2, 4, 5]),
}


def run_cost_sensitive(name: str, legacy: bool, alpha: float = ALPHA):
    p, omega = CS_CONFIGS[name]
    sigma = 0.5
    rng = np.random.default_rng({"binary-like": 21, "multi-target": 22}[name])
    selection = rng.multinomial(N0, p, size=TRIALS)
    top = selection.argmax(axis=1)  # ties -> lowest index
    counts = rng.multinomial(2 * N, p, size=TRIALS)
    res = cost_sensitive_radius(counts, top, omega, alpha, sigma, legacy_alpha=legacy)
    # Population radii of the claims made for the selected class c.
    z_c = norm.ppf(p[top])
    z_b = norm.ppf(p[omega].max())
    true_cs = sigma / 2 * (z_c - z_b)
    true_std = sigma * z_c
    base = res.r_std if legacy else res.r_shared
    failed = (res.r_cs > true_cs) | (base > true_std)
    outside = ~np.isin(top, omega)
    headline = outside & (res.r > true_cs)  # the claim 'g stays out of Omega within r'
    assert np.all(headline <= failed)
    return res, counts, top, float(failed.mean())


@pytest.mark.parametrize("name", sorted(CS_CONFIGS))
def test_cost_sensitive_default_is_sound(name: str) -> None:
    res, _, _, rate = run_cost_sensitive(name, legacy=False)
    LOG.info("cost-sensitive %s failure fraction %.4f (default)", name, rate)
    assert rate <= threshold(ALPHA, TRIALS)
    assert rate > 0  # the simulation does exercise the bounds


@pytest.mark.parametrize("name", sorted(CS_CONFIGS))
def test_cost_sensitive_check_rejects_unsound_level(name: str) -> None:
    """Power: the same radius computed at 3*alpha (claimed as alpha) fails the check."""
    _, _, _, rate = run_cost_sensitive(name, legacy=False, alpha=3 * ALPHA)
    LOG.info("cost-sensitive %s failure fraction %.4f at level 3*alpha", name, rate)
    assert rate > threshold(ALPHA, TRIALS)


@pytest.mark.parametrize("name", sorted(CS_CONFIGS))
def test_cost_sensitive_legacy_reproduces_reference(name: str, record_property) -> None:
    """legacy_alpha is exactly the reference computation (and never smaller than the default)."""
    sound, _, _, sound_rate = run_cost_sensitive(name, legacy=False)
    legacy, counts, top, legacy_rate = run_cost_sensitive(name, legacy=True)
    _, omega = CS_CONFIGS[name]
    # reference, written out: r1 at alpha, r2 with alpha/2 and alpha*|Omega|/2, r = max(r1, r2)
    n = counts.sum(axis=1)
    n_a = counts[np.arange(len(top)), top]
    n_b = counts[:, omega].max(axis=1)
    sigma = 0.5
    r1 = sigma * norm.ppf(beta.ppf(ALPHA, n_a, n - n_a + 1))
    p_a = beta.ppf(ALPHA / 2, n_a, n - n_a + 1)
    p_b = beta.ppf(1 - ALPHA * len(omega) / 2, n_b + 1, n - n_b)
    r2 = sigma / 2 * (norm.ppf(p_a) - norm.ppf(p_b))
    np.testing.assert_allclose(legacy.r, np.maximum(r1, r2), rtol=1e-9, atol=1e-12)
    assert np.all(legacy.r >= sound.r)
    record_property("legacy_failure_fraction", legacy_rate)
    record_property("default_failure_fraction", sound_rate)
    LOG.info(
        "cost-sensitive %s failure fraction: default %.4f, legacy %.4f (alpha %.2f)",
        name,
        sound_rate,
        legacy_rate,
        ALPHA,
    )


# ------------------------------------------ 4. end to end: the engine's counts, decide.certify
ENGINE_TRIALS = 1500


class HalfSpaces(torch.nn.Module):
    """Example i is classified by its own half-space: logits (0, w_i . x + b_i) for class (0, 1).

    The engine feeds (batch, DIM) inputs of one example at a time; ``current`` selects its (w, b).
    """

    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.w = torch.as_tensor(w, dtype=torch.float64)
        self.b = torch.as_tensor(b, dtype=torch.float64)
        self.current = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x.double().reshape(len(x), -1) @ self.w[self.current] + self.b[self.current]
        return torch.stack([torch.zeros_like(score), score], dim=1)


class Threshold(torch.nn.Module):
    """f(x) = 1[x > 0] on one coordinate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x.double().reshape(len(x), -1)[:, 0]
        return torch.stack([torch.zeros_like(score), score], dim=1)


def engine_table(model: torch.nn.Module, noise: Any, xs: np.ndarray, labels: np.ndarray, tmp: Path) -> pd.DataFrame:
    """Sample every example with the certification engine and read the counts back as a table."""
    from randsmooth.counts import RunSettings, read_table, records_to_table, write_atomic
    from randsmooth.engine import CountSampler, SamplerConfig

    config = SamplerConfig(n0=N0, n=N, batch=N, seed=7)
    sampler = CountSampler(model, noise, 2, "cpu", config)
    records = []
    for i, x in enumerate(xs):
        if isinstance(model, HalfSpaces):
            model.current = i
        records.append(sampler.sample_example(torch.as_tensor(x, dtype=torch.float32), int(labels[i]), i))
    settings = RunSettings(
        checkpoint="analytic", model_id="analytic", dataset="analytic", split="test", noise=noise.name,
        sigma=noise.sigma, dim=noise.dim, num_classes=2, n0=N0, n=N, start=0, stop=len(xs), seed=7,
        prefix_budgets=list(config.budgets()),
    )  # fmt: skip
    path = write_atomic(records_to_table(records, settings), tmp / "counts.parquet")
    return read_table(path)


@pytest.fixture(scope="module")
def engine_problems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pd.DataFrame, np.ndarray, str]]:
    """family -> (count table from the engine, exact robust radius per example, norm)."""
    from randsmooth.sampling import get_noise

    out = {}
    rng = np.random.default_rng(2024)
    w, b, x, margin = linear_problems(rng, ENGINE_TRIALS)
    noise = get_noise("gaussian", SIGMA, DIM)
    table = engine_table(HalfSpaces(w, b), noise, x, (margin > 0).astype(int), tmp_path_factory.mktemp("gauss"))
    out["gaussian"] = (table, np.abs(margin), "l2")
    for family in ("laplace", "uniform"):
        noise = get_noise(family, 0.5, 1)
        xs, _ = one_d_problem(rng, family, noise.lambd, ENGINE_TRIALS)
        table = engine_table(Threshold(), noise, xs[:, None], (xs > 0).astype(int), tmp_path_factory.mktemp(family))
        out[family] = (table, np.abs(xs), "l1")
    return out


def certify_failures(table: pd.DataFrame, true_radius: np.ndarray, norm_name: str) -> float:
    """Fraction of examples that decide.certify certifies with a wrong class or a too-large radius
    (the labels are the smoothed classifier's true classes)."""
    from randsmooth.decide import certify

    result = certify(table, ALPHA, norm=norm_name)
    truth = true_radius[result["idx"].to_numpy()]
    failed = (result["predict"] != -1) & ((result["correct"] == 0) | (result["radius"] > truth))
    return float(failed.mean())


@pytest.mark.parametrize("family", ["gaussian", "laplace", "uniform"])
def test_engine_and_certify_are_sound(engine_problems, family: str) -> None:
    """Counts sampled by the engine, certified by decide.certify: at most alpha (+3 SE) failures.

    The check has power: the same tables certified with the point estimate n_A / n, or with the
    Clopper-Pearson bound at 2 alpha, fail it (:func:`test_engine_check_rejects_unsound_certify`).
    """
    table, truth, norm_name = engine_problems[family]
    rate = certify_failures(table, truth, norm_name)
    LOG.info("engine + certify, %s: failure fraction %.4f (alpha %.2f)", family, rate, ALPHA)
    assert rate <= threshold(ALPHA, ENGINE_TRIALS)
    assert rate >= 0.3 * ALPHA  # the problems sit where a sound bound is nearly tight


@pytest.mark.parametrize(
    "name, bound",
    [
        ("point estimate n_A / n", lambda k, n, alpha, two_sided=False: np.asarray(k, dtype=np.float64) / n),
        ("Clopper-Pearson at 2 alpha", lambda k, n, alpha, two_sided=False: cp_lower(k, n, 2 * alpha)),
    ],
)
@pytest.mark.parametrize("family", ["gaussian", "laplace", "uniform"])
def test_engine_check_rejects_unsound_certify(engine_problems, monkeypatch, family: str, name: str, bound) -> None:
    """decide.certify with an unsound lower bound fails the same check (so the check tests certify)."""
    import randsmooth.decide

    monkeypatch.setattr(randsmooth.decide.bounds, "cp_lower", bound)
    table, truth, norm_name = engine_problems[family]
    rate = certify_failures(table, truth, norm_name)
    LOG.info("engine + certify with %s, %s: failure fraction %.4f", name, family, rate)
    assert rate > threshold(ALPHA, ENGINE_TRIALS)
