"""Anytime-valid bounds (randsmooth.bounds) and sequential decision rules (randsmooth.sequential).

Independent float64 checks of the bounds (binomial tail inversion, numerical integration of the
mixture martingale) and Monte Carlo soundness of every rule with optional stopping, at a large
alpha so that a few thousand streams have power; a naive "recompute the fixed-n bound after
every round" rule fails the same check, so the suite can tell a sound rule from an unsound one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from randsmooth import bounds, sequential
from randsmooth.sampling import get_noise, noise_names

REPO = Path(__file__).resolve().parents[1]
D = 16
PARAMS = {
    "pareto": {"a": 3.0},
    "expp": {"p": 1.0},
    "exp1": {"k": 1},
    "expinf": {"k": 1, "j": 0},
    "powinf": {"a": D + 3.0},
    "exp2": {"k": 1, "j": 0},
    "pow2": {"k": 2, "a": (D + 2) / 2 + 1.0},
}


def failure_rate_upper(failures: int, trials: int) -> float:
    """One-sided 99.9% Clopper-Pearson lower end of a failure rate (to test rate <= alpha)."""
    return float(bounds.cp_lower(failures, trials, 0.001)) if failures else 0.0


# ----------------------------------------------------------------------------------- bounds
def test_geometric_checkpoints_and_spending() -> None:
    cps = bounds.geometric_checkpoints(100, 100_000, 2.0)
    assert cps.tolist() == [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 100000]
    assert bounds.geometric_checkpoints(10, 10, 1.5).tolist() == [10]
    fine = bounds.geometric_checkpoints(1, 1000, 1.1)
    assert (np.diff(fine) >= 1).all() and fine[-1] == 1000
    spent = bounds.spend_alpha(0.001, 11, final_share=0.5)
    assert spent.sum() <= 0.001 and spent.sum() == pytest.approx(0.001, rel=1e-12)
    assert spent[-1] == pytest.approx(0.0005) and np.allclose(spent[:-1], 0.00005)
    assert bounds.spend_alpha(0.01, 1).tolist() == [0.01]
    # power 2: the looks before the last get (1 - final_share) alpha in proportion to t^2
    grown = bounds.spend_alpha(0.001, 5, final_share=0.55, power=2.0)
    assert grown.sum() <= 0.001 and grown[-1] == pytest.approx(0.00055)
    assert grown[:-1] == pytest.approx(0.00045 * np.array([1, 4, 9, 16]) / 30, rel=1e-12)
    for bad in (-1.0, 11.0, True, "2"):
        with pytest.raises(ValueError, match="power"):
            bounds.spend_alpha(0.01, 3, 0.5, bad)
    with pytest.raises(ValueError, match="ratio"):
        bounds.geometric_checkpoints(1, 10, 1.0)
    with pytest.raises(ValueError, match="final_share"):
        bounds.spend_alpha(0.01, 3, final_share=0.0)


def test_geometric_checkpoints_are_the_rounded_up_geometric_sizes() -> None:
    """Each size is ceil(previous x ratio) (1 -> ceil(1.5) = 2 -> 3 -> ceil(4.5) = 5 -> 8), and a
    size at 99 % of max_n or above is dropped for max_n itself (1 x 99 = 0.99 x 100)."""
    assert bounds.geometric_checkpoints(1, 10, 1.5).tolist() == [1, 2, 3, 5, 8, 10]
    assert bounds.geometric_checkpoints(1, 100, 99.0).tolist() == [1, 100]
    assert bounds.geometric_checkpoints(1, 100, 98.0).tolist() == [1, 98, 100]


def test_spend_alpha_spends_the_whole_alpha_where_the_split_is_exact() -> None:
    """Rounding is repaired downwards only: where the shares add up to alpha exactly, every share
    is kept (nothing of the budget is wasted)."""
    assert bounds.spend_alpha(0.5, 2, final_share=0.5).tolist() == [0.25, 0.25]
    assert bounds.spend_alpha(0.01, 1, final_share=1.0).tolist() == [0.01]  # one look: all of alpha


@pytest.mark.parametrize(
    ("looks", "share"),
    [(2, 1.0), (3, 1.0), (3, 1.5), (1, 1.5), (3, 0.0), (3, -0.1)],
)
def test_spend_alpha_final_share_range(looks: int, share: float) -> None:
    """final_share is in (0, 1), or exactly 1 with a single look."""
    with pytest.raises(ValueError, match="final_share must be in"):
        bounds.spend_alpha(0.01, looks, final_share=share)


def test_checkpoint_cp_schedules() -> None:
    """Any strictly increasing sizes >= 1 are a schedule, a single one and one starting at 1
    included; repeated or decreasing sizes are not."""
    for cps, k in (([1, 2], [[1, 2]]), ([5], [[3]])):
        lower, upper = bounds.checkpoint_cp(k, cps, [0.01] * len(cps))
        assert lower.tolist() == [[float(bounds.cp_lower(a, n, 0.01)) for a, n in zip(k[0], cps, strict=True)]]
        assert upper.tolist() == [[float(bounds.cp_upper(a, n, 0.01)) for a, n in zip(k[0], cps, strict=True)]]
    for cps in ([2, 2], [3, 2], [0, 2], []):
        with pytest.raises(ValueError, match="strictly increasing 1-d sequence"):
            bounds.checkpoint_cp([[0] * len(cps)], cps, [0.01] * len(cps))


def test_checkpoint_cp_inverts_binomial_tails() -> None:
    """Independent: lower_t solves P[Bin(n_t, L) >= k_t] = alpha_t, upper_t P[Bin(n_t, U) <= k_t] = alpha_t."""
    cps = np.array([10, 100, 1000, 10_000])
    spent = bounds.spend_alpha(0.01, 4, 0.4)
    k = np.array([[7, 80, 950, 9990], [0, 0, 3, 10], [10, 100, 1000, 10_000]])
    lower, upper = bounds.checkpoint_cp(k, cps, spent)
    for row in range(3):
        for t in range(4):
            kt, nt, at = k[row, t], cps[t], spent[t]
            if kt > 0:
                assert stats.binom.sf(kt - 1, nt, lower[row, t]) == pytest.approx(at, rel=1e-8)
            else:
                assert lower[row, t] == 0.0
            if kt < nt:
                assert stats.binom.cdf(kt, nt, upper[row, t]) == pytest.approx(at, rel=1e-8)
            else:
                assert upper[row, t] == 1.0
    with pytest.raises(ValueError, match="cumulative"):
        bounds.checkpoint_cp([5, 4], [10, 20], [0.01, 0.01])
    with pytest.raises(ValueError, match="increasing"):
        bounds.checkpoint_cp([1, 2], [20, 10], [0.01, 0.01])
    with pytest.raises(ValueError, match="one level per checkpoint"):
        bounds.checkpoint_cp([1, 2], [10, 20], [0.01])


def mixture_martingale(k: int, n: int, p: float, a: float, b: float) -> float:
    """M_n(p) by numerical integration of the Beta(a, b) prior (independent of betaln)."""
    prior = stats.beta(a, b)
    num, _ = integrate.quad(lambda q: np.exp(k * np.log(q) + (n - k) * np.log1p(-q)) * prior.pdf(q), 0, 1, limit=200)
    return num / (p**k * (1 - p) ** (n - k))


@pytest.mark.parametrize(
    ("k", "n", "a", "b"), [(7, 10, 0.5, 0.5), (30, 40, 1.0, 1.0), (2, 25, 0.5, 0.5), (19, 20, 2, 1)]
)
def test_betabinomial_cs_matches_integrated_martingale(k: int, n: int, a: float, b: float) -> None:
    alpha = 0.05
    lower, upper = bounds.betabinomial_cs(k, n, alpha, a=a, b=b)
    assert 0 < lower < k / n < upper < 1
    for end in (lower, upper):
        assert mixture_martingale(k, n, end, a, b) == pytest.approx(1 / alpha, rel=1e-5)
    # outside the interval the martingale is >= 1/alpha (rejected), inside below it
    assert mixture_martingale(k, n, lower * 0.99, a, b) > 1 / alpha
    assert mixture_martingale(k, n, upper + 0.01 * (1 - upper), a, b) > 1 / alpha
    assert mixture_martingale(k, n, (lower + upper) / 2, a, b) < 1 / alpha


def test_betabinomial_cs_edges_and_vectorised() -> None:
    lower, upper = bounds.betabinomial_cs([0, 5, 5], [5, 5, 10], 0.01)
    assert lower[0] == 0.0 and upper[1] == 1.0
    assert 0 < lower[1] < 1 and 0 < upper[0] < 1
    one = bounds.betabinomial_cs(5, 10, 0.01)
    assert lower[2] == one[0] and upper[2] == one[1]
    # precision near 1: n = 1e5 all successes, the lower bound solves (n + 1/2) log p = log B-ratio
    low, _ = bounds.betabinomial_cs(100_000, 100_000, 0.001)
    assert 0.9998 < low < float(bounds.cp_lower(100_000, 100_000, 0.001))
    with pytest.raises(ValueError, match="prior"):
        bounds.betabinomial_cs(1, 2, 0.1, a=0.0)
    with pytest.raises(ValueError, match="k must be <= n"):
        bounds.betabinomial_cs(3, 2, 0.1)


def test_anytime_coverage_monte_carlo() -> None:
    """Both sequences cover p at every look simultaneously with probability >= 1 - alpha."""
    rng = np.random.default_rng(0)
    alpha, p, streams = 0.1, 0.8, 3000
    cps = bounds.geometric_checkpoints(5, 2000, 1.3)
    k = sequential.simulate_counts([p], cps, streams, rng)[:, 0, :]
    lower, upper = bounds.checkpoint_cp(k, cps, bounds.spend_alpha(alpha, cps.size))
    miss_cp = ((lower > p).any(axis=1)).sum()
    mlow, mup = bounds.betabinomial_cs(k, np.broadcast_to(cps, k.shape), alpha)
    miss_mix = ((mlow > p) | (mup < p)).any(axis=1).sum()
    assert failure_rate_upper(int(miss_cp), streams) <= alpha
    assert failure_rate_upper(int(miss_mix), streams) <= alpha


# -------------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("name", noise_names())
def test_thresholds_every_family_and_norm(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path))
    noise = get_noise(name, 0.5, D, **PARAMS.get(name, {}))
    radii = np.array([0.0, 0.05, 0.1, 0.3, 0.6, 1.0])
    for norm in ("l1", "l2", "linf"):
        thr = sequential.p_thresholds(noise, radii, norm)
        assert thr[0] == np.nextafter(0.5, 1.0)
        assert (thr[1:] >= thr[:-1]).all()
        top = float(noise.radius(1.0, norm))
        for r, t in zip(radii[1:], thr[1:], strict=True):
            if np.isinf(t):
                assert top < r, (norm, r)
                continue
            assert noise.radius(t, norm) >= r  # sound direction, exactly
            assert noise.radius(np.nextafter(t, 0.0), norm) < r  # and the smallest such float


def test_thresholds_gaussian_closed_form() -> None:
    thr = sequential.p_thresholds(get_noise("gaussian", 0.25, 3072), [0.25, 0.5, 0.75], "l2")
    np.testing.assert_allclose(thr, stats.norm.cdf([1.0, 2.0, 3.0]), rtol=1e-14)


# --------------------------------------------------------------------------------- rules
def test_fixed_mode_is_certify_at_max_n() -> None:
    thr = sequential.p_thresholds(get_noise("gaussian", 0.5, 3072), [0.0, 0.5, 1.0], "l2")
    rule = sequential.make_rule("fixed", thr, 10_000, 0.001)
    k = np.array([[4000], [9000], [9990], [10_000]])
    dec = sequential.decide_stream(rule, k)
    expected = bounds.cp_lower(k[:, 0], 10_000, 0.001)
    np.testing.assert_array_equal(dec.p_lower, expected)
    np.testing.assert_array_equal(dec.certified, expected[:, None] >= thr)
    assert (dec.samples == 10_000).all()


def test_grid_mode_stops_when_decided_and_prefix_suffices() -> None:
    thr = sequential.p_thresholds(get_noise("gaussian", 0.25, 3072), [0.0, 0.25, 0.5], "l2")
    rule = sequential.make_rule("grid", thr, 100_000, 0.001, first=100, ratio=2.0)
    cps = rule.checkpoints
    all_success = cps.copy()  # p_A = 1: every radius certified early
    half = (cps * 2) // 5  # p_A = 0.4: nothing reachable
    dec = sequential.decide_stream(rule, np.stack([all_success, half]))
    assert dec.certified[0].all() and not dec.certified[1].any()
    assert dec.samples[0] < 100_000 and dec.samples[1] < 100_000
    # the decision only uses counts up to the stop: changing later counts changes nothing
    later = all_success.copy()
    later[dec.stop[0] + 1 :] = later[dec.stop[0]]
    again = sequential.decide_stream(rule, later)
    assert again.stop == dec.stop[0] and again.p_lower == dec.p_lower[0]
    with pytest.raises(ValueError, match="one radius"):
        sequential.make_rule("radius", thr, 1000, 0.01)
    with pytest.raises(ValueError, match="mode"):
        sequential.make_rule("adaptive", thr, 1000, 0.01)


def naive_failures(p: float, thr: float, max_n: int, alpha: float, streams: int, seed: int) -> int:
    """Recompute the fixed-n CP bound after every round of 10 samples; stop as soon as it certifies."""
    cps = np.arange(10, max_n + 1, 10)
    k = sequential.simulate_counts([p], cps, streams, np.random.default_rng(seed))[:, 0, :]
    lower = np.asarray(bounds.cp_lower(k, np.broadcast_to(cps, k.shape), alpha))
    return int((lower >= thr).any(axis=1).sum())


ALPHA = 0.1
SOUND_CASES = [
    ("grid", "cp", 1.5),
    ("grid", "mixture", 1.5),
    ("radius", "cp", 1.25),
    ("radius", "mixture", 1.25),
    ("fixed", "cp", 2.0),
]


@pytest.mark.parametrize(("mode", "bound", "ratio"), SOUND_CASES)
def test_rules_are_sound_with_optional_stopping(mode: str, bound: str, ratio: float) -> None:
    """p_A just below / just above each threshold: the rate of certificates above p_A is <= alpha."""
    noise = get_noise("gaussian", 0.5, 3072)
    radii = np.array([0.0, 0.25, 0.5]) if mode != "radius" else np.array([0.25])
    thr = sequential.p_thresholds(noise, radii, "l2")
    rule = sequential.make_rule(mode, thr, 2000, ALPHA, bound=bound, first=10, ratio=ratio, futility_alpha=0.3)
    streams = 2000
    for j, t in enumerate(thr):
        for p in (t - 0.005, t + 0.005):
            dec, _ = sequential.simulate(rule, [p], streams, seed=j)
            wrong = int((dec.p_lower[:, 0] > p).sum())
            assert failure_rate_upper(wrong, streams) <= ALPHA, (mode, bound, t, p, wrong)


def test_naive_recomputed_bound_fails_the_same_check() -> None:
    """The suite can tell: peeking at the fixed-n bound every round certifies far more often than alpha."""
    t = float(sequential.p_thresholds(get_noise("gaussian", 0.5, 3072), [0.25], "l2")[0])
    streams = 2000
    naive = naive_failures(t - 0.005, t, 2000, ALPHA, streams, seed=1)
    assert float(bounds.cp_lower(naive, streams, 0.001)) > ALPHA, naive
    rule = sequential.make_rule("radius", [t], 2000, ALPHA, first=10, ratio=1.25)
    dec, _ = sequential.simulate(rule, [t - 0.005], streams, seed=1)
    assert failure_rate_upper(int(dec.certified.sum()), streams) <= ALPHA


@pytest.mark.slow
@pytest.mark.parametrize("name", ["laplace", "uniform", "uniform_ball", "exp1", "pareto"])
@pytest.mark.parametrize("bound", ["cp", "mixture"])
def test_rules_sound_every_family_slow(name: str, bound: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path))
    noise = get_noise(name, 0.5, D, **PARAMS.get(name, {}))
    norm = noise.direct_norms[0]
    thr = sequential.p_thresholds(noise, [0.0, 0.1, 0.3], norm)
    thr = thr[np.isfinite(thr) & (thr < 0.99)]
    rule = sequential.make_rule("grid", thr, 5000, ALPHA, bound=bound, first=10, ratio=1.3, futility_alpha=0.3)
    for j, t in enumerate(thr):
        for p in (t - 0.003, t + 0.003):
            dec, _ = sequential.simulate(rule, [p], 5000, seed=100 + j)
            assert failure_rate_upper(int((dec.p_lower[:, 0] > p).sum()), 5000) <= ALPHA


# ------------------------------------------------------------------------------- benchmark
def run_benchmark(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, str(REPO / "benchmarks" / "sequential.py"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_benchmark_small_run_prints_the_summary_line(tmp_path) -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.55, 1.0, 40), [np.nan] * 5])
    data = pd.DataFrame({"sigma": 0.25, "p_lower": p, "correct": (rng.random(45) < 0.9).astype(int)})
    data.to_csv(tmp_path / "radii.csv", index=False)
    args = ("--n", "3000", "--reps", "2", "--sigmas", "0.25", "--engine", "0")
    result = run_benchmark(str(tmp_path / "radii.csv"), *args)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"sequential: samples ([0-9.]+)% of fixed N, certified accuracy within ([0-9.]+) pp, "
        r"failure rate ([0-9.e-]+) at alpha 0.001",
        last,
    )
    assert match, last
    assert 0 < float(match.group(1)) <= 100 and float(match.group(2)) >= 0
    assert "radius mode r=0.25" in result.stdout


@pytest.mark.slow
def test_benchmark_engine_run_on_digits(tmp_path) -> None:
    """The engine part: a tiny digits model certified at fixed N and in grid mode, same certificates
    machinery; prints the samples share and the wall-clock ratio."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"sigma": 0.25, "p_lower": rng.uniform(0.55, 1.0, 20), "correct": 1})
    data.to_csv(tmp_path / "radii.csv", index=False)
    args = ("--n", "1000", "--reps", "1", "--sigmas", "0.25", "--engine", "6", "--engine-n", "800")
    result = run_benchmark(
        str(tmp_path / "radii.csv"), *args, "--engine-batch", "200", "--engine-epochs", "1", timeout=400
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if "wall clock" in x)
    share, ratio = re.search(r"samples ([0-9.]+)% of fixed N .* = ([0-9.]+)%", line).groups()
    assert 0 < float(share) <= 100 and float(ratio) > 0
    assert result.stdout.strip().splitlines()[-1].startswith("sequential: samples ")


