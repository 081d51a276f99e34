"""``python -m randsmooth cost --config FILE [TARGET ...] [--csv FILE]``: the bill before running.

Prints the GPU-hours of the GPU jobs the targets need (default ``all``), per rule, per target and
per paper table, the largest job groups, the local jobs and the total, from the same estimates
that size the SLURM jobs (:mod:`randsmooth.pipeline.cost`). Imports no torch at start-up (the
plan's method checks load the training losses, as Snakemake does), so it runs on a login node.
``--csv FILE`` also writes the lines (section, item, jobs, gpu_hours, cpu_hours, unsized).
"""

from __future__ import annotations

import csv
import dataclasses
import io

from ..atomic import atomic_write_text
from ..pipeline import config
from ..pipeline.cost import bill, format_bill, largest_jobs
from ..pipeline.plan import Plan
from .common import Parser, command


@command
def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m randsmooth cost", description="GPU-hours of a workflow config's jobs.")
    parser.add_argument("--config", required=True, help="workflow config (YAML)")
    parser.add_argument("targets", nargs="*", default=["all"], help="Snakemake targets (default: all)")
    parser.add_argument("--schema", default=None, help="config/schema.yaml (default: found next to --config)")
    parser.add_argument("--largest", type=int, default=10, help="how many of the largest job groups to list")
    parser.add_argument("--csv", default=None, help="also write the lines to this CSV file")
    args = parser.parse_args(argv)
    plan = Plan(config.load(args.config, args.schema or config.schema_path(args.config)))
    lines = bill(plan, args.targets)
    print(f"GPU-hours of {args.config} ({', '.join(args.targets)}), estimated from its resources section\n")
    print(format_bill(lines, largest_jobs(plan, args.targets, args.largest)))
    if args.csv is not None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=[f.name for f in dataclasses.fields(lines[0])])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(line) for line in lines)
        atomic_write_text(args.csv, text.getvalue())
    return 0
