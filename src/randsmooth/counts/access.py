"""Count-table access: stacked count matrices, prefix budgets, the noise of each row.

Every function takes a per-example DataFrame (:func:`randsmooth.counts.read_table`, or a
:func:`synthetic_table`) and checks what it reads: count vectors of one length K = num_classes,
non-negative whole numbers, row sums equal to n0 / n / the budget.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the noise families import torch; reading and merging count tables does not need it
    from ..sampling import Noise


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Check ``table`` is a non-empty DataFrame with ``columns``; ``what`` names the use in errors."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{what} needs a pandas DataFrame (a per-example table), got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"table is missing column(s) {missing} needed for {what}")
    if len(table) == 0:
        raise ValueError(f"{what}: the table has no rows")


def _stack(values: Any, column: str, num_classes: np.ndarray) -> np.ndarray:
    """Stack a list column of length-K count vectors into an int64 (N, K) array."""
    try:
        rows = [np.asarray(v, dtype=np.float64) for v in values]
        lengths = {r.shape for r in rows}
        if len(lengths) != 1:
            raise ValueError
        arr = np.stack(rows)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must hold count vectors of one common length K") from None
    if arr.ndim != 2:
        raise ValueError(f"column {column!r} must hold 1-D count vectors, got shape {arr.shape[1:]}")
    if (~np.isfinite(arr)).any() or (arr < 0).any() or (arr != np.floor(arr)).any():
        raise ValueError(f"column {column!r} must hold non-negative whole-number counts")
    if (num_classes != arr.shape[1]).any():
        raise ValueError(
            f"column {column!r} has {arr.shape[1]} entries per row but num_classes is {np.unique(num_classes).tolist()}"
        )
    return arr.astype(np.int64)


def int_column(table: pd.DataFrame, column: str) -> np.ndarray:
    arr = np.asarray(table[column])
    if not np.issubdtype(arr.dtype, np.integer):
        as_float = np.asarray(arr, dtype=np.float64)
        if (~np.isfinite(as_float)).any() or (as_float != np.floor(as_float)).any():
            raise ValueError(f"column {column!r} must contain integers")
        arr = as_float
    return arr.astype(np.int64)


def _counts_with_total(table: pd.DataFrame, column: str, total: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) int64 counts of ``column`` and their per-row total column ``total`` (checked: sums, >= 1)."""
    require_columns(table, [column, "num_classes", total], f"the {column}")
    counts = _stack(table[column], column, int_column(table, "num_classes"))
    totals = int_column(table, total)
    if (totals < 1).any():
        raise ValueError(f"{total} must be >= 1")
    wrong = counts.sum(axis=1) != totals
    if wrong.any():
        bad = int(np.flatnonzero(wrong)[0])
        raise ValueError(f"{column} of row {bad} sums to {counts[bad].sum()} but {total} = {totals[bad]}")
    return counts, totals


def selection_counts(table: pd.DataFrame) -> np.ndarray:
    """(N, K) int64 selection counts; checks K == num_classes and row sums == n0 (>= 1)."""
    return _counts_with_total(table, "counts_selection", "n0")[0]


