"""Tests for randsmooth.metrics and the ``python -m randsmooth metrics`` CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from randsmooth import bounds, costs, decide, metrics, render
from randsmooth.cli import metrics as metrics_cli
from randsmooth.counts import read_table, synthetic_table, write_table

N = 100_000
K = 10


def counts_rows(spec_rows, k=K):
    out = np.zeros((len(spec_rows), k), dtype=np.int64)
    for i, spec in enumerate(spec_rows):
        for c, v in spec.items():
            out[i, c] = v
    return out


def sel_rows(classes, n0=100, k=K):
    out = np.zeros((len(classes), k), dtype=np.int64)
    out[np.arange(len(classes)), classes] = n0
    return out


def per_example(rows):
    return pd.DataFrame(rows, columns=["label", "predict", "radius", "correct"])


# ---------------------------------------------------------------- certified accuracy / ACR
def test_certified_accuracy_and_acr_hand_computed():
    df = per_example(
        [
            (0, 0, 0.8, 1),
            (1, 1, 0.5, 1),  # exactly on the grid value: counts at r = 0.5 (>=)
            (2, -1, 0.0, 0),  # abstention stays in the denominator
            (3, 5, 0.9, 0),  # wrong prediction with a radius
            (4, 4, 0.2, 1),
        ]
    )
    np.testing.assert_allclose(metrics.certified_accuracy(df, [0.0, 0.25, 0.5, 0.75, 1.0]), [0.6, 0.4, 0.4, 0.2, 0.0])
    assert metrics.certified_accuracy(df, 0.5) == pytest.approx(0.4)
    assert isinstance(metrics.certified_accuracy(df, 0.5), float)
    assert metrics.acr(df) == pytest.approx((0.8 + 0.5 + 0.2) / 5)
    assert metrics.clean_accuracy(df) == pytest.approx(0.6)
    assert metrics.abstain_rate(df) == pytest.approx(0.2)
    df_bool = df.assign(correct=df["correct"].astype(bool))
    assert metrics.acr(df_bool) == pytest.approx(metrics.acr(df))


def test_certified_accuracy_validation():
    df = per_example([(0, 0, 0.8, 1)])
    with pytest.raises(ValueError, match="radii"):
        metrics.certified_accuracy(df, [-0.1])
    with pytest.raises(ValueError, match=r"column\(s\) \['radius'\]"):
        metrics.certified_accuracy(df.drop(columns="radius"), 0.0)
    with pytest.raises(ValueError, match="0/1"):
        metrics.acr(df.assign(correct=2))
    with pytest.raises(ValueError, match="no rows"):
        metrics.acr(df.iloc[:0])


def test_high_prob_accuracy():
    penalty = 0.5 - metrics.high_prob_accuracy(0.5, 500, 0.001, 0.001)
    assert penalty == pytest.approx(0.009320, abs=5e-7)
    a, rho, n = 0.01, 0.05, 427
    expected = a + math.sqrt(a * (1 - a) * math.log(1 / rho) / n) + math.log(1 / rho) / (3 * n)
    np.testing.assert_allclose(
        metrics.high_prob_accuracy(np.array([0.3, 0.6]), n, a, rho), [0.3 - expected, 0.6 - expected]
    )
    with pytest.raises(ValueError, match="n_rows"):
        metrics.high_prob_accuracy(0.5, 0, 0.001, 0.001)


def test_certify_any_noise_and_budget_through_metrics():
    labels = np.array([0, 1])
    est = counts_rows([{0: 99000, 1: 1000}, {1: 60000, 0: 40000}])
    table = synthetic_table(labels, sel_rows(labels), est, sigma=1.0)
    res = decide.certify(table, 0.001)
    assert metrics.acr(res) == pytest.approx((2.29 + 0.240945) / 2, abs=1e-6)


# ------------------------------------------------------------------ p_A distribution
def test_pa_ccdf_at_half_equals_clean_certified_accuracy():
    """Every certified-correct row has p_A > 1/2 and every other row p_A < 1/2 -> y(0.5) = CA(0)."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6])
    est = counts_rows(
        [
            {0: 99000, 1: 1000},  # correct, p_A = 0.99
            {1: 70000, 2: 30000},  # correct, p_A = 0.70
            {2: 51000, 3: 49000},  # correct, p_A = 0.51
            {3: 40000, 4: 60000},  # wrong class, p_A = 0.40
            {4: 45000, 5: 30000, 6: 25000},  # true class on top but abstains (p_lower < 1/2), p_A = 0.45
            {5: 10000, 6: 90000},  # wrong, p_A = 0.10
            {6: 0, 1: 100000},  # wrong, p_A = 0
        ]
    )
    sel = sel_rows([0, 1, 2, 4, 4, 6, 1])
    table = synthetic_table(labels, sel, est, sigma=0.5)
    cert = decide.certify(table, 0.001)
    np.testing.assert_array_equal(cert["correct"], [1, 1, 1, 0, 0, 0, 0])
    ca0 = metrics.certified_accuracy(cert, 0.0)
    assert metrics.pa_ccdf(table, 0.5) == pytest.approx(ca0) == pytest.approx(3 / 7)
    np.testing.assert_allclose(
        metrics.pa_ccdf(table, [0.0, 0.4, 0.5, 0.7, 0.99, 1.0]), np.array([7, 3 + 2, 3, 2, 1, 0]) / 7
    )
    # Sun's released-file semantics (certified-correct AND p_A >= x): y(0.5) = CA(0) always
    np.testing.assert_allclose(metrics.pa_ccdf(table, [0.0, 0.5, 0.7], certified_alpha=0.001), np.array([3, 3, 2]) / 7)


