"""Tests for randsmooth.decide: CERTIFY / PREDICT / cost-sensitive decisions from class counts.

Expected values come from the reference test vectors of Cohen et al. 2019, Yang et al. 2020 and
Xin et al. 2025 (computed from their formulas and released code) and from independent scipy
computations.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, binomtest, norm

from randsmooth import costs, decide
from randsmooth.counts import common_budgets, estimation_counts, noise_from_table, synthetic_table
from randsmooth.sampling import get_noise

N = 100_000
K = 10


def one_hot_counts(classes, totals, k=K):
    """(N, k) counts with all ``totals[i]`` samples on ``classes[i]``."""
    out = np.zeros((len(classes), k), dtype=np.int64)
    out[np.arange(len(classes)), classes] = totals
    return out


def two_class_counts(top, n_top, other, n=N, k=K):
    """Rows with n_top[i] on class top[i] and the rest of n on class other[i]."""
    out = np.zeros((len(top), k), dtype=np.int64)
    rows = np.arange(len(top))
    out[rows, other] = n - np.asarray(n_top)
    out[rows, top] = n_top
    return out


def dict_counts(spec, k=K):
    out = np.zeros(k, dtype=np.int64)
    for c, v in spec.items():
        out[c] = v
    return out


def cohen_radius(k, n, alpha, sigma):
    """Independent one-sided CP radius with scipy (k = n handled by the closed form alpha^(1/n))."""
    p = alpha ** (1.0 / n) if k == n else beta.ppf(alpha, k, n - k + 1)
    return sigma * norm.ppf(p)


# ------------------------------------------------------------------------------- CERTIFY
COHEN_LADDER = [  # n_A, R/sigma at n = 1e5, alpha = 0.001 (Cohen et al. 2019, reference test vectors)
    (100000, 3.811457),
    (99999, 3.739127),
    (99990, 3.490208),
    (99900, 3.000201),
    (99000, 2.290000),
    (95000, 1.624214),
    (90000, 1.264845),
    (75000, 0.661165),
    (60000, 0.240945),
    (50500, 0.000273),
]


@pytest.mark.parametrize("sigma", [1.0, 0.25])
def test_certify_cohen_ladder(sigma):
    n_a = np.array([k for k, _ in COHEN_LADDER])
    labels = np.full(len(n_a), 3)
    sel = one_hot_counts(labels, 100)
    est = two_class_counts(labels, n_a, np.full(len(n_a), 7))
    table = synthetic_table(labels, sel, est, sigma=sigma)
    res = decide.certify(table, 0.001)
    assert list(res.columns) == ["idx", "label", "predict", "radius", "correct", "p_lower", "n_a"]
    np.testing.assert_allclose(res["radius"] / sigma, [r for _, r in COHEN_LADDER], atol=1e-6)
    independent = [cohen_radius(k, N, 0.001, sigma) for k in n_a]
    np.testing.assert_allclose(res["radius"], independent, rtol=1e-9)
    np.testing.assert_array_equal(res["n_a"], n_a)
    assert (res["predict"] == 3).all() and (res["correct"] == 1).all()
    assert res["p_lower"].iloc[4] == pytest.approx(0.98898934, abs=1e-8)


@pytest.mark.parametrize("alpha, first", [(0.001, 50490), (0.01, 50369)])
def test_certify_abstention_threshold(alpha, first):
    n_a = np.array([first - 1, first, 50000, 10, 0])
    labels = np.array([1, 1, 1, 1, 1])
    sel = one_hot_counts(labels, 100)
    est = two_class_counts(labels, n_a, np.full(5, 2))
    res = decide.certify(synthetic_table(labels, sel, est, sigma=0.5), alpha)
    np.testing.assert_array_equal(res["predict"], [-1, 1, -1, -1, -1])
    np.testing.assert_array_equal(res["correct"], [0, 1, 0, 0, 0])
    assert res["radius"].iloc[0] == 0.0 and res["radius"].iloc[1] > 0
    assert (res["radius"].iloc[2:] == 0.0).all()
    assert res["p_lower"].iloc[4] == 0.0  # n_A = 0 guard


def test_abstention_at_a_lower_bound_of_exactly_one_half():
    """n_A = n = 4 at alpha = 1/16 gives LCB = alpha^(1/n) = 1/2 exactly: CERTIFY, the cost-sensitive
    decisions and bounds.cost_sensitive_radius abstain there (p_A >= 1/2 leaves a tie with another
    class possible), with radius 0; n_A = n = 5 (LCB 0.574) is certified."""
    from randsmooth import bounds

    alpha = 1 / 16
    assert bounds.cp_lower(4, 4, alpha) == 0.5
    labels = np.array([2, 2])
    sel = one_hot_counts(labels, 10)
    table = synthetic_table(labels, sel, one_hot_counts(labels, [4, 5]), sigma=0.5)
    res = decide.certify(table, alpha)
    assert res["predict"].tolist() == [-1, 2] and res["radius"].iloc[0] == 0.0 and res["radius"].iloc[1] > 0
    cs = decide.cost_sensitive(table, costs.overall(K), alpha)
    assert cs["predict"].tolist() == [-1, 2]
    assert bounds.cost_sensitive_radius([[0, 0, 4], [0, 0, 5]], [2, 2], [0], alpha, 0.5).abstain.tolist() == [
        True,
        False,
    ]


def test_certify_uses_selection_counts_and_lowest_index_ties():
    labels = np.array([4, 4, 2])
    sel = np.zeros((3, K), dtype=np.int64)
    sel[0, [4, 6]] = 50  # tie -> class 4 (lowest index)
    sel[1, [6, 4]] = [60, 40]  # selection says 6 although the estimation favours 4
    sel[2, [2, 5]] = [50, 50]  # tie -> class 2
    est = np.zeros((3, K), dtype=np.int64)
    est[0, [4, 6]] = [99000, 1000]
    est[1, [4, 6]] = [99000, 1000]
    est[2, [2, 5]] = [1000, 99000]
    res = decide.certify(synthetic_table(labels, sel, est, sigma=1.0), 0.001)
    np.testing.assert_array_equal(res["predict"], [4, -1, -1])
    np.testing.assert_array_equal(res["n_a"], [99000, 1000, 1000])
    assert res["radius"].iloc[0] == pytest.approx(2.29, abs=1e-6)


def test_certify_yang_two_sided_all_shapes():
    """rho_hat = two-sided CP at k = 90000 (Yang et al. 2020, reference test vectors), 64 selection samples."""
    labels = np.array([0])
    sel = one_hot_counts(labels, 64)
    est = two_class_counts(labels, [90000], [1])
    expected = {("uniform", "l1"): 0.687352, ("laplace", "l1"): 0.558033, ("gaussian", "l2"): 0.631883}
    for (name, nrm), value in expected.items():
        table = synthetic_table(labels, sel, est, sigma=0.5, noise=name, dim=3072)
        res = decide.certify(table, 0.001, norm=nrm, two_sided=True)
        assert res["p_lower"].iloc[0] == pytest.approx(0.896843, abs=1e-6)
        assert res["radius"].iloc[0] == pytest.approx(value, abs=1e-6)
    one_sided = decide.certify(synthetic_table(labels, sel, est, sigma=0.5), 0.001)
    assert one_sided["p_lower"].iloc[0] == pytest.approx(0.897036, abs=1e-6)


def test_certify_other_norms_and_noise_override_match_noise_radius():
    labels = np.array([0, 0, 0])
    sel = one_hot_counts(labels, 100)
    est = two_class_counts(labels, [60000, 90000, 99000], [1, 1, 1])
    table = synthetic_table(labels, sel, est, sigma=0.5, noise="laplace", dim=3072)
    p = beta.ppf(0.001, [60000, 90000, 99000], N - np.array([60000, 90000, 99000]) + 1)
    nz = get_noise("laplace", 0.5, 3072)
    for nrm in ("l1", "l2", "linf"):
        np.testing.assert_allclose(decide.certify(table, 0.001, norm=nrm)["radius"], nz.radius(p, nrm), rtol=1e-9)
    gauss = get_noise("gaussian", 0.5, 3072)
    res = decide.certify(table, 0.001, noise=gauss)
    np.testing.assert_allclose(res["radius"], 0.5 * norm.ppf(p), rtol=1e-9)


def test_certify_with_noise_params_from_table():
    labels = np.array([0])
    table = synthetic_table(
        labels,
        one_hot_counts(labels, 100),
        two_class_counts(labels, [90000], [1]),
        sigma=0.5,
        noise="pareto",
        noise_params={"a": 3},
        dim=3072,
    )
    assert json.loads(table["noise_params"].iloc[0]) == {"a": 3}
    p = beta.ppf(0.001, 90000, 10001)
    expected = get_noise("pareto", 0.5, 3072, a=3).radius(p, "l1")
    assert decide.certify(table, 0.001, norm="l1")["radius"].iloc[0] == pytest.approx(float(expected), rel=1e-12)


def test_certify_mixed_noise_groups():
    labels = np.array([0, 0])
    sel = one_hot_counts(labels, 100)
    est = two_class_counts(labels, [99000, 99000], [1, 1])
    t1 = synthetic_table(labels[:1], sel[:1], est[:1], sigma=0.25)
    t2 = synthetic_table(labels[1:], sel[1:], est[1:], sigma=1.0)
    res = decide.certify(pd.concat([t1, t2], ignore_index=True), 0.001)
    np.testing.assert_allclose(res["radius"], [0.25 * 2.29, 2.29], atol=1e-6)
    with pytest.raises(ValueError, match="mixes 2 noise"):
        noise_from_table(pd.concat([t1, t2], ignore_index=True))


# ---------------------------------------------------------------------------- budgets
def test_budget_prefix_counts():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, K, 30)
    est = np.stack([rng.multinomial(N, rng.dirichlet(np.full(K, 0.2))) for _ in labels])
    sel = np.stack([rng.multinomial(100, e / N) for e in est])
    table = synthetic_table(labels, sel, est, sigma=0.5, budgets=[100, 1000, 10000], seed=1)
    assert common_budgets(table) == [100, 1000, 10000, N]
    for b in (100, 1000, 10000):
        counts, n = estimation_counts(table, b)
        assert (n == b).all() and (counts.sum(axis=1) == b).all()
        res = decide.certify(table, 0.001, budget=b)
        c_a = sel.argmax(axis=1)
        np.testing.assert_array_equal(res["n_a"], counts[np.arange(30), c_a])
        independent = [
            0.0 if beta.ppf(0.001, k, b - k + 1) <= 0.5 or k == 0 else cohen_radius(k, b, 0.001, 0.5)
            for k in res["n_a"]
        ]
        np.testing.assert_allclose(res["radius"], independent, rtol=1e-9, atol=1e-12)
    # nested prefixes: counts never decrease with the budget
    c100, _ = estimation_counts(table, 100)
    c1000, _ = estimation_counts(table, 1000)
    assert (c1000 >= c100).all()
    full = decide.certify(table, 0.001, budget=N)
    pd.testing.assert_frame_equal(full, decide.certify(table, 0.001))
    with pytest.raises(
        ValueError, match=r"budget 500 is not a prefix budget of row 0; available: \[100, 1000, 10000, 100000\]"
    ):
        decide.certify(table, 0.001, budget=500)
    with pytest.raises(ValueError, match="positive integer"):
        decide.certify(table, 0.001, budget=0)


def test_budget_inconsistent_prefix_rejected():
    labels = np.array([0])
    table = synthetic_table(labels, one_hot_counts(labels, 100), one_hot_counts(labels, [N]), budgets=[10])
    bad = table.copy()
    bad.at[0, "counts_prefix"] = [np.array([9] + [0] * (K - 1)), np.asarray(table["counts_estimation"].iloc[0])]
    with pytest.raises(ValueError, match="sums to 9, not 10"):
        decide.certify(bad, 0.001, budget=10)


# ------------------------------------------------------------------------------- PREDICT
def test_predict_small_budgets_and_pvalues():
    labels = np.array([2, 2, 5])
    est = np.zeros((3, K), dtype=np.int64)
    est[0, 2] = N  # unanimous
    est[1, [2, 3]] = [50000, 50000]  # exact tie
    est[2, [1, 5]] = [60000, 40000]  # wrong class dominant
    table = synthetic_table(labels, one_hot_counts(labels, 100), est, budgets=[10, 11, 1000], seed=2)
    r10 = decide.predict(table, 0.001, budget=10)
    r11 = decide.predict(table, 0.001, budget=11)
    assert r10["predict"].iloc[0] == -1 and r10["pvalue"].iloc[0] == pytest.approx(0.001953125)
    assert r11["predict"].iloc[0] == 2 and r11["pvalue"].iloc[0] == pytest.approx(0.0009765625)
    full = decide.predict(table, 0.001)
    np.testing.assert_array_equal(full["predict"], [2, -1, 1])
    np.testing.assert_array_equal(full["correct"], [1, 0, 0])
    counts, _ = estimation_counts(table, 1000)
    res = decide.predict(table, 0.001, budget=1000)
    for i in range(3):
        top2 = np.sort(counts[i])[::-1][:2]
        p = binomtest(int(top2[0]), int(top2.sum()), 0.5).pvalue if top2[0] != top2[1] else 1.0
        assert res["pvalue"].iloc[i] == pytest.approx(min(1.0, p), rel=1e-9)
        assert (res["predict"].iloc[i] == -1) == (p > 0.001)


def test_p_a_true():
    labels = np.array([0, 1, 2])
    est = np.zeros((3, K), dtype=np.int64)
    est[0, [0, 1]] = [90000, 10000]
    est[1, [0, 1]] = [90000, 10000]
    est[2, 2] = N
    table = synthetic_table(labels, one_hot_counts(np.array([0, 0, 2]), 100), est)
    np.testing.assert_allclose(decide.p_a_true(table), [0.9, 0.1, 1.0])


# ---------------------------------------------------------------------------- validation
def test_table_validation_errors():
    labels = np.array([0, 1])
    table = synthetic_table(labels, one_hot_counts(labels, 100), one_hot_counts(labels, [N, N]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['counts_selection'\]"):
        decide.certify(table.drop(columns="counts_selection"), 0.001)
    bad = table.copy()
    bad["n"] = [N, N - 1]
    with pytest.raises(ValueError, match="row 1 sums to 100000 but n = 99999"):
        decide.certify(bad, 0.001)
    bad = table.copy()
    bad["num_classes"] = 9
    with pytest.raises(ValueError, match="num_classes"):
        decide.certify(bad, 0.001)
    bad = table.copy()
    bad["n0"] = 0
    bad["counts_selection"] = [np.zeros(K, dtype=np.int64)] * 2
    with pytest.raises(ValueError, match="n0 must be >= 1"):
        decide.certify(bad, 0.001)
    with pytest.raises(ValueError, match="no rows"):
        decide.certify(table.iloc[:0], 0.001)
    with pytest.raises(ValueError, match="alpha"):
        decide.certify(table, 1.5)
    with pytest.raises(ValueError, match="norm"):
        decide.certify(table, 0.001, norm="l3")


# ------------------------------------------------------------------------ cost-sensitive
# Xin et al. 2025, reference test vectors; label 3 (cat) unless stated.
XIN_VECTORS = {
    # id: (counts, cA, preset, pred, cB, r1, r2 code, r code, r2 paper, correct)
    "A": ({2: 20000, 3: 60000, 5: 2000, 6: 18000}, 3, "s-pair", 3, 5, 0.120472, 0.565971, 0.565971, 0.565971, 1),
    "B": ({2: 30000, 3: 45000, 5: 500, 6: 24500}, 3, "s-pair", -1, 5, -0.068979, 0.596679, 0.596679, 0.596679, 1),
    "C": (
        {2: 15000, 3: 60000, 4: 5000, 5: 10000, 6: 10000},
        3,
        "m-pair",
        3,
        2,
        0.120472,
        0.315549,
        0.315549,
        0.314800,
        1,
    ),
    "D": ({2: 8000, 3: 80000, 5: 12000}, 3, "s-seed", 3, 5, 0.413826, 0.497076, 0.497076, 0.495473, 1),
    "E": ({2: 10000, 3: 20000, 5: 70000}, 5, "s-pair", 5, 5, 0.255756, -0.006864, 0.255756, -0.006864, 0),
    "F": ({2: 10, 3: 99990}, 3, "s-pair", 3, 5, 1.745104, 1.816453, 1.816453, 1.816453, 1),
    "G": ({3: 100000}, 3, "s-pair", 3, 5, 1.905728, 1.893879, 1.905728, 1.893879, 1),
    "H": ({1: 30000, 3: 52000, 5: 9000, 9: 9000}, 3, "multi2", 3, 5, 0.018944, 0.340550, 0.340550, 0.339285, 1),
    "I": ({3: 40000, 5: 5000, 6: 55000}, 6, "s-pair", 6, 5, 0.056683, 0.433864, 0.433864, 0.433864, 1),
}


def _xin_table(vec_id):
    counts, c_a, name, *_ = XIN_VECTORS[vec_id]
    est = dict_counts(counts)[None, :]
    sel = one_hot_counts([c_a], 100)
    return synthetic_table([3], sel, est, sigma=0.5), costs.preset(name, "cifar10")


@pytest.mark.parametrize("vec_id", sorted(XIN_VECTORS))
def test_cost_sensitive_xin_vectors(vec_id):
    _, c_a, _, pred, c_b, r1, r2_code, r_code, r2_paper, correct = XIN_VECTORS[vec_id]
    table, cm = _xin_table(vec_id)
    legacy = decide.cost_sensitive(table, cm, 0.001, legacy_alpha=True).iloc[0]
    assert legacy["predict"] == pred and legacy["c_b"] == c_b and legacy["correct"] == correct
    assert legacy["r_std"] == pytest.approx(r1, abs=1e-6)
    assert legacy["r_cs"] == pytest.approx(r2_code, abs=1e-6)
    assert legacy["r"] == pytest.approx(r_code, abs=1e-6)
    assert bool(legacy["seed_group"])
    sound = decide.cost_sensitive(table, cm, 0.001).iloc[0]
    assert sound["r_cs"] == pytest.approx(r2_paper, abs=1e-6)
    assert sound["r_std"] == pytest.approx(r1, abs=1e-6)
    # default: r = max(standard radius at alpha/2, r_cs) -- never above the legacy max
    counts = dict_counts(XIN_VECTORS[vec_id][0])
    r_half = cohen_radius(counts[c_a], N, 0.0005, 0.5) if counts[c_a] else -np.inf
    assert sound["r"] == pytest.approx(max(r_half, r2_paper), abs=1e-6)
    assert sound["r"] <= legacy["r"] + 1e-12
    strict = decide.cost_sensitive(table, cm, 0.001, abstain="strict").iloc[0]
    assert strict["correct"] == (0 if pred == -1 else correct)


def test_cost_sensitive_outputs_columns_mass_and_counts():
    table, cm = _xin_table("A")
    res = decide.cost_sensitive(table, cm, 0.001)
    assert list(res.columns) == [
        "idx",
        "label",
        "predict",
        "r",
        "r_std",
        "r_cs",
        "c_b",
        "n_a",
        "n_b",
        "mass",
        "correct",
        "seed_group",
    ]
    row = res.iloc[0]
    assert row["n_a"] == 60000 and row["n_b"] == 2000
    assert row["mass"] == pytest.approx(2000 / 40000)


def test_cost_sensitive_normal_rows_use_standard_certificate():
    labels = np.array([0, 0, 3])
    c_a = np.array([0, 1, 3])
    est = two_class_counts(c_a, [99000, 99000, 99000], [2, 2, 2])
    table = synthetic_table(labels, one_hot_counts(c_a, 100), est, sigma=0.5)
    cm = costs.preset("s-pair", "cifar10")
    for abstain in ("code", "strict"):
        res = decide.cost_sensitive(table, cm, 0.001, abstain=abstain)
        cert = decide.certify(table, 0.001)
        normal = res.iloc[:2]
        np.testing.assert_allclose(normal["r"], cert["radius"].iloc[:2], rtol=1e-9)
        np.testing.assert_allclose(normal["r_std"], normal["r"])
        assert normal["r_cs"].isna().all() and normal["mass"].isna().all()
        np.testing.assert_array_equal(normal["c_b"], [-1, -1])
        np.testing.assert_array_equal(normal["correct"], [1, 0])  # standard correctness
        np.testing.assert_array_equal(res["seed_group"], [False, False, True])


def test_cost_sensitive_overall_mode():
    labels = np.array([3, 3, 1])
    est = np.stack(
        [
            dict_counts({2: 8000, 3: 80000, 5: 12000}),
            dict_counts({3: 45000, 2: 30000, 5: 25000}),
            dict_counts({1: 10000, 4: 90000}),
        ]
    )
    sel = one_hot_counts([3, 3, 4], 100)
    table = synthetic_table(labels, sel, est, sigma=0.5)
    res = decide.cost_sensitive(table, None, 0.001, mode="overall", legacy_alpha=True)
    assert res["r_cs"].iloc[0] == pytest.approx(0.497076, abs=1e-6)  # vector D: Omega = all != 3
    np.testing.assert_array_equal(res["predict"], [3, -1, 4])
    np.testing.assert_array_equal(res["correct"], [1, 1, 0])  # abstention OK in the code convention
    assert res["seed_group"].all()
    strict = decide.cost_sensitive(table, None, 0.001, mode="overall", abstain="strict")
    np.testing.assert_array_equal(strict["correct"], [1, 0, 0])
    with_cm = decide.cost_sensitive(table, costs.preset("s-pair", "cifar10"), 0.001, mode="overall")
    np.testing.assert_array_equal(with_cm["seed_group"], [True, True, False])
    np.testing.assert_allclose(with_cm["r_cs"], strict["r_cs"])


def test_cost_sensitive_pair_mode():
    table, cm = _xin_table("C")
    res = decide.cost_sensitive(table, cm, 0.001, mode="pair")
    row = res.iloc[0]
    assert row["targets"] == (2, 4, 5)
    assert len(row["r_pair"]) == 3
    assert min(row["r_pair"]) == pytest.approx(row["r"], abs=1e-12)
    # target 4 has the smallest count -> the largest pairwise radius
    assert row["r_pair"][1] == max(row["r_pair"])
    group = decide.cost_sensitive(table, cm, 0.001).iloc[0]
    assert group["r"] == pytest.approx(row["r"])
    # a normal class (no sensitive targets) gets the standard certificate and no pairwise radii
    normal = synthetic_table([0], one_hot_counts([0], 100), dict_counts({0: N})[None, :], sigma=0.5)
    row = decide.cost_sensitive(normal, cm, 0.001, mode="pair").iloc[0]
    assert row["targets"] == () and len(row["r_pair"]) == 0
    assert row["r"] == row["r_std"] > 0


def test_cost_sensitive_errors():
    table, cm = _xin_table("A")
    with pytest.raises(ValueError, match="mode"):
        decide.cost_sensitive(table, cm, 0.001, mode="both")
    with pytest.raises(ValueError, match="abstain"):
        decide.cost_sensitive(table, cm, 0.001, abstain="lenient")
    with pytest.raises(ValueError, match="cost_matrix is required"):
        decide.cost_sensitive(table, None, 0.001)
    with pytest.raises(ValueError, match="K = 2"):
        decide.cost_sensitive(table, costs.overall(2), 0.001)
    lap = synthetic_table([3], one_hot_counts([3], 100), dict_counts({3: N})[None, :], noise="laplace")
    with pytest.raises(ValueError, match="Gaussian"):
        decide.cost_sensitive(lap, cm, 0.001)


def test_cs_correct_conventions():
    cm = costs.preset("s-pair", "cifar10")
    labels = [3, 3, 3, 3, 0, 0]
    pred = [3, -1, 5, 6, -1, 1]
    np.testing.assert_array_equal(decide.cs_correct(labels, pred, cm, "code"), [1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(decide.cs_correct(labels, pred, cm, "strict"), [1, 0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="predict must be -1"):
        decide.cs_correct([3], [10], cm)


def test_cost_sensitive_ham_vector_with_padded_preset():
    """Xin et al. 2025, reference test vectors extra vector: 4 outputs, counts [70000, 30000, 0, 0], sigma = 0.25."""
    cm = costs.preset("ham", "ham10000", num_classes=4)
    table = synthetic_table([0], one_hot_counts([0], 100, k=4), np.array([[70000, 30000, 0, 0]]), sigma=0.25)
    row = decide.cost_sensitive(table, cm, 0.001, legacy_alpha=True).iloc[0]
    assert row["r_std"] == pytest.approx(0.1279, abs=5e-5)
    assert row["r_cs"] == pytest.approx(0.1277, abs=5e-5)
    assert row["r"] == pytest.approx(0.1279, abs=5e-5)
    assert row["mass"] == 1.0 and row["c_b"] == 1 and bool(row["seed_group"])


@pytest.mark.parametrize("alpha", [0.5, 0.6, 0.0, -0.1, True])
def test_decisions_refuse_an_error_level_outside_zero_to_one_half(alpha) -> None:
    """At alpha >= 1/2 a one-sided 'confidence bound' lies above the point estimate: no certificate."""
    table = synthetic_table([0], [[90, 10]], [[900, 100]])
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\)"):
        decide.certify(table, alpha)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\)"):
        decide.predict(table, alpha)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\)"):
        decide.cost_sensitive(table, costs.overall(2), alpha, mode="overall")


# ------------------------------------------------------- boundaries found by the mutation check
@pytest.mark.parametrize("bad", [-1, K])
def test_labels_outside_the_classes_are_refused(bad: int) -> None:
    """A label of -1 or K (one past the last class) is refused by every reading that uses labels."""
    labels = np.array([0, bad])
    est = one_hot_counts(np.array([0, 1]), N)
    table = synthetic_table(labels, one_hot_counts(np.array([0, 1]), 100), est)
    cm = costs.preset("s-seed", "cifar10")
    with pytest.raises(ValueError, match="labels must be class indices"):
        decide.p_a_true(table)
    with pytest.raises(ValueError, match="labels must be class indices"):
        decide.cost_sensitive(table, cm, 0.001)
    with pytest.raises(ValueError, match="labels must be class indices"):
        decide.cs_correct(labels, np.array([0, 0]), cm)


@pytest.mark.parametrize("bad", [-2, K])
def test_predictions_outside_the_classes_are_refused(bad: int) -> None:
    """-1 is the abstention; -2 and K are no prediction at all."""
    cm = costs.preset("s-seed", "cifar10")
    with pytest.raises(ValueError, match="predict must be -1"):
        decide.cs_correct(np.array([0, 1]), np.array([0, bad]), cm)
    # the last class is a prediction like any other: only 0 -> K-1 costs (not 0 -> K-2, not 0 -> 0)
    # and the first class too: 1 -> 0 costs, 1 -> 1 is correct
    ends = costs.from_pairs(K, [(0, K - 1, 1.0), (1, 0, 1.0)])
    got = decide.cs_correct(np.array([0, 0, 0, 0, 1]), np.array([-1, 0, K - 2, K - 1, 0]), ends)
    np.testing.assert_array_equal(got, [1, 1, 1, 0, 0])


def test_predict_with_one_and_two_classes() -> None:
    """K = 1: the runner-up count is 0, so n_A = 10 samples give p-value 2^-9 and no abstention at
    alpha = 0.01 (Cohen et al.'s PREDICT with n_B = 0)."""
    table = synthetic_table([0], one_hot_counts(np.array([0]), 10, k=1), one_hot_counts(np.array([0]), 10, k=1))
    res = decide.predict(table, 0.01).iloc[0]
    assert res["pvalue"] == pytest.approx(2.0**-9) and res["predict"] == 0 and res["correct"] == 1
    # K = 2: the runner-up is the other class (6 vs 4 of 10: p-value of binomtest(6, 10))
    two = np.array([[6, 4]])
    res = decide.predict(synthetic_table([0], two, two), 0.01).iloc[0]
    assert res["pvalue"] == pytest.approx(binomtest(6, 10, 0.5).pvalue, rel=1e-12)
