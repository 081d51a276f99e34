"""Decisions from per-example class counts: CERTIFY, PREDICT and cost-sensitive CERTIFY.

Pure functions of a merged per-example table (the engine's Parquet schema: ``idx``, ``label``,
``num_classes``, ``counts_selection``, ``counts_estimation``, ``prefix_budgets``,
``counts_prefix``, ``n0``, ``n``, ``noise``, ``noise_params``, ``sigma``, ``dim``, ...; list columns
as numpy object arrays of arrays) plus the error level alpha. No model is touched here.

Conventions
-----------
* **Selection vs estimation.** The predicted class c_A is the argmax of ``counts_selection`` (the
  n0 separate selection samples; ties -> lowest class index). Its estimation count n_A comes from
  ``counts_estimation`` (all n samples) or from the cumulative prefix counts after the first
  ``budget`` samples. The two sample sets are independent.
* **alpha** is one-sided (Cohen, Sun, Xin); ``two_sided=True`` gives Yang et al.'s two-sided
  Clopper-Pearson interval (= one-sided alpha/2), see :mod:`randsmooth.bounds`.
* **Abstention at exactly 1/2.** CERTIFY abstains (predict -1, radius 0, correct 0) when the lower
  bound p_lower <= 1/2. Cohen's code abstains only when p_lower < 1/2 and returns radius 0 at
  exactly 1/2; we abstain there too because p_A >= 1/2 does not even guarantee g(x) = c_A (a tie
  is possible) and every radius formula gives 0 at 1/2. The two rules differ only on the exact
  equality, which Beta quantiles essentially never hit. The same rule (LCB(n_A; alpha) <= 1/2)
  sets the ABSTAIN label of the cost-sensitive decision.
* **Yang et al. (2020):** pass ``two_sided=True``; the selection counts are then the 64 prediction
  samples. rs4a has no abstain flag, but its analysis never counts rho_hat < 1/2 as certified,
  which is exactly our abstention.
* Radii are in [0, 1] pixel units over all ``dim`` coordinates for the norm asked for, obtained
  from the noise family stored in the table (Gaussian -> sigma * Phi^{-1}(p_lower); every other
  family of :mod:`randsmooth.sampling`, any norm).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import bounds, sequential
from .costs import CostMatrix, overall
from .counts import estimation_counts, int_column, noise_groups, require_columns, selection_counts
from .sampling import Noise

log = logging.getLogger(__name__)

__all__ = ["CS_ABSTAIN", "CS_MODES", "certify", "cost_sensitive", "cs_correct", "p_a_true", "predict"]

CS_MODES: tuple[str, ...] = ("group", "pair", "overall")


CS_ABSTAIN: tuple[str, ...] = ("code", "strict")


# ------------------------------------------------------------------------------- CERTIFY
def certify(
    table: pd.DataFrame,
    alpha: float,
    *,
    norm: str = "l2",
    budget: int | None = None,
    two_sided: bool = False,
    noise: Noise | None = None,
) -> pd.DataFrame:
    """Cohen et al.'s CERTIFY from counts, for any noise family and norm.

    Args:
        table: merged per-example table (module docstring).
        alpha: error level in (0, 1/2) (:func:`randsmooth.bounds.certificate_alpha`), one-sided
            unless ``two_sided``.
        norm: "l1", "l2" or "linf" (radius of the noise's direct guarantee or its conversion).
        budget: use the first ``budget`` estimation samples (a prefix budget) instead of all n.
        two_sided: Yang et al.'s two-sided Clopper-Pearson bound (one-sided at alpha/2).
        noise: override the noise rebuilt from the table's noise/noise_params/sigma/dim columns.

    Returns:
        DataFrame with columns idx, label, predict (c_A or -1), radius (float64 >= 0, 0 on
        abstention), correct (int 0/1 = predict == label; abstention counts as incorrect),
        p_lower (the lower confidence bound on p_A), n_a (estimation count of c_A); the row order
        of ``table``. Abstains when p_lower <= 1/2 (see the module docstring).
    """
    require_columns(table, ["idx", "label"], "CERTIFY")
    alpha = bounds.certificate_alpha(alpha)
    sel = selection_counts(table)
    rows = np.arange(len(sel))
    groups = [(noise, rows)] if noise is not None else noise_groups(table)
    seq = sequential_of(table)
    if seq is not None:
        c_a, p_lower, n_a = _sequential_bounds(table, seq, sel, groups, alpha, norm, budget, two_sided)
    else:
        counts, n = estimation_counts(table, budget)
        c_a = np.argmax(sel, axis=1)  # first maximum -> lowest class index on ties
        n_a = counts[rows, c_a]
        p_lower = np.asarray(bounds.cp_lower(n_a, n, alpha, two_sided=two_sided), dtype=np.float64)
    abstain = p_lower <= 0.5
    radius = np.zeros(len(sel), dtype=np.float64)
    for nz, pos in groups:
        radius[pos] = nz.radius(p_lower[pos], norm)
    radius[abstain] = 0.0
    labels = int_column(table, "label")
    pred = np.where(abstain, -1, c_a).astype(np.int64)
    return pd.DataFrame(
        {
            "idx": int_column(table, "idx"),
            "label": labels,
            "predict": pred,
            "radius": radius,
            "correct": (pred == labels).astype(np.int64),
            "p_lower": p_lower,
            "n_a": n_a.astype(np.int64),
        }
    )


def sequential_of(table: pd.DataFrame) -> dict[str, Any] | None:
    """The ``sequential`` settings of a count table read by :func:`randsmooth.counts.read_table`
    (None: a fixed-N run)."""
    return (table.attrs.get("settings") or {}).get("sequential")


def _sequential_bounds(
    table: pd.DataFrame,
    seq: dict[str, Any],
    sel: np.ndarray,
    groups: list[tuple[Noise, np.ndarray]],
    alpha: float,
    norm: str,
    budget: int | None,
    two_sided: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c_a, p_lower, n_a) of a sequential run: the anytime-valid bound at each example's stop
    (:func:`randsmooth.sequential.certify_counts`). The stopping rule used alpha and the norm
    while sampling, so a reading with others is refused, as are prefix budgets and two-sided
    bounds (the certificate exists only at the stop, one-sided)."""
    if alpha != seq["alpha"] or norm != seq["norm"] or budget is not None or two_sided:
        raise ValueError(
            f"the count table is a sequential run sampled for alpha={seq['alpha']:g}, norm={seq['norm']} "
            f"(certificates at the stop, one-sided); got alpha={alpha:g}, norm={norm}"
            + (f", budget={budget}" if budget is not None else "")
            + (", two-sided" if two_sided else "")
        )
    c_a, p_lower, n_a = (np.zeros(len(sel), dtype=t) for t in (np.int64, np.float64, np.int64))
    budgets, prefix = table["prefix_budgets"].to_numpy(), table["counts_prefix"].to_numpy()
    for nz, pos in groups:
        rule = sequential.rule_from_settings(seq, nz)
        c_a[pos], p_lower[pos], n_a[pos], _ = sequential.certify_counts(rule, sel[pos], budgets[pos], prefix[pos])
    return c_a, p_lower, n_a


# ------------------------------------------------------------------------------- PREDICT
def predict(table: pd.DataFrame, alpha: float, *, budget: int | None = None) -> pd.DataFrame:
    """Cohen et al.'s PREDICT on the estimation counts after ``budget`` samples (all n if None).

    Top class = most frequent (ties -> lowest index); abstain (-1) when the two-sided binomial
    test of the top two counts n1 >= n2 at p = 1/2 has p-value > alpha
    (:func:`randsmooth.bounds.predict_abstains`). PREDICT uses no selection stage.

    Returns a DataFrame idx, label, predict, correct (int; abstention = incorrect), pvalue.
    """
    require_columns(table, ["idx", "label"], "PREDICT")
    alpha = bounds.certificate_alpha(alpha)
    counts, _ = estimation_counts(table, budget)
    top = np.argmax(counts, axis=1)
    ordered = np.sort(counts, axis=1)
    n1 = ordered[:, -1]
    n2 = ordered[:, -2] if counts.shape[1] > 1 else np.zeros_like(n1)
    pvalue = np.asarray(bounds.predict_pvalue(n1, n2), dtype=np.float64)
    abstain = np.asarray(bounds.predict_abstains(n1, n2, alpha), dtype=bool)
    labels = int_column(table, "label")
    pred = np.where(abstain, -1, top).astype(np.int64)
    return pd.DataFrame(
        {
            "idx": int_column(table, "idx"),
            "label": labels,
            "predict": pred,
            "correct": (pred == labels).astype(np.int64),
            "pvalue": pvalue,
        }
    )


def p_a_true(table: pd.DataFrame, budget: int | None = None) -> np.ndarray:
    """Sun et al.'s empirical p_A: estimation count of the TRUE label / n' (float64, per row)."""
    require_columns(table, ["label"], "p_A of the true label")
    counts, n = estimation_counts(table, budget)
    labels = int_column(table, "label")
    if ((labels < 0) | (labels >= counts.shape[1])).any():
        raise ValueError(f"labels must be class indices in [0, {counts.shape[1]})")
    return counts[np.arange(len(counts)), labels] / n


# ------------------------------------------------------------------------- cost-sensitive
def cs_correct(labels: Any, predict: Any, cost_matrix: CostMatrix, abstain: str = "code") -> np.ndarray:
    """Cost-sensitive correctness: predict not in Omega_label (int 0/1 per row).

    ``abstain="code"`` (Xin's reference): an abstention (-1) is never in Omega, so it counts as
    correct. ``"strict"``: an abstention is a failure. Rows whose label has an empty Omega (normal
    classes) get the *standard* correctness predict == label (abstention = incorrect) in both
    conventions -- see :func:`cost_sensitive`.
    """
    if abstain not in CS_ABSTAIN:
        raise ValueError(f"abstain must be one of {CS_ABSTAIN}, got {abstain!r}")
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predict, dtype=np.int64)
    if y.shape != p.shape:
        raise ValueError(f"labels and predict must have the same shape, got {y.shape} and {p.shape}")
    k = cost_matrix.num_classes
    if ((y < 0) | (y >= k)).any():
        raise ValueError(f"labels must be class indices in [0, {k}) for this cost matrix")
    if ((p < -1) | (p >= k)).any():
        raise ValueError(f"predict must be -1 (abstain) or a class index in [0, {k})")
    abst = p == -1
    costly = ~abst & (cost_matrix.matrix[y, np.maximum(p, 0)] > 0)  # an abstention (-1) reads column 0, unused
    ok_cs = ~costly if abstain == "code" else ~costly & ~abst
    has_targets = (cost_matrix.matrix[y] > 0).any(axis=1)
    ok_std = p == y
    return np.where(has_targets, ok_cs, ok_std).astype(np.int64)