def test_pa_ccdf_certified_semantics_on_random_table():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, K, 200)
    est = np.stack([rng.multinomial(N, rng.dirichlet(np.full(K, 0.3))) for _ in labels])
    sel = np.stack([rng.multinomial(100, e / N) for e in est])
    table = synthetic_table(labels, sel, est)
    curve = metrics.pa_ccdf_curve(table, certified_alpha=0.001)
    assert len(curve) == 501 and curve["x"].iloc[0] == 0.5 and curve["x"].iloc[-1] == 1.0
    assert curve["y"].iloc[0] == pytest.approx(metrics.clean_accuracy(decide.certify(table, 0.001)))
    assert (np.diff(curve["y"]) <= 0).all()


def test_pa_histogram():
    labels = np.array([0, 0, 0, 0])
    est = counts_rows([{0: 5000, 1: 95000}, {0: 55000, 1: 45000}, {0: 95000, 1: 5000}, {0: 100000}])
    table = synthetic_table(labels, sel_rows([0, 0, 0, 0]), est)
    hist = metrics.pa_histogram(table, bins=[0.0, 0.5, 0.9, 1.0])
    np.testing.assert_array_equal(hist["count"], [1, 1, 2])  # last bin closed: p_A = 1.0 included
    assert hist["fraction"].sum() == pytest.approx(1.0)


# -------------------------------------------------------------------------------- PREDICT
def test_predict_metrics_per_budget():
    labels = np.array([0, 1, 2, 3])
    est = counts_rows([{0: N}, {1: N}, {4: N}, {3: 50000, 5: 50000}])
    table = synthetic_table(labels, sel_rows([0, 1, 4, 3]), est, budgets=[10, 11], seed=5)
    pm = metrics.predict_metrics(table, 0.001)
    assert pm["budget"].tolist() == [10, 11, N]
    # budget 10: unanimous rows abstain (p = 0.00195 > 0.001); tie row abstains at any budget
    assert pm.loc[0, "accuracy"] == 0.0 and pm.loc[0, "abstain_rate"] == 1.0
    assert pm.loc[2, "accuracy"] == pytest.approx(0.5) and pm.loc[2, "abstain_rate"] == pytest.approx(0.25)
    bd = metrics.predict_breakdown(table, 0.001)
    cols = ["correct_accurate", "correct_inaccurate", "incorrect_accurate", "incorrect_inaccurate", "abstain"]
    np.testing.assert_allclose(bd[cols].sum(axis=1), 1.0)
    last = bd.iloc[-1]
    assert last["correct_accurate"] == pytest.approx(0.5) and last["incorrect_accurate"] == pytest.approx(0.25)


