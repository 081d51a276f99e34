"""Metrics computed from per-example results: certified accuracy, ACR, p_A distributions,
PREDICT accuracy, budget curves, envelopes and cost-sensitive robustness.

Two kinds of input:

* a **per-example result table** with at least the columns ``label, predict, radius, correct``
  (the output of :func:`randsmooth.decide.certify`, an imported reference log, or any pandas table
  in that shape): :func:`certified_accuracy`, :func:`acr`, :func:`clean_accuracy`,
  :func:`abstain_rate`, :func:`precision_recall`;
* a **merged count table** (the Parquet schema of :mod:`randsmooth.counts`) plus alpha: the
  functions that need counts (:func:`predict_metrics`, :func:`pa_ccdf`, :func:`pa_histogram`,
  :func:`acr_budget_curve`).

Text renderings of these tables are in :mod:`randsmooth.render`; one metrics variant of a count
table (alpha, norm, budget, radii, cost matrix) is computed by :mod:`randsmooth.evaluate`.

Conventions (Cohen et al. 2019, the experiments' certified accuracy; Sun et al. 2025, ACR):

* certified accuracy at r = mean over **all rows** of (correct AND radius >= r): abstentions and
  wrong predictions stay in the denominator; the comparison is non-strict (>=) and uses the radius
  as stored (imported logs: the written 3-significant-digit value).
* ACR = mean over all rows of max(radius, 0) * correct (abstained and wrong rows contribute 0;
  negative raw radii, which only cost-sensitive tables carry, are clipped to 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import bounds, decide
from .costs import CostMatrix
from .counts import common_budgets, estimation_counts, int_column, noise_from_table, require_columns, selection_counts
from .counts.access import check_budget

__all__ = [
    "SUN_ECDF_GRID",
    "abstain_rate",
    "acr",
    "acr_budget_curve",
    "certified_accuracy",
    "certified_accuracy_table",
    "clean_accuracy",
    "envelope",
    "group_breakdown",
    "high_prob_accuracy",
    "pa_ccdf",
    "pa_ccdf_curve",
    "pa_histogram",
    "precision_recall",
    "predict_breakdown",
    "predict_metrics",
    "rob_cost_max",
    "rob_cost_sum",
    "rob_cs",
    "rob_std",
]

#: Sun et al.'s figure-9 grid x = 0.5, 0.501, ..., 1.0 (501 points, rounded to 3 decimals).
SUN_ECDF_GRID: np.ndarray = np.round(0.5 + 0.001 * np.arange(501), 3)


# ----------------------------------------------------------------------------- validation
def _correct(df: pd.DataFrame, column: str = "correct") -> np.ndarray:
    arr = np.asarray(df[column])
    if arr.dtype == bool:
        return arr
    vals = np.asarray(arr, dtype=np.float64)
    if not np.isin(vals, (0.0, 1.0)).all():
        raise ValueError(f"column {column!r} must contain only 0/1 (or booleans)")
    return vals == 1.0


def _radius(df: pd.DataFrame, column: str = "radius") -> np.ndarray:
    r = np.asarray(df[column], dtype=np.float64)
    if np.isnan(r).any():
        raise ValueError(f"column {column!r} must not contain NaN")
    return r


def _radii(radii: Any) -> tuple[np.ndarray, bool]:
    """Radii as a float64 1-D array, and whether the input was a scalar."""
    scalar = np.ndim(radii) == 0
    arr = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    if arr.ndim != 1 or (~np.isfinite(arr)).any() or (arr < 0).any():
        raise ValueError(f"radii must be finite numbers >= 0, got {radii!r}")
    return arr, scalar


def _out(values: np.ndarray, scalar: bool) -> Any:
    return float(values[0]) if scalar else values


# ---------------------------------------------------------------------- per-example metrics
def certified_accuracy(df: pd.DataFrame, radii: Any, *, radius_column: str = "radius") -> Any:
    """Approximate certified accuracy at each radius r: mean over ALL rows of correct AND radius >= r.

    Args:
        df: per-example table with columns ``correct`` (0/1) and ``radius``.
        radii: one radius (returns a float) or a sequence (returns a float64 array).
        radius_column: use another radius column (e.g. ``"r"`` of a cost-sensitive table).
    """
    require_columns(df, ["correct", radius_column], "certified_accuracy")
    ok = _correct(df)
    r = _radius(df, radius_column)
    grid, scalar = _radii(radii)
    values = np.array([np.mean(ok & (r >= g)) for g in grid], dtype=np.float64)
    return _out(values, scalar)


def acr(df: pd.DataFrame, *, radius_column: str = "radius") -> float:
    """Average certified radius: mean over all rows of max(radius, 0) * correct."""
    require_columns(df, ["correct", radius_column], "acr")
    return float(np.mean(np.maximum(_radius(df, radius_column), 0.0) * _correct(df)))


def clean_accuracy(df: pd.DataFrame) -> float:
    """Smoothed ("clean") accuracy = certified accuracy at radius 0 (abstentions count as wrong).

    For a CERTIFY table this is the fraction of rows with predict == label; Xin et al.'s "Acc"
    (if it is the smoothed accuracy -- not verified) and Cohen's r = 0 column.
    """
    return float(certified_accuracy(df, 0.0))


def abstain_rate(df: pd.DataFrame) -> float:
    """Fraction of rows with predict == -1."""
    require_columns(df, ["predict"], "abstain_rate")
    return float(np.mean(np.asarray(df["predict"]) == -1))


def high_prob_accuracy(approx: Any, n_rows: int, alpha: float, rho: float) -> Any:
    """Cohen et al.'s high-probability lower bound on the true certified accuracy.

    approx - alpha - sqrt(alpha (1 - alpha) ln(1/rho) / N) - ln(1/rho) / (3 N), N = ``n_rows``
    (all rows of the log). Holds with probability >= 1 - rho over the test-set sampling when each
    certificate fails with probability <= alpha. At N = 500, alpha = rho = 0.001 the penalty is
    0.009320. ``approx`` may be a scalar or an array.
    """
    if isinstance(n_rows, (bool, np.bool_)) or not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    for name, v in (("alpha", alpha), ("rho", rho)):
        if not (isinstance(v, (int, float, np.floating)) and 0 < float(v) < 1):
            raise ValueError(f"{name} must be in (0, 1), got {v!r}")
    log_rho = math.log(1.0 / rho)
    penalty = alpha + math.sqrt(alpha * (1 - alpha) * log_rho / n_rows) + log_rho / (3 * n_rows)
    out = np.asarray(approx, dtype=np.float64) - penalty
    return float(out) if out.ndim == 0 else out


def precision_recall(df: pd.DataFrame, positive: int = 0) -> dict[str, float]:
    """Precision and recall of the smoothed predictions for the class ``positive``.

    HAM10000 convention: malignant = class 0 is the positive class. An abstention counts as a
    negative (not-positive) prediction: it lowers recall, never precision. Precision is NaN when
    nothing is predicted positive; recall is NaN without positive labels.
    """
    require_columns(df, ["label", "predict"], "precision_recall")
    y = np.asarray(df["label"]) == positive
    p = np.asarray(df["predict"]) == positive
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    fn = int(np.sum(y & ~p))
    return {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_positive": int(np.sum(y)),
        "n_predicted_positive": int(np.sum(p)),
    }


# ---------------------------------------------------------------------------- PREDICT
def predict_metrics(table: pd.DataFrame, alpha: float, budgets: Sequence[int] | None = None) -> pd.DataFrame:
    """Cohen's PREDICT at each prefix budget: DataFrame budget, accuracy, abstain_rate, n_rows.

    accuracy = fraction of all rows with predict == label (abstentions count as wrong).
    ``budgets=None``: every prefix budget present in all rows.
    """
    budgets = common_budgets(table) if budgets is None else list(budgets)
    if not budgets:
        raise ValueError("predict_metrics: no budgets given and the table has no common prefix budget")
    rows = []
    for b in budgets:
        res = decide.predict(table, alpha, budget=int(b))
        rows.append(
            {
                "budget": int(b),
                "accuracy": float(res["correct"].mean()),
                "abstain_rate": float(np.mean(res["predict"] == -1)),
                "n_rows": len(res),
            }
        )
    return pd.DataFrame(rows)


def predict_breakdown(
    table: pd.DataFrame, alpha: float, budgets: Sequence[int] | None = None, gold_budget: int | None = None
) -> pd.DataFrame:
    """Cohen's ``analyze_predict`` table: PREDICT at each budget vs the gold-standard prediction.

    The gold prediction is PREDICT at ``gold_budget`` (default: the largest common budget).
    "accurate" = same output as the gold prediction. Columns (fractions of all rows):
    correct_accurate, correct_inaccurate, incorrect_accurate, incorrect_inaccurate (abstentions
    excluded from these four) and abstain.
    """
    common = common_budgets(table)
    budgets = common if budgets is None else list(budgets)
    gold_b = max(common) if gold_budget is None else int(gold_budget)
    gold = decide.predict(table, alpha, budget=gold_b)["predict"].to_numpy()
    rows = []
    for b in budgets:
        res = decide.predict(table, alpha, budget=int(b))
        pred = res["predict"].to_numpy()
        answered = pred != -1
        corr = res["correct"].to_numpy() == 1
        acc = pred == gold
        rows.append(
            {
                "budget": int(b),
                "correct_accurate": float(np.mean(answered & corr & acc)),
                "correct_inaccurate": float(np.mean(answered & corr & ~acc)),
                "incorrect_accurate": float(np.mean(answered & ~corr & acc)),
                "incorrect_inaccurate": float(np.mean(answered & ~corr & ~acc)),
                "abstain": float(np.mean(~answered)),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ p_A distribution
def pa_histogram(table: pd.DataFrame, bins: Any = 20, *, budget: int | None = None) -> pd.DataFrame:
    """Histogram of Sun et al.'s per-example p_A (true-label count / n') over all rows.

    ``bins`` as for :func:`numpy.histogram` on [0, 1] (last bin closed). Returns DataFrame left,
    right, count, fraction.
    """
    pa = decide.p_a_true(table, budget)
    counts, edges = np.histogram(pa, bins=bins, range=(0.0, 1.0))
    return pd.DataFrame(
        {"left": edges[:-1], "right": edges[1:], "count": counts.astype(np.int64), "fraction": counts / len(pa)}
    )


def pa_ccdf(
    table: pd.DataFrame,
    thresholds: Any,
    *,
    budget: int | None = None,
    certified_alpha: float | None = None,
    two_sided: bool = False,
) -> Any:
    """Complementary ECDF of the empirical true-label p_A: fraction of ALL rows with p_A >= t.

    p_A = estimation count of the true label / n' (Sun et al. 2025, figure 9). With
    ``certified_alpha`` set, a row counts only if it is also certified correct by CERTIFY at that
    alpha -- the semantics of Sun's released ``data/ecdf`` files, whose y(0.5) equals the clean
    certified accuracy exactly. Without it, y(0.5) equals the clean certified accuracy whenever
    every certified-correct row has p_A > 1/2 and every other row p_A < 1/2.
    Returns a float for a scalar threshold, else a float64 array.
    """
    pa = decide.p_a_true(table, budget)
    grid = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if grid.ndim != 1 or (~np.isfinite(grid)).any():
        raise ValueError(f"thresholds must be finite numbers, got {thresholds!r}")
    mask = np.ones(len(pa), dtype=bool)
    if certified_alpha is not None:
        mask = decide.certify(table, certified_alpha, budget=budget, two_sided=two_sided)["correct"].to_numpy() == 1
    values = np.array([np.mean(mask & (pa >= t)) for t in grid], dtype=np.float64)
    return float(values[0]) if np.ndim(thresholds) == 0 else values


def pa_ccdf_curve(
    table: pd.DataFrame,
    *,
    grid: Any = None,
    budget: int | None = None,
    certified_alpha: float | None = None,
    two_sided: bool = False,
) -> pd.DataFrame:
    """:func:`pa_ccdf` on Sun's grid 0.5:0.001:1.0 (or ``grid``) as a DataFrame x, y."""
    x = SUN_ECDF_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    y = pa_ccdf(table, x, budget=budget, certified_alpha=certified_alpha, two_sided=two_sided)
    return pd.DataFrame({"x": x, "y": np.atleast_1d(y)})