def test_benchmark_missing_data_is_one_line_error(tmp_path) -> None:
    result = run_benchmark(str(tmp_path / "absent.csv"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ rounds driver
@pytest.mark.parametrize("p_top", [0.999, 0.9, 0.45])
def test_run_rounds_matches_prefix_counts_and_draws_nothing_after_the_stop(p_top: float) -> None:
    """A counter-based stream (class of sample j fixed in advance): rounds give the fixed-N prefixes."""
    rng = np.random.default_rng(3)
    max_n, k_classes = 20_000, 4
    streams = {
        "selection": np.where(rng.random(100) < p_top, 2, rng.integers(0, k_classes, 100)),
        "estimation": np.where(rng.random(max_n) < p_top, 2, rng.integers(0, k_classes, max_n)),
    }
    drawn: list[tuple[str, int, int]] = []

    def count_range(stream: str, start: int, stop: int) -> np.ndarray:
        drawn.append((stream, start, stop))
        return np.bincount(streams[stream][start:stop], minlength=k_classes)

    thr = sequential.p_thresholds(get_noise("gaussian", 0.5, 3072), [0.0, 0.25, 0.5, 1.0], "l2")
    rule = sequential.make_rule("grid", thr, max_n, 0.001)
    rec = sequential.run_rounds(rule, count_range, n0=100)
    est = streams["estimation"]
    prefix = np.stack([np.bincount(est[:n], minlength=k_classes) for n in rec.checkpoints])
    np.testing.assert_array_equal(rec.counts_at_checkpoints, prefix)
    full = np.array([(est[:n] == rec.c_a).sum() for n in rule.checkpoints])
    expected = sequential.decide_stream(rule, full)
    assert rec.samples == expected.samples and rec.decision.p_lower == expected.p_lower
    np.testing.assert_array_equal(rec.decision.certified, expected.certified)
    assert max(stop for s, _, stop in drawn if s == "estimation") == rec.samples
    starts = [start for s, start, _ in drawn if s == "estimation"]
    assert starts == [0, *rec.checkpoints[:-1].tolist()]  # each sample drawn once, in order