# --------------------------------------------------------------------- envelope / budgets
def test_envelope():
    grid = [0.0, 0.5, 1.0]
    res = metrics.envelope(
        {
            0.5: pd.Series([0.8, 0.4, 0.1], index=grid),
            0.25: pd.Series([0.8, 0.5, 0.0], index=grid),
            1.0: pd.DataFrame({"radius": grid, "certified_accuracy": [0.6, 0.4, 0.3]}),
        }
    )
    np.testing.assert_allclose(res["certified_accuracy"], [0.8, 0.5, 0.3])
    np.testing.assert_allclose(res["sigma"], [0.25, 0.25, 1.0])  # tie at r = 0 -> smallest sigma
    with pytest.raises(ValueError, match="different radius grid"):
        metrics.envelope({0.5: pd.Series([1.0], index=[0.0]), 1.0: pd.Series([1.0], index=[0.1])})


@pytest.mark.parametrize("sigma, expected", [(0.25, 0.0953), (0.5, 0.1906), (1.0, 0.3811)])
def test_acr_budget_curve_trivial_classifier(sigma, expected):
    """Sun C4: constant classifier, balanced 10 classes -> ACR = 0.1 R_max(N, alpha)."""
    labels = np.repeat(np.arange(K), 3)
    est = counts_rows([{0: N}] * len(labels))
    table = synthetic_table(labels, sel_rows([0] * len(labels)), est, sigma=sigma, budgets=[1000, 10000])
    curve = metrics.acr_budget_curve(table, 0.001)
    assert curve["budget"].tolist() == [1000, 10000, N]
    np.testing.assert_allclose(
        curve["max_radius"], bounds.max_radius(np.array([1000, 10000, N]), 0.001, sigma), rtol=1e-9
    )
    np.testing.assert_allclose(curve["acr"], 0.1 * curve["max_radius"], rtol=1e-9)
    assert curve["acr"].iloc[-1] == pytest.approx(expected, abs=5e-5)
    np.testing.assert_allclose(curve["frac_at_cap"], 0.1)
    plug = metrics.acr_budget_curve(table, 0.001, [N, 10**8], method="plugin")
    assert plug["acr"].iloc[0] == pytest.approx(curve["acr"].iloc[-1], rel=1e-12)
    assert plug["max_radius"].iloc[1] / sigma == pytest.approx(5.268, abs=5e-4)


def test_acr_budget_curve_prefix_matches_certify():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, K, 40)
    est = np.stack([rng.multinomial(N, rng.dirichlet(np.full(K, 0.2))) for _ in labels])
    sel = np.stack([rng.multinomial(100, e / N) for e in est])
    table = synthetic_table(labels, sel, est, budgets=[1000])
    curve = metrics.acr_budget_curve(table, 0.001)
    for b, value in zip(curve["budget"], curve["acr"], strict=True):
        assert value == pytest.approx(metrics.acr(decide.certify(table, 0.001, budget=int(b))))
    with pytest.raises(ValueError, match="explicit budgets"):
        metrics.acr_budget_curve(table, 0.001, method="plugin")


# ------------------------------------------------------------------- cost-sensitive metrics
def test_rob_cs_toy_check_both_conventions():
    """Xin et al. 2025, reference test vectors: label 3, S-Pair Omega = {5}."""
    df = pd.DataFrame({"label": [3] * 5, "predict": [3, -1, 5, 6, 3], "r": [0.566, 0.597, 0.256, 0.434, 0.05]})
    cm = costs.preset("s-pair", "cifar10")
    np.testing.assert_allclose(metrics.rob_cs(df, [0, 0.25, 0.5], cost_matrix=cm, abstain="code"), [0.8, 0.6, 0.4])
    np.testing.assert_allclose(metrics.rob_cs(df, [0, 0.25, 0.5], cost_matrix=cm, abstain="strict"), [0.6, 0.4, 0.2])
    with pytest.raises(ValueError, match="cost_matrix"):
        metrics.rob_cs(df, 0.0, abstain="code")


