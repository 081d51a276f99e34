"""``python -m randsmooth metrics``: radii and metrics from a merged per-example count table.

Example::

    python -m randsmooth metrics --table merged.parquet --alpha 0.001 \\
        --radii 0,0.25,0.5,0.75,1.0 --out-csv metrics.csv --out-md metrics.md \\
        --per-example per_example.parquet [--cost-preset s-pair --cost-dataset cifar10]

The CSV is in long format with columns ``metric, param, value``: ``param`` is the radius for
``certified_accuracy`` / ``rob_cs_*`` / ``rob_std*`` / ``rob_cost_max_*``, the budget for
``predict_*``, the threshold for ``pa_ccdf`` and empty for scalars (n_rows, alpha, acr,
clean_accuracy, abstain_rate, ...).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import decide, metrics
from .atomic import atomic_path, atomic_write_text
from .costs import CostMatrix, from_config, preset

log = logging.getLogger(__name__)

DEFAULT_RADII = "0,0.25,0.5,0.75,1.0,1.25,1.5,1.75,2.0,2.5,3.0,3.5,4.0"
DEFAULT_PA_THRESHOLDS = "0.5,0.6,0.7,0.8,0.9,0.95,0.99,0.999"


def _float_list(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{name} must list at least one number")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m randsmooth metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", required=True, help="merged per-example Parquet table")
    p.add_argument("--alpha", type=float, required=True, help="error level (one-sided unless --two-sided)")
    p.add_argument("--norm", default="l2", choices=["l1", "l2", "linf"], help="radius norm (default l2)")
    p.add_argument("--two-sided", action="store_true", help="two-sided Clopper-Pearson (Yang et al.)")
    p.add_argument(
        "--budget", type=int, default=None, help="certify with the first N estimation samples (a prefix budget)"
    )
    p.add_argument(
        "--radii",
        type=lambda s: _float_list(s, "--radii"),
        default=_float_list(DEFAULT_RADII, "--radii"),
        help=f"comma-separated radii (default {DEFAULT_RADII})",
    )
    p.add_argument(
        "--pa-thresholds",
        type=lambda s: _float_list(s, "--pa-thresholds"),
        default=_float_list(DEFAULT_PA_THRESHOLDS, "--pa-thresholds"),
        help=f"thresholds of the p_A complementary ECDF (default {DEFAULT_PA_THRESHOLDS})",
    )
    p.add_argument("--cost-preset", default=None, help="cost-matrix preset name (e.g. s-seed, m-pair, ham)")
    p.add_argument("--cost-dataset", default=None, help="dataset of the cost preset (cifar10, imagenette, ham10000)")
    p.add_argument(
        "--cost-config",
        default=None,
        help="cost matrix as a YAML/JSON file in any form accepted by randsmooth.costs.from_config",
    )
    p.add_argument("--cs-mode", default="group", choices=["group", "pair"], help="cost-sensitive certificate")
    p.add_argument("--legacy-alpha", action="store_true", help="reference code's error split (valid only at 1-2 alpha)")
    p.add_argument("--positive-class", type=int, default=0, help="positive class for precision/recall (HAM: 0)")
    p.add_argument("--out-csv", required=True, help="output CSV (long format metric, param, value)")
    p.add_argument("--out-md", default=None, help="optional Markdown summary")
    p.add_argument("--per-example", default=None, help="optional per-example Parquet (certify output)")
    return p


def _rows_add(rows: list[dict[str, Any]], metric: str, param: Any, value: Any) -> None:
    rows.append({"metric": metric, "param": "" if param is None else param, "value": float(value)})


def compute(table: pd.DataFrame, args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(long metrics table, per-example table, extra sections for the Markdown summary)."""
    cert = decide.certify(table, args.alpha, norm=args.norm, budget=args.budget, two_sided=args.two_sided)
    rows: list[dict[str, Any]] = []
    _rows_add(rows, "n_rows", None, len(cert))
    _rows_add(rows, "alpha", None, args.alpha)
    if args.budget is not None:
        _rows_add(rows, "budget", None, args.budget)
    ca = metrics.certified_accuracy(cert, args.radii)
    for r, v in zip(args.radii, ca, strict=True):
        _rows_add(rows, "certified_accuracy", r, v)
    _rows_add(rows, "acr", None, metrics.acr(cert))
    _rows_add(rows, "clean_accuracy", None, metrics.clean_accuracy(cert))
    _rows_add(rows, "abstain_rate", None, metrics.abstain_rate(cert))
    budgets = decide.common_budgets(table) if "prefix_budgets" in table.columns else []
    pm = metrics.predict_metrics(table, args.alpha, budgets) if budgets else pd.DataFrame()
    for rec in pm.to_dict("records"):
        _rows_add(rows, "predict_accuracy", rec["budget"], rec["accuracy"])
        _rows_add(rows, "predict_abstain_rate", rec["budget"], rec["abstain_rate"])
    pa = metrics.pa_ccdf(table, args.pa_thresholds, budget=args.budget)
    for t, v in zip(args.pa_thresholds, pa, strict=True):
        _rows_add(rows, "pa_ccdf", t, v)
    extra: dict[str, Any] = {"certified_accuracy": ca, "predict": pm}
    per_example = cert
    cm = _cost_matrix(args, int(np.asarray(table["num_classes"])[0]))
    if cm is not None:
        extra["cost_matrix"] = cm
        for convention in ("code", "strict"):
            cs = decide.cost_sensitive(
                table,
                cm,
                args.alpha,
                mode=args.cs_mode,
                legacy_alpha=args.legacy_alpha,
                abstain=convention,
                budget=args.budget,
            )
            values = metrics.rob_cs(cs, args.radii)
            for r, v in zip(args.radii, values, strict=True):
                _rows_add(rows, f"rob_cs_{convention}", r, v)
            cost = metrics.rob_cost_max(cs, cm, args.radii, abstain=convention, per_target=args.cs_mode == "pair")
            for r, v in zip(args.radii, cost, strict=True):
                _rows_add(rows, f"rob_cost_max_{convention}", r, v)
            if convention == "code":
                cs_code = cs
        for rec in metrics.group_breakdown(cert, cm, args.radii).to_dict("records"):
            if rec["group"] != "all":
                param = None if rec["metric"] == "clean_accuracy" else rec["radius"]
                _rows_add(rows, f"{rec['metric']}_{rec['group']}", param, rec["value"])
        pr = metrics.precision_recall(cert, positive=args.positive_class)
        _rows_add(rows, "precision", args.positive_class, pr["precision"])
        _rows_add(rows, "recall", args.positive_class, pr["recall"])
        keep = cs_code[["r", "r_std", "r_cs", "c_b", "n_b", "mass", "correct", "seed_group"]]
        per_example = cert.join(keep.add_prefix("cs_"))
    return pd.DataFrame(rows, columns=["metric", "param", "value"]), per_example, extra