# ------------------------------------------------------------------- envelopes and budgets
def _curve(curve: Any, key: Any) -> pd.Series:
    if isinstance(curve, pd.Series):
        s = curve.astype(np.float64)
    elif isinstance(curve, pd.DataFrame) and {"radius", "certified_accuracy"} <= set(curve.columns):
        s = pd.Series(curve["certified_accuracy"].to_numpy(np.float64), index=curve["radius"].to_numpy(np.float64))
    else:
        raise ValueError(
            f"curve for {key!r} must be a Series indexed by radius or a DataFrame with columns "
            "radius, certified_accuracy"
        )
    return s


def envelope(results: Mapping[float, Any]) -> pd.DataFrame:
    """Best certified accuracy over sigma at each radius (Yang et al.'s envelope, Table 1).

    ``results`` maps sigma -> curve (a Series indexed by radius, or a DataFrame with columns
    radius, certified_accuracy); all curves must share one radius grid. Returns a DataFrame with
    columns radius, certified_accuracy, sigma (the argmax; ties -> the smallest sigma).
    """
    if not results:
        raise ValueError("envelope needs at least one sigma -> curve entry")
    keys = sorted(results, key=float)
    curves = [_curve(results[k], k) for k in keys]
    grid = curves[0].index.to_numpy(np.float64)
    for k, c in zip(keys, curves, strict=True):
        if len(c) != len(grid) or not np.array_equal(c.index.to_numpy(np.float64), grid):
            raise ValueError(f"curve for sigma={k!r} uses a different radius grid than sigma={keys[0]!r}")
    values = np.stack([c.to_numpy(np.float64) for c in curves])
    best = np.argmax(values, axis=0)
    return pd.DataFrame(
        {
            "radius": grid,
            "certified_accuracy": values[best, np.arange(len(grid))],
            "sigma": np.asarray([float(keys[i]) for i in best]),
        }
    )