def test_rob_cs_from_decide_output_and_groups():
    # seeds: label 3 (S-Pair); rows 0-3 vectors A, B, E, I; row 4 a normal class
    spec = [
        {2: 20000, 3: 60000, 5: 2000, 6: 18000},
        {2: 30000, 3: 45000, 5: 500, 6: 24500},
        {2: 10000, 3: 20000, 5: 70000},
        {3: 40000, 5: 5000, 6: 55000},
        {0: 99000, 1: 1000},
    ]
    labels = np.array([3, 3, 3, 3, 0])
    table = synthetic_table(labels, sel_rows([3, 3, 5, 6, 0]), counts_rows(spec), sigma=0.5)
    cm = costs.preset("s-pair", "cifar10")
    code = decide.cost_sensitive(table, cm, 0.001, legacy_alpha=True)
    np.testing.assert_allclose(metrics.rob_cs(code, [0.0, 0.5, 0.58]), [0.75, 0.5, 0.25])
    strict = decide.cost_sensitive(table, cm, 0.001, legacy_alpha=True, abstain="strict")
    np.testing.assert_allclose(metrics.rob_cs(strict, [0.0, 0.5]), [0.5, 0.25])
    np.testing.assert_allclose(metrics.rob_cs(code, [0.0, 0.5], cost_matrix=cm, abstain="strict"), [0.5, 0.25])
    cert = decide.certify(table, 0.001)
    assert metrics.rob_std(cert, 0.0) == pytest.approx(2 / 5)  # A and the normal row
    gb = metrics.group_breakdown(cert, cm, [0.0, 0.1], cs_df=code)
    pick = lambda g, m, r: gb[(gb.group == g) & (gb.metric == m) & (gb.radius == r)]["value"].item()  # noqa: E731
    assert pick("sensitive", "clean_accuracy", 0.0) == pytest.approx(0.25)
    assert pick("normal", "clean_accuracy", 0.0) == pytest.approx(1.0)
    assert pick("sensitive", "rob_cs_code", 0.1) == pytest.approx(0.75)
    assert pick("all", "rob_std", 0.1) == pytest.approx(2 / 5)


def test_rob_cost_max_toy_matrix():
    cm = costs.CostMatrix([[0, 5, 2], [1, 0, 0], [0, 0, 0]])
    df = pd.DataFrame(
        {
            "label": [0, 0, 0, 1, 1, 2],
            "predict": [0, -1, 1, 1, 0, 1],
            "r": [0.6, 0.3, 0.9, 0.2, 0.4, 0.0],
        }
    )
    # eps = 0.5, code: row0 ok; row1 r<eps -> 5; row2 predicts a target -> 5; row3 ok? r<eps -> 1;
    # row4 predicts 0 in Omega_1 -> 1; row5 normal -> 0
    assert metrics.rob_cost_max(df, cm, 0.5) == pytest.approx((5 + 5 + 1 + 1) / 6)
    assert metrics.rob_cost_sum(df, cm, 0.5) == pytest.approx((7 + 7 + 1 + 1) / 6)
    # eps = 0.25, strict: the abstained row fails although r >= eps
    np.testing.assert_allclose(metrics.rob_cost_max(df, cm, [0.25], abstain="strict"), [(5 + 5 + 1 + 1) / 6])
    assert metrics.rob_cost_max(df, cm, 0.25, abstain="code") == pytest.approx((5 + 1 + 1) / 6)
    pair = df.assign(
        targets=[cm.sensitive_targets(y) for y in df["label"]],
        r_pair=[
            np.array([0.7, 0.2]),
            np.array([0.6, 0.3]),
            np.array([0.9, 0.9]),
            np.array([0.2]),
            np.array([0.4]),
            np.array([]),
        ],
    )
    # eps = 0.5 per target: row0 target 2 uncertified -> 2; row1 target 2 -> 2; row2 predicts 1 -> 5;
    # row3 -> 1; row4 predicts 0 -> 1
    assert metrics.rob_cost_max(pair, cm, 0.5, per_target=True) == pytest.approx((2 + 2 + 5 + 1 + 1) / 6)