def cost_sensitive(
    table: pd.DataFrame,
    cost_matrix: CostMatrix | None,
    alpha: float,
    *,
    mode: str = "group",
    legacy_alpha: bool = False,
    abstain: str = "code",
    budget: int | None = None,
) -> pd.DataFrame:
    """Xin et al.'s cost-sensitive CERTIFY (Xin et al. 2025, Algorithm 1) from counts.

    Args:
        table: merged per-example table; the noise must be Gaussian (the certificate is L2).
        cost_matrix: the cost matrix; Omega_y = its sensitive targets of the row's label. In
            ``mode="overall"`` it may be None: Omega_y = every class != y (Xin's ``--certify
            overall``); a given matrix then only defines the ``seed_group`` column.
        alpha: one-sided total error level.
        mode: "group" (g never enters Omega_y), "pair" (also per-target radii, in the extra list
            columns ``targets`` and ``r_pair`` = certified radius against each single target,
            ascending target order), or "overall".
        legacy_alpha: reproduce the reference code's error split (see
            :func:`randsmooth.bounds.cost_sensitive_radius`; only valid at 1 - 2 alpha). The
            default shares one alpha budget (alpha/2 for p_A, alpha/(2|Omega|) per target) so r
            holds with probability >= 1 - alpha.
        abstain: "code" (abstention counts as cost-sensitively correct, Xin's driver) or
            "strict" (abstention = failure); affects only ``correct``.
        budget: use the first ``budget`` estimation samples instead of all n.

    Returns:
        DataFrame idx, label, predict (c_A, or -1 when LCB(n_A; alpha) <= 1/2 -- radii are kept,
        as in the reference), r, r_std, r_cs, c_b, n_a, n_b, mass, correct, seed_group.
        Radii are raw L2 radii: negative (or -inf) = not certified even at radius 0.

        Rows with a sensitive label (non-empty Omega_y): r = the cost-sensitive certified radius
        = max(sigma Phi^{-1}(LCB(n_A; alpha/2)), r_cs) by default (one shared alpha budget; so r
        can be below r_std when the standard certificate dominates), max(r_std, r_cs) with
        ``legacy_alpha`` (the reference's columns), r_std = Cohen's radius at alpha (column r1),
        r_cs = the group radius (r2), c_b / n_b the worst sensitive target and its count,
        mass = n_b / (n - n_a); correct = predict not in Omega_y (abstention per ``abstain``).
        The metrics must combine ``correct`` and ``r``: with c_A in Omega_y, r can be positive
        while correct = 0.

        Rows whose label has an **empty Omega_y** (normal classes: no prediction is costly) need
        no cost-sensitive certificate; for them r = r_std = Cohen's standard radius at alpha,
        r_cs = NaN, c_b = -1, n_b = 0, mass = NaN and correct = (predict == label), so that
        normal-group metrics are standard certified accuracy. ``seed_group`` marks sensitive
        seeds (``cost_matrix.seed_classes``; all rows in overall mode without a matrix).
    """
    if mode not in CS_MODES:
        raise ValueError(f"mode must be one of {CS_MODES}, got {mode!r}")
    if abstain not in CS_ABSTAIN:
        raise ValueError(f"abstain must be one of {CS_ABSTAIN}, got {abstain!r}")
    require_columns(table, ["idx", "label"], "cost-sensitive CERTIFY")
    alpha = bounds.certificate_alpha(alpha)
    sel = selection_counts(table)
    counts, n = estimation_counts(table, budget)
    num_rows, k = counts.shape
    if cost_matrix is not None and not isinstance(cost_matrix, CostMatrix):
        raise ValueError(f"cost_matrix must be a CostMatrix or None, got {type(cost_matrix).__name__}")
    if cost_matrix is None and mode != "overall":
        raise ValueError(f"cost_matrix is required in mode {mode!r} (only 'overall' derives Omega from the labels)")
    if cost_matrix is not None and cost_matrix.num_classes != k:
        raise ValueError(f"cost matrix has K = {cost_matrix.num_classes} classes but the table has num_classes = {k}")
    omega_matrix = overall(k) if mode == "overall" else cost_matrix
    labels = int_column(table, "label")
    if ((labels < 0) | (labels >= k)).any():
        raise ValueError(f"labels must be class indices in [0, {k})")

    c_a = np.argmax(sel, axis=1)
    rows = np.arange(num_rows)
    n_a = counts[rows, c_a]
    abst = np.asarray(bounds.cp_lower(n_a, n, alpha), dtype=np.float64) <= 0.5
    pred = np.where(abst, -1, c_a).astype(np.int64)

    out_r = np.full(num_rows, np.nan)
    out_std = np.full(num_rows, np.nan)
    out_cs = np.full(num_rows, np.nan)
    out_cb = np.full(num_rows, -1, dtype=np.int64)
    out_nb = np.zeros(num_rows, dtype=np.int64)
    out_mass = np.full(num_rows, np.nan)
    out_targets: list[tuple[int, ...]] = [()] * num_rows
    out_pair: list[np.ndarray] = [np.zeros(0)] * num_rows

    for nz, pos in noise_groups(table):
        if nz.name != "gaussian":
            raise ValueError(f"cost-sensitive certification needs Gaussian noise (an L2 certificate), got {nz!r}")
        sigma = nz.sigma
        for y in np.unique(labels[pos]):
            sub = pos[labels[pos] == y]
            targets = omega_matrix.sensitive_targets(int(y))
            if not targets:
                # Normal class: the standard certificate (Cohen at alpha) is reported.
                p_low = bounds.cp_lower(n_a[sub], n[sub], alpha)
                with np.errstate(divide="ignore"):
                    out_std[sub] = sigma * _probit(p_low)
                out_r[sub] = out_std[sub]
                continue
            res = bounds.cost_sensitive_radius(
                counts[sub],
                c_a[sub],
                targets,
                alpha,
                sigma,
                mode="pair" if mode == "pair" else "group",
                legacy_alpha=legacy_alpha,
            )
            out_r[sub], out_std[sub], out_cs[sub] = res.r, res.r_std, res.r_cs
            out_cb[sub], out_nb[sub], out_mass[sub] = res.c_b, res.n_b, res.mass
            if mode == "pair":
                for i, row in enumerate(sub):
                    out_targets[row] = tuple(targets)
                    out_pair[row] = np.asarray(res.r_pair_certified[i], dtype=np.float64)

    correct = cs_correct(labels, pred, omega_matrix, abstain)
    if cost_matrix is not None:
        seed_group = cost_matrix.is_seed(labels)
    else:
        seed_group = np.ones(num_rows, dtype=bool)
    df = pd.DataFrame(
        {
            "idx": int_column(table, "idx"),
            "label": labels,
            "predict": pred,
            "r": out_r,
            "r_std": out_std,
            "r_cs": out_cs,
            "c_b": out_cb,
            "n_a": n_a.astype(np.int64),
            "n_b": out_nb,
            "mass": out_mass,
            "correct": correct,
            "seed_group": seed_group,
        }
    )
    if mode == "pair":
        df["targets"] = out_targets
        df["r_pair"] = out_pair
    return df


def _probit(p: Any) -> np.ndarray:
    """Phi^{-1}(p) in float64 (-inf at 0)."""
    return np.asarray(norm.ppf(np.asarray(p, dtype=np.float64)), dtype=np.float64)
