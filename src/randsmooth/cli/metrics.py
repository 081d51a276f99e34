"""``python -m randsmooth metrics``: radii and paper metrics of a merged count table.

Example::

    python -m randsmooth metrics --table counts.parquet --alpha 0.001 --radii 0,0.25,0.5,0.75,1.0 \\
        --out-csv metrics.csv --out-md metrics.md --per-example per_example.parquet \\
        [--cost-preset s-pair --cost-dataset cifar10]

or ``--spec variant.json`` (a :class:`randsmooth.evaluate.MetricsSpec` as JSON, as the workflow
writes it) instead of the variant options. Outputs: see :mod:`randsmooth.evaluate`.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import numpy as np

from ..atomic import atomic_paths, write_synced
from ..counts import read_table
from ..evaluate import DEFAULT_PA_THRESHOLDS, DEFAULT_RADII, MetricsSpec, evaluate, markdown
from ..pipeline.config import load_yaml
from .common import Parser, command, read_json_file

log = logging.getLogger(__name__)

# variant options and the MetricsSpec field each one sets
SPEC_OPTIONS = {
    "alpha": "--alpha",
    "two_sided": "--two-sided",
    "norm": "--norm",
    "budget": "--budget",
    "radii": "--radii",
    "pa_thresholds": "--pa-thresholds",
    "cs_mode": "--cs-mode",
    "legacy_alpha": "--legacy-alpha",
    "positive_class": "--positive-class",
    "first_examples": "--first-examples",
}


def _float_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def build_parser() -> Parser:
    p = Parser(prog="python -m randsmooth metrics", description="Radii and paper metrics of a merged count table.")
    p.add_argument("--table", required=True, help="merged count table (Parquet, randsmooth schema)")
    p.add_argument("--spec", default=None, help="metrics variant as JSON (instead of the options below)")
    p.add_argument("--alpha", type=float, default=None, help="error level in (0, 0.5); one-sided unless --two-sided")
    p.add_argument("--two-sided", action="store_true", default=None, help="two-sided Clopper-Pearson (Yang et al.)")
    p.add_argument("--norm", default=None, choices=["l1", "l2", "linf"], help="radius norm (default l2)")
    p.add_argument("--budget", type=int, default=None, help="certify with the first N estimation samples")
    joined = ",".join(f"{r:g}" for r in DEFAULT_RADII)
    p.add_argument("--radii", type=_float_list, default=None, help=f"comma-separated radii (default {joined})")
    joined = ",".join(f"{t:g}" for t in DEFAULT_PA_THRESHOLDS)
    p.add_argument("--pa-thresholds", type=_float_list, default=None, help=f"p_A ccdf thresholds (default {joined})")
    p.add_argument("--cost-preset", default=None, help="cost-matrix preset (s-seed, m-seed, s-pair, m-pair, ham, ...)")
    p.add_argument("--cost-dataset", default=None, help="data set of the preset (cifar10, imagenette, ham10000)")
    p.add_argument("--cost-config", default=None, help="cost matrix as a YAML/JSON file (randsmooth.costs.from_config)")
    p.add_argument("--cs-mode", default=None, choices=["group", "pair"], help="cost-sensitive certificate")
    p.add_argument("--legacy-alpha", action="store_true", default=None, help="the reference code's error split")
    p.add_argument("--positive-class", type=int, default=None, help="positive class of precision/recall (HAM: 0)")
    p.add_argument("--first-examples", type=int, default=None, help="read only the first N examples (by idx)")
    p.add_argument("--out-csv", required=True, help="output CSV (long format metric, param, value)")
    p.add_argument("--out-md", default=None, help="optional Markdown summary")
    p.add_argument("--per-example", default=None, help="optional per-example Parquet (certify decisions)")
    return p


def _cost(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.cost_preset is not None and args.cost_config is not None:
        raise ValueError("give either --cost-preset or --cost-config, not both")
    if args.cost_config is not None:
        if not os.path.isfile(args.cost_config):
            raise FileNotFoundError(f"--cost-config {args.cost_config}: no such file")
        return load_yaml(args.cost_config)
    if args.cost_preset is not None:
        if args.cost_dataset is None:
            raise ValueError("--cost-preset needs --cost-dataset")
        return {"preset": args.cost_preset, "dataset": args.cost_dataset}
    return None


def spec_from_args(args: argparse.Namespace) -> MetricsSpec:
    """The variant from ``--spec`` or from the individual options (not both)."""
    given = {field: getattr(args, field) for field in SPEC_OPTIONS if getattr(args, field) is not None}
    cost = _cost(args)
    if cost is not None:
        given["cost"] = cost
    if args.spec is not None:
        if given:
            options = [SPEC_OPTIONS.get(f, "--cost-*") for f in given]
            raise ValueError(f"--spec {args.spec} already sets the variant; drop {', '.join(options)}")
        return MetricsSpec.from_dict(read_json_file(args.spec, "--spec"), f"--spec {args.spec}")
    if "alpha" not in given:
        raise ValueError("give --alpha (or --spec)")
    return MetricsSpec.from_dict(given, "options")


@command
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    spec = spec_from_args(args)
    table = read_table(args.table)
    _check_cost(spec, table, args)
    result = evaluate(table, spec)
    outputs = [args.out_csv, *(p for p in (args.out_md, args.per_example) if p is not None)]
    with atomic_paths(*outputs) as temps:  # all written, then all renamed: never a partial set
        files = dict(zip(outputs, temps, strict=True))
        write_synced(files[args.out_csv], result.long.to_csv(index=False).encode("utf-8"))
        if args.out_md is not None:
            text = markdown(result, table, spec, os.path.basename(args.table))
            write_synced(files[args.out_md], text.encode("utf-8"))
        if args.per_example is not None:
            result.per_example.to_parquet(files[args.per_example], index=False)
    log.info("wrote %s (%d metrics)", ", ".join(outputs), len(result.long))
    return 0


def _check_cost(spec: MetricsSpec, table: Any, args: argparse.Namespace) -> None:
    """The cost matrix is K x K of the table (one line naming where the matrix came from)."""
    try:
        spec.cost_matrix(int(np.asarray(table["num_classes"])[0]))
    except ValueError as exc:
        given = (("--spec", args.spec), ("--cost-config", args.cost_config))
        source = next((f"{flag} {value}" for flag, value in given if value), "--cost-preset")
        raise ValueError(f"{source}: {exc} ({args.table})") from None