def estimation_counts(table: pd.DataFrame, budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts (N, K) int64, n' (N,) int64): estimation counts after ``budget`` samples.

    ``budget=None`` uses ``counts_estimation`` (all n samples; checks the row sums equal ``n``).
    Otherwise ``budget`` must be one of every row's ``prefix_budgets`` and the matching row of
    ``counts_prefix`` (cumulative counts of the first ``budget`` estimation samples) is returned.
    """
    if budget is None:
        if (table.attrs.get("settings") or {}).get("sequential") is not None:
            raise ValueError(
                "the count table is a sequential run (examples stopped at different sample sizes): "
                "its certificates come from decide.certify at the run's alpha and norm"
            )
        return _counts_with_total(table, "counts_estimation", "n")
    b = check_budget(budget)
    require_columns(table, ["prefix_budgets", "counts_prefix", "num_classes"], f"budget {b}")
    k = int_column(table, "num_classes")
    rows = []
    for i, (budgets, prefix) in enumerate(zip(table["prefix_budgets"], table["counts_prefix"], strict=True)):
        budgets = np.asarray(budgets, dtype=np.int64)
        hits = np.flatnonzero(budgets == b)
        if hits.size == 0:
            raise ValueError(f"budget {b} is not a prefix budget of row {i}; available: {budgets.tolist()}")
        rows.append(np.asarray(prefix[hits[0]]))
    counts = _stack(rows, "counts_prefix", k)
    if (counts.sum(axis=1) != b).any():
        bad = int(np.flatnonzero(counts.sum(axis=1) != b)[0])
        raise ValueError(f"counts_prefix of row {bad} at budget {b} sums to {counts[bad].sum()}, not {b}")
    return counts, np.full(len(counts), b, dtype=np.int64)


def check_budget(budget: Any) -> int:
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer number of estimation samples, got {budget!r}")
    return int(budget)


def common_budgets(table: pd.DataFrame) -> list[int]:
    """Prefix budgets present in every row, ascending."""
    require_columns(table, ["prefix_budgets"], "the prefix budgets")
    common: set[int] | None = None
    for budgets in table["prefix_budgets"]:
        s = {int(b) for b in np.asarray(budgets).ravel()}
        common = s if common is None else common & s
    return sorted(common or [])


def samples_used(table: pd.DataFrame) -> np.ndarray:
    """(N,) int64 estimation samples drawn per row: ``n`` in a fixed-N table, the last checkpoint
    reached (where the stopping rule stopped the example) in a sequential one. The n0 selection
    samples are not counted."""
    if (table.attrs.get("settings") or {}).get("sequential") is None:
        return int_column(table, "n")
    require_columns(table, ["prefix_budgets"], "the samples used")
    return np.asarray([int(np.asarray(b).ravel()[-1]) for b in table["prefix_budgets"]], dtype=np.int64)


# ------------------------------------------------------------------------------- noise
_NOISE_COLUMNS = ["noise", "noise_params", "sigma", "dim"]


def _params(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        out = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise ValueError(f"column 'noise_params' must hold JSON objects, got {value!r}") from None
    if not isinstance(out, dict):
        raise ValueError(f"column 'noise_params' must hold JSON objects, got {value!r}")
    return out


def noise_groups(table: pd.DataFrame) -> list[tuple[Noise, np.ndarray]]:
    """[(noise, row positions)] for every distinct (noise, noise_params, sigma, dim) in the table."""
    require_columns(table, _NOISE_COLUMNS, "rebuilding the noise")
    keys = [
        (str(name), json.dumps(_params(p), sort_keys=True), float(s), int(d))
        for name, p, s, d in zip(table["noise"], table["noise_params"], table["sigma"], table["dim"], strict=True)
    ]
    groups: dict[tuple[str, str, float, int], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    out = []
    for (name, params, sigma, dim), rows in groups.items():
        out.append((_get_noise(name, sigma, dim, **json.loads(params)), np.asarray(rows, dtype=np.int64)))
    return out


def _get_noise(name: str, sigma: float, dim: int, **params: Any) -> Noise:
    from ..sampling import get_noise

    return get_noise(name, sigma, dim, **params)


def noise_from_table(table: pd.DataFrame) -> Noise:
    """The single noise configuration of ``table`` (ValueError if rows use several)."""
    groups = noise_groups(table)
    if len(groups) != 1:
        raise ValueError(
            f"table mixes {len(groups)} noise configurations: {[repr(g[0]) for g in groups]}; split it first"
        )
    return groups[0][0]


def synthetic_table(
    labels: Sequence[int],
    selection: Any,
    estimation: Any,
    *,
    sigma: float = 0.5,
    noise: str = "gaussian",
    noise_params: dict[str, Any] | None = None,
    dim: int = 3072,
    budgets: Sequence[int] = (),
    seed: int = 0,
    idx: Sequence[int] | None = None,
) -> pd.DataFrame:
    """A per-example table in the engine's schema built from given counts (tests, what-if studies).

    ``selection`` and ``estimation`` are (N, K) count arrays (n0 and n per row are their sums).
    ``budgets`` are extra prefix budgets < n (n itself is always appended). Prefix counts are drawn
    as nested multivariate-hypergeometric subsamples of the estimation counts (the law of the first
    n' samples given the totals), seeded by ``seed``.
    """
    sel = np.asarray(selection, dtype=np.int64)
    est = np.asarray(estimation, dtype=np.int64)
    if sel.ndim != 2 or est.shape != sel.shape:
        raise ValueError(f"selection and estimation must be (N, K) arrays of one shape, got {sel.shape}, {est.shape}")
    num_rows, k = est.shape
    labels_arr = np.asarray(labels, dtype=np.int64)
    if labels_arr.shape != (num_rows,):
        raise ValueError(f"labels must have shape ({num_rows},), got {labels_arr.shape}")
    rng = np.random.default_rng(seed)
    n = est.sum(axis=1)
    extra = sorted({int(b) for b in budgets})
    rows_budgets, rows_prefix = [], []
    for i in range(num_rows):
        row_b = [b for b in extra if b < n[i]] + [int(n[i])]
        prefix = [est[i]]
        current = est[i]
        for b in reversed(row_b[:-1]):
            current = rng.multivariate_hypergeometric(current, b)
            prefix.append(current)
        rows_budgets.append(np.asarray(row_b, dtype=np.int64))
        rows_prefix.append([np.asarray(p, dtype=np.int64) for p in reversed(prefix)])
    return pd.DataFrame(
        {
            "idx": np.arange(num_rows, dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64),
            "label": labels_arr,
            "num_classes": np.full(num_rows, k, dtype=np.int32),
            "counts_selection": list(sel),
            "counts_estimation": list(est),
            "prefix_budgets": rows_budgets,
            "counts_prefix": rows_prefix,
            "n0": sel.sum(axis=1),
            "n": n,
            "noise": noise,
            "noise_params": json.dumps(noise_params or {}),
            "sigma": float(sigma),
            "dim": np.full(num_rows, dim, dtype=np.int64),
            "seed": np.full(num_rows, seed, dtype=np.int64),
            "noise_block": np.zeros(num_rows, dtype=np.int64),
            "model_id": "synthetic",
            "time_s": np.zeros(num_rows),
            "version": "synthetic",
        }
    )