def acr_budget_curve(
    table: pd.DataFrame,
    alpha: float,
    budgets: Sequence[int] | None = None,
    *,
    method: str = "prefix",
    norm: str = "l2",
    two_sided: bool = False,
) -> pd.DataFrame:
    """ACR as a function of the Monte Carlo budget N' (Sun et al. 2025, section 2.2).

    method="prefix" (default): re-run CERTIFY on the recorded cumulative counts of the first N'
    estimation samples (real Monte Carlo at each budget; budgets must be prefix budgets).
    method="plugin": Sun's sweep -- treat p_hat = n_A / n (full budget) as the true probability
    and certify with floor(p_hat N') hits out of N' (ignores Monte Carlo noise; any N' >= 1,
    e.g. 1e8).

    Returns DataFrame budget, acr, clean_accuracy, max_radius (the cap: the radius at n_A = N',
    sigma Phi^{-1}(alpha^(1/N')) for Gaussian noise) and frac_at_cap (rows certified at the cap).
    """
    if method not in ("prefix", "plugin"):
        raise ValueError(f"method must be 'prefix' or 'plugin', got {method!r}")
    nz = noise_from_table(table)
    if budgets is None:
        if method == "plugin":
            raise ValueError("method='plugin' needs explicit budgets")
        budgets = common_budgets(table)
    rows = []
    if method == "plugin":
        sel = selection_counts(table)
        counts, n = estimation_counts(table)
        c_a = np.argmax(sel, axis=1)
        n_a_full = counts[np.arange(len(counts)), c_a].astype(object)
        labels = int_column(table, "label")
    for b in budgets:
        b = check_budget(b)
        if method == "prefix":
            res = decide.certify(table, alpha, norm=norm, budget=b, two_sided=two_sided, noise=nz)
            n_a = res["n_a"].to_numpy()
        else:
            n_a = np.asarray([int(k) * b // int(m) for k, m in zip(n_a_full, n, strict=True)], dtype=np.float64)
            p_low = np.asarray(bounds.cp_lower(n_a, b, alpha, two_sided=two_sided), dtype=np.float64)
            abst = p_low <= 0.5
            pred = np.where(abst, -1, c_a)
            res = pd.DataFrame(
                {
                    "label": labels,
                    "predict": pred,
                    "radius": np.where(abst, 0.0, nz.radius(p_low, norm)),
                    "correct": (pred == labels).astype(np.int64),
                }
            )
        cap = float(nz.radius(np.asarray([bounds.cp_lower(b, b, alpha, two_sided=two_sided)]), norm)[0])
        at_cap = (n_a == b) & (res["correct"].to_numpy() == 1)
        rows.append(
            {
                "budget": b,
                "acr": acr(res),
                "clean_accuracy": clean_accuracy(res),
                "max_radius": cap,
                "frac_at_cap": float(np.mean(at_cap)),
            }
        )
    return pd.DataFrame(rows)


# -------------------------------------------------------------------- cost-sensitive metrics
def _cs_frame(
    df: pd.DataFrame, cost_matrix: CostMatrix | None, abstain: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct, radius, seed mask) of a cost-sensitive per-example table."""
    rcol = "r" if "r" in df.columns else "radius"
    require_columns(df, ["label", "predict", rcol], "cost-sensitive metrics")
    r = np.asarray(df[rcol], dtype=np.float64)
    if abstain is not None:
        if cost_matrix is None:
            raise ValueError("choosing an abstain convention needs the cost_matrix (to recompute correctness)")
        correct = decide.cs_correct(df["label"].to_numpy(), df["predict"].to_numpy(), cost_matrix, abstain) == 1
    else:
        require_columns(df, ["correct"], "cost-sensitive metrics without an abstain convention")
        correct = _correct(df)
    if cost_matrix is not None:
        seeds = cost_matrix.is_seed(df["label"].to_numpy().astype(np.int64))
    else:
        require_columns(df, ["seed_group"], "cost-sensitive metrics without a cost matrix")
        seeds = np.asarray(df["seed_group"], dtype=bool)
    return correct, np.nan_to_num(r, nan=-np.inf), seeds


def rob_cs(df: pd.DataFrame, eps: Any, *, cost_matrix: CostMatrix | None = None, abstain: str | None = None) -> Any:
    """Certified cost-sensitive robustness Rob_cs(eps) (Xin et al. 2025, the experiments' metric).

    Over the rows whose label is a sensitive seed: fraction with (predict not in Omega_y) and
    r >= eps, r = the cost-sensitive radius (column ``r`` of :func:`randsmooth.decide.cost_sensitive`,
    or ``radius``). By default the table's ``correct`` and ``seed_group`` columns are used. Given
    ``cost_matrix`` the seeds come from it; given also ``abstain`` ("code": abstention allowed, as
    in Xin's code; "strict": abstention = failure) correctness is recomputed from ``predict``.
    Returns a float for a scalar eps, else an array; NaN if there is no seed row.
    """
    correct, r, seeds = _cs_frame(df, cost_matrix, abstain)
    grid, scalar = _radii(eps)
    if not seeds.any():
        return _out(np.full(len(grid), np.nan), scalar)
    values = np.array([np.mean((correct & (r >= g))[seeds]) for g in grid], dtype=np.float64)
    return _out(values, scalar)


def rob_std(df: pd.DataFrame, eps: Any) -> Any:
    """Rob_std(eps): Cohen's certified accuracy (use a :func:`randsmooth.decide.certify` table)."""
    return certified_accuracy(df, eps)


def _rob_cost(df: pd.DataFrame, cost_matrix: CostMatrix, eps: Any, abstain: str, per_target: bool, reduce: str) -> Any:
    if not isinstance(cost_matrix, CostMatrix):
        raise ValueError(f"cost_matrix must be a CostMatrix, got {type(cost_matrix).__name__}")
    correct, r, _ = _cs_frame(df, cost_matrix, abstain)
    grid, scalar = _radii(eps)
    labels = df["label"].to_numpy().astype(np.int64)
    pred = df["predict"].to_numpy().astype(np.int64)
    C = cost_matrix.matrix
    if per_target:
        require_columns(df, ["r_pair", "targets"], "per-target Rob_cost (a mode='pair' table)")
    values = []
    for g in grid:
        total = 0.0
        for i, y in enumerate(labels):
            omega = cost_matrix.sensitive_targets(int(y))
            if not omega:
                continue
            if per_target:
                targets = tuple(df["targets"].iat[i])
                rp = np.asarray(df["r_pair"].iat[i], dtype=np.float64)
                if targets != omega:
                    raise ValueError(
                        f"row {i}: r_pair targets {targets} differ from Omega_{y} = {omega} of the cost matrix"
                    )
                abst = pred[i] == -1
                ok = (rp >= g) & (np.asarray(omega) != pred[i]) & ~(abst & (abstain == "strict"))
                failed = [C[y, j] for j, c in zip(omega, ok, strict=True) if not c]
            else:
                failed = [] if (correct[i] and r[i] >= g) else [C[y, j] for j in omega]
            if failed:
                total += max(failed) if reduce == "max" else sum(failed)
        values.append(total / len(labels))
    return _out(np.asarray(values, dtype=np.float64), scalar)


def rob_cost_max(
    df: pd.DataFrame, cost_matrix: CostMatrix, eps: Any, *, abstain: str = "code", per_target: bool = False
) -> Any:
    """Candidate Rob_cost(eps): mean over ALL test rows of max_{j in Omega_y not certified} C[y, j].

    **The paper's exact definition of Rob_cost was not verified** (the candidate readings are
    this and the sum as candidates; lower is better). A row contributes 0 if its label has no
    sensitive target or every target is certified at eps.

    Certified targets: group certificate (default) -- all of Omega_y are certified iff the row is
    cost-sensitively correct (predict not in Omega_y; abstention per ``abstain``) and r >= eps,
    otherwise none is. ``per_target=True`` uses the pairwise radii of a ``mode="pair"`` table:
    target j is certified iff predict != j (and, if strict, not abstained) and r_pair[j] >= eps.
    Needs the columns label, predict, r (or radius).
    """
    return _rob_cost(df, cost_matrix, eps, abstain, per_target, "max")


def rob_cost_sum(
    df: pd.DataFrame, cost_matrix: CostMatrix, eps: Any, *, abstain: str = "code", per_target: bool = False
) -> Any:
    """Second candidate Rob_cost: like :func:`rob_cost_max` but summing C[y, j] over the
    uncertified targets (identical for one target per seed, e.g. binary HAM10000). Unverified."""
    return _rob_cost(df, cost_matrix, eps, abstain, per_target, "sum")


def group_breakdown(
    certify_df: pd.DataFrame,
    cost_matrix: CostMatrix,
    eps: Any,
    *,
    cs_df: pd.DataFrame | None = None,
    abstain: str = "code",
) -> pd.DataFrame:
    """Per-group metrics (sensitive seeds vs normal classes vs all) in long format.

    Columns group, metric, radius, value, n_rows. Metrics: clean_accuracy (radius 0),
    rob_std (Cohen certified accuracy from ``certify_df``) and, given ``cs_df`` (a
    :func:`randsmooth.decide.cost_sensitive` table with the same rows), rob_cs for the seed group
    under the ``abstain`` convention. A cost-sensitive method should raise Rob_cs of the sensitive
    group without lowering the normal group's accuracy.
    """
    require_columns(certify_df, ["label", "predict", "radius", "correct"], "group_breakdown")
    grid, _ = _radii(eps)
    seeds = cost_matrix.is_seed(certify_df["label"].to_numpy().astype(np.int64))
    groups = {"sensitive": seeds, "normal": ~seeds, "all": np.ones(len(seeds), dtype=bool)}
    rows = []
    for name, mask in groups.items():
        n = int(mask.sum())
        sub = certify_df[mask]
        rows.append(
            {
                "group": name,
                "metric": "clean_accuracy",
                "radius": 0.0,
                "value": clean_accuracy(sub) if n else float("nan"),
                "n_rows": n,
            }
        )
        for g in grid:
            rows.append(
                {
                    "group": name,
                    "metric": "rob_std",
                    "radius": float(g),
                    "value": float(certified_accuracy(sub, g)) if n else float("nan"),
                    "n_rows": n,
                }
            )
    if cs_df is not None:
        if len(cs_df) != len(certify_df) or not np.array_equal(cs_df["idx"].to_numpy(), certify_df["idx"].to_numpy()):
            raise ValueError("cs_df must hold the same rows (idx, in order) as certify_df")
        values = np.atleast_1d(rob_cs(cs_df, grid, cost_matrix=cost_matrix, abstain=abstain))
        for g, v in zip(grid, values, strict=True):
            rows.append(
                {
                    "group": "sensitive",
                    "metric": f"rob_cs_{abstain}",
                    "radius": float(g),
                    "value": float(v),
                    "n_rows": int(seeds.sum()),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- tables and writers
def certified_accuracy_table(curves: Mapping[str, pd.DataFrame], radii: Any) -> pd.DataFrame:
    """Certified accuracy of several per-example tables: rows = legends (dict order), columns =
    radii (floats), values = :func:`certified_accuracy`. Feed it to the writers below."""
    if not curves:
        raise ValueError("certified_accuracy_table needs at least one legend -> table entry")
    grid, _ = _radii(radii)
    data = {legend: np.atleast_1d(certified_accuracy(df, grid)) for legend, df in curves.items()}
    return pd.DataFrame.from_dict(data, orient="index", columns=list(grid))