def test_precision_recall_ham():
    df = pd.DataFrame({"label": [0, 0, 0, 1, 1, 1], "predict": [0, -1, 1, 0, 1, 1]})
    pr = metrics.precision_recall(df, positive=0)
    assert pr["precision"] == pytest.approx(0.5) and pr["recall"] == pytest.approx(1 / 3)
    assert (pr["tp"], pr["fp"], pr["fn"]) == (1, 1, 2)
    assert math.isnan(metrics.precision_recall(df.assign(predict=1), positive=0)["precision"])


# ---------------------------------------------------------------------------- table writers
COHEN_LATEX = (
    "& $r = 0.25$& $r = 0.5$& $r = 0.75$& $r = 1.0$& $r = 1.25$& $r = 1.5$\\\\\n"
    "\\midrule\n"
    "$\\sigma = 0.12$ & 0.59 & 0.00 & 0.00 & 0.00 & 0.00 & 0.00\\\\\n"
    "$\\sigma = 0.25$ & \\textbf{0.60} & \\textbf{0.43} & 0.27 & 0.00 & 0.00 & 0.00\\\\\n"
    "$\\sigma = 0.50$ & 0.55 & 0.41 & \\textbf{0.32} & \\textbf{0.23} & 0.15 & 0.09\\\\\n"
    "$\\sigma = 1.00$ & 0.39 & 0.34 & 0.28 & 0.22 & \\textbf{0.17} & \\textbf{0.14}\\\\\n"
)
COHEN_MARKDOWN = (
    "|  | r = 0.25 |r = 0.5 |r = 0.75 |r = 1.0 |r = 1.25 |r = 1.5 |\n"
    "| --- |  --- | --- | --- | --- | --- | --- |\n"
    "<b> &sigma; = 0.12 </b>| 0.59 |0.00 |0.00 |0.00 |0.00 |0.00 |\n"
    "<b> &sigma; = 0.25 </b>| 0.60<b>*</b> |0.43<b>*</b> |0.27 |0.00 |0.00 |0.00 |\n"
    "<b> &sigma; = 0.50 </b>| 0.55 |0.41 |0.32<b>*</b> |0.23<b>*</b> |0.15 |0.09 |\n"
    "<b> &sigma; = 1.00 </b>| 0.39 |0.34 |0.28 |0.22 |0.17<b>*</b> |0.14<b>*</b> |\n"
)
CIFAR_VALUES = [
    [0.588, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.6, 0.428, 0.266, 0.0, 0.0, 0.0],
    [0.55, 0.41, 0.32, 0.23, 0.15, 0.09],
    [0.39, 0.34, 0.28, 0.22, 0.17, 0.14],
]


