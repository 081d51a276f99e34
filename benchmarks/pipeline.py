"""Benchmark of the whole workflow: wall time and per-rule times of the default pipeline.

    python benchmarks/pipeline.py                      # run config/config.yaml from scratch in a
                                                       # temporary folder (about 14 min on 2 cores)
    python benchmarks/pipeline.py --cores 8 --keep     # keep the temporary folder
    python benchmarks/pipeline.py --configfile config/ci.yaml
    python benchmarks/pipeline.py --results results    # only summarise an existing run

Per-rule times come from the files of every rule's ``benchmark:`` directive
(``<results>/benchmarks/<rule>/...tsv``: wall seconds ``s``, ``cpu_time``, ``max_rss`` in MB).
The summed job times exceed the wall time when jobs run in parallel. Not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from randsmooth.pipeline import config  # noqa: E402 (after the sys.path insert)


def per_rule_times(results: Path) -> pd.DataFrame:
    """One row per rule: jobs, summed/mean/max wall seconds, summed CPU seconds, max RSS (MB)."""
    rows = []
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(results / "benchmarks").parts[0]
        table = pd.read_csv(path, sep="\t")
        for record in table.to_dict("records"):
            rows.append(
                {
                    "rule": rule,
                    "s": float(record["s"]),
                    "cpu_time": float(record["cpu_time"]),
                    "max_rss": pd.to_numeric(record["max_rss"], errors="coerce"),
                }
            )
    if not rows:
        raise SystemExit(f"no benchmark files under {results / 'benchmarks'}")
    frame = pd.DataFrame(rows)
    summary = frame.groupby("rule").agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        mean_s=("s", "mean"),
        max_s=("s", "max"),
        cpu_s=("cpu_time", "sum"),
        max_rss_mb=("max_rss", "max"),
    )
    summary.loc["(all jobs)"] = [
        summary["jobs"].sum(),
        summary["total_s"].sum(),
        frame["s"].mean(),
        frame["s"].max(),
        summary["cpu_s"].sum(),
        summary["max_rss_mb"].max(),
    ]
    return summary.sort_values("total_s", ascending=False)


def run_pipeline(workdir: Path, configfile: Path, cores: str) -> float:
    """Run Snakemake on ``configfile`` in ``workdir``; return the wall time in seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--configfile",
        str(configfile),
        "--cores",
        cores,
        "--quiet",
        "rules",
    ]
    print(f"running {' '.join(cmd)}\n  in {workdir}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"snakemake failed with exit status {result.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--cores", default="all")
    parser.add_argument("--results", default=None, help="summarise this existing results folder instead of running")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    args = parser.parse_args(argv)
    wall = None
    if args.results is not None:
        results = Path(args.results)
    else:
        configfile = Path(args.configfile).resolve()
        results_dir = config.load(configfile, REPO / "config" / "schema.yaml")["results"]
        workdir = Path(tempfile.mkdtemp(prefix="randsmooth-pipeline-"))
        try:
            wall = run_pipeline(workdir, configfile, args.cores)
            results = workdir / results_dir
            print(per_rule_times(results).to_string(float_format=lambda v: f"{v:.1f}"))
        finally:
            if args.keep:
                print(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        print(f"\nwall time: {wall:.0f} s ({wall / 60:.1f} min) on {os.cpu_count()} CPUs, cores={args.cores}")
        return 0
    print(per_rule_times(results).to_string(float_format=lambda v: f"{v:.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