def _markdown(summary: pd.DataFrame, cert_table: pd.DataFrame, table: pd.DataFrame, args: argparse.Namespace) -> str:
    nz = decide.noise_groups(table)
    legend = ", ".join(f"{g.name} &sigma; = {g.sigma:g}" for g, _ in nz)
    ca = metrics.certified_accuracy_table({legend: cert_table}, args.radii)
    lines = [
        f"# Metrics for `{os.path.basename(args.table)}`",
        "",
        f"alpha = {args.alpha:g} ({'two' if args.two_sided else 'one'}-sided), norm {args.norm}, "
        f"budget {args.budget if args.budget is not None else 'all n'}, {len(cert_table)} rows",
        "",
        "## Certified accuracy",
        "",
        metrics.markdown_cohen_string(ca).rstrip("\n"),
        "",
        "## All metrics",
        "",
        "| metric | param | value |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {m} | {p} | {v:.4f} |" for m, p, v in summary.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _write_parquet(df: pd.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def _cost_matrix(args: argparse.Namespace, num_classes: int) -> CostMatrix | None:
    """The cost matrix named by --cost-preset/--cost-dataset or --cost-config, padded to K classes."""
    if args.cost_preset is not None and args.cost_config is not None:
        raise ValueError("give either --cost-preset or --cost-config, not both")
    if args.cost_config is not None:
        path = Path(args.cost_config)
        if not path.is_file():
            raise FileNotFoundError(f"--cost-config: no such file {path}")
        cm = from_config(yaml.safe_load(path.read_text()))
    elif args.cost_preset is not None:
        if args.cost_dataset is None:
            raise ValueError("--cost-preset needs --cost-dataset")
        cm = preset(args.cost_preset, args.cost_dataset)
    else:
        return None
    if cm.num_classes > num_classes:
        raise ValueError(f"cost matrix has {cm.num_classes} classes but the table has {num_classes}")
    return cm.padded(num_classes) if cm.num_classes < num_classes else cm


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m randsmooth metrics``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not os.path.exists(args.table):
        raise FileNotFoundError(f"--table {args.table!r} does not exist")
    table = pd.read_parquet(args.table)
    summary, per_example, _ = compute(table, args)
    metrics.to_csv(summary, args.out_csv, index=False)
    log.info("wrote %s (%d metrics)", args.out_csv, len(summary))
    if args.out_md is not None:
        cert_cols = per_example[["idx", "label", "predict", "radius", "correct"]]
        atomic_write_text(args.out_md, _markdown(summary, cert_cols, table, args))
        log.info("wrote %s", args.out_md)
    if args.per_example is not None:
        _write_parquet(per_example, args.per_example)
        log.info("wrote %s", args.per_example)
    return 0