def test_cohen_latex_and_markdown_exact(tmp_path):
    radii = np.arange(0.25, 1.5 + 0.25, 0.25)  # Cohen's np.arange grid
    latex_df = pd.DataFrame(
        CIFAR_VALUES, index=[f"$\\sigma = {s}$" for s in ("0.12", "0.25", "0.50", "1.00")], columns=list(radii)
    )
    render.to_latex_cohen(latex_df, tmp_path / "t.tex")
    assert (tmp_path / "t.tex").read_text() == COHEN_LATEX
    md_df = latex_df.set_axis([f"&sigma; = {s}" for s in ("0.12", "0.25", "0.50", "1.00")], axis=0)
    render.to_markdown(md_df, tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text() == COHEN_MARKDOWN
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_cohen_writer_first_row_wins_ties_and_table_builder(tmp_path):
    a = per_example([(0, 0, 0.6, 1), (1, -1, 0.0, 0)])
    b = per_example([(0, 0, 0.6, 1), (1, 1, 0.3, 1)])
    table = metrics.certified_accuracy_table({"A": a, "B": b}, [0.5, 0.25])
    np.testing.assert_allclose(table.to_numpy(), [[0.5, 0.5], [0.5, 1.0]])
    assert list(table.columns) == [0.5, 0.25]
    render.to_latex_cohen(table, tmp_path / "x")
    assert (tmp_path / "x").read_text() == (
        "& $r = 0.5$& $r = 0.25$\\\\\n\\midrule\nA & \\textbf{0.50} & 0.50\\\\\nB & 0.50 & \\textbf{1.00}\\\\\n"
    )
    render.to_csv(table, tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_text().splitlines()[0] == ",0.5,0.25"


# ------------------------------------------------------------------------------------ CLI
def _cli_table():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, K, 60)
    probs = [np.eye(K)[y] * 0.8 + rng.dirichlet(np.ones(K)) * 0.2 for y in labels]
    est = np.stack([rng.multinomial(N, p) for p in probs])
    sel = np.stack([rng.multinomial(100, p) for p in probs])
    return synthetic_table(labels, sel, est, sigma=0.5, budgets=[100, 1000])


def test_metrics_cli_end_to_end(tmp_path):
    table = _cli_table()
    path = tmp_path / "merged.parquet"
    write_table(table, path)
    out_csv, out_md, out_pe = tmp_path / "m.csv", tmp_path / "m.md", tmp_path / "pe.parquet"
    rc = metrics_cli.main(
        [
            "--table",
            str(path),
            "--alpha",
            "0.001",
            "--radii",
            "0,0.5,1.0",
            "--out-csv",
            str(out_csv),
            "--out-md",
            str(out_md),
            "--per-example",
            str(out_pe),
            "--cost-preset",
            "s-seed",
            "--cost-dataset",
            "cifar10",
        ]
    )
    assert rc == 0
    summary = pd.read_csv(out_csv, keep_default_na=False)
    assert list(summary.columns) == ["metric", "param", "value"]
    loaded = read_table(path)
    cert = decide.certify(loaded, 0.001)

    def get(metric, param=""):
        sel = summary[(summary.metric == metric) & (summary.param.astype(str) == str(param))]
        assert len(sel) == 1, (metric, param)
        return float(sel["value"].iloc[0])

    assert get("n_rows") == 60
    for r in (0.0, 0.5, 1.0):
        assert get("certified_accuracy", r) == pytest.approx(metrics.certified_accuracy(cert, r))
    assert get("acr") == pytest.approx(metrics.acr(cert))
    assert get("clean_accuracy") == pytest.approx(metrics.clean_accuracy(cert))
    assert get("abstain_rate") == pytest.approx(metrics.abstain_rate(cert))
    pm = metrics.predict_metrics(loaded, 0.001)
    for rec in pm.to_dict("records"):
        assert get("predict_accuracy", rec["budget"]) == pytest.approx(rec["accuracy"])
    assert get("pa_ccdf", 0.9) == pytest.approx(metrics.pa_ccdf(loaded, 0.9))
    cm = costs.preset("s-seed", "cifar10")
    cs = decide.cost_sensitive(loaded, cm, 0.001)
    assert get("rob_cs_code", 0.5) == pytest.approx(metrics.rob_cs(cs, 0.5))
    assert get("rob_cost_max_strict", 0.5) == pytest.approx(metrics.rob_cost_max(cs, cm, 0.5, abstain="strict"))
    assert "Certified accuracy" in out_md.read_text()
    pe = pd.read_parquet(out_pe)
    np.testing.assert_allclose(pe["radius"], cert["radius"])
    assert "cs_r" in pe.columns


def test_first_examples_reads_a_prefix_of_the_run(tmp_path):
    """Cohen et al.'s truncated ImageNet log: the metrics of the first N examples (by idx), as if only
    they had been certified; the same counts serve the full run."""
    from randsmooth.evaluate import MetricsSpec, evaluate

    table = _cli_table()
    table["idx"] = np.arange(60)[::-1] * 100  # stored in any order: "first" is by example index
    path = tmp_path / "merged.parquet"
    write_table(table, path)
    loaded = read_table(path)
    first = evaluate(loaded, MetricsSpec(alpha=0.01, first_examples=42, radii=(0.0, 0.5)))
    alone = evaluate(loaded[loaded["idx"] < 4200], MetricsSpec(alpha=0.01, radii=(0.0, 0.5)))
    pd.testing.assert_frame_equal(first.long, alone.long)
    assert first.long.query("metric == 'n_rows'")["value"].item() == 42
    assert first.per_example["idx"].max() == 4100
    with pytest.raises(ValueError, match="first_examples 61 exceeds the table's 60 examples"):
        evaluate(loaded, MetricsSpec(alpha=0.01, first_examples=61))
    with pytest.raises(ValueError, match="first_examples must be a positive integer"):
        MetricsSpec(alpha=0.01, first_examples=0)
    out = tmp_path / "m.csv"
    args = ["--table", str(path), "--alpha", "0.01", "--first-examples", "42", "--out-csv", str(out)]
    assert metrics_cli.main(args + ["--out-md", str(tmp_path / "m.md")]) == 0
    assert pd.read_csv(out).query("metric == 'n_rows'")["value"].item() == 42
    assert "noise space pixel: sigma and radii in [0, 1] pixel units" in (tmp_path / "m.md").read_text()


def test_metrics_cli_cost_config_file_matches_preset(tmp_path, capsys):
    path = tmp_path / "merged.parquet"
    write_table(_cli_table(), path)
    cfg = tmp_path / "costs.yaml"
    cfg.write_text("num_classes: 10\npairs: [[3, 5, 1.0]]\n")
    args = ["--table", str(path), "--alpha", "0.001", "--radii", "0,0.5"]
    metrics_cli.main(args + ["--out-csv", str(tmp_path / "a.csv"), "--cost-config", str(cfg)])
    metrics_cli.main(
        args + ["--out-csv", str(tmp_path / "b.csv"), "--cost-preset", "s-pair", "--cost-dataset", "cifar10"]
    )
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert (a["metric"] == "rob_cs_code").any()
    pd.testing.assert_frame_equal(a, b)
    assert (
        metrics_cli.main(
            args
            + [
                "--out-csv",
                str(tmp_path / "c.csv"),
                "--cost-config",
                str(cfg),
                "--cost-preset",
                "s-pair",
                "--cost-dataset",
                "cifar10",
            ]
        )
        == 2
    )
    assert "not both" in capsys.readouterr().err
    assert (
        metrics_cli.main(args + ["--out-csv", str(tmp_path / "c.csv"), "--cost-config", str(tmp_path / "no.yaml")]) == 2
    )
    assert "--cost-config" in capsys.readouterr().err


def test_metrics_cli_errors(tmp_path, capsys):
    """User errors are one line on stderr and exit status 2; nothing is written."""
    out = str(tmp_path / "x.csv")
    assert metrics_cli.main(["--table", str(tmp_path / "missing.parquet"), "--alpha", "0.001", "--out-csv", out]) == 2
    assert "missing.parquet" in capsys.readouterr().err
    path = tmp_path / "t.parquet"
    write_table(_cli_table(), path)
    assert (
        metrics_cli.main(["--table", str(path), "--alpha", "0.001", "--out-csv", out, "--cost-preset", "s-seed"]) == 2
    )
    assert "--cost-dataset" in capsys.readouterr().err
    assert metrics_cli.main(["--table", str(path), "--alpha", "0.001", "--out-csv", out, "--radii", "a,b"]) == 2
    assert "--radii" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_dispatcher_maps_metrics():
    from randsmooth.cli import COMMANDS

    assert COMMANDS["metrics"][0] == "metrics"
