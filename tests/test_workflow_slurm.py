"""The tiny CI config through the project's slurm profile on a real single-node SLURM cluster.

tests/slurm_cluster.py starts a loopback cluster (one node, one fake GPU) and merges the project's
workflow/profiles/slurm with the test overrides. Training, soft-target and certification jobs must
go through ``sbatch`` holding ``gpu=1`` (the fake GPU) while computing on the CPU (config/ci.yaml says
``device: cpu``); the local rules (data check, merge, metrics, summaries) run beside Snakemake.
The merged counts must equal those of a local run of the same config, and the cluster must be
stopped afterwards. Skipped with the reason where the cluster cannot start (no root, no apt-get),
but under CI=true it must run: a missing cluster is then a failure.

Marked ``slurm`` (select with ``-m slurm``, deselect with ``-m "not slurm"``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from randsmooth.counts import read_settings, read_table
from randsmooth.pipeline import config
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan
from slurm_cluster import SlurmUnavailable, local_slurm_cluster
from workflow_run import run_snakemake, snakemake_env

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CI_CONFIG = REPO / "config" / "ci.yaml"
SCHEMA = REPO / "config" / "schema.yaml"
TIMEOUT_S = 900


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the SLURM test cluster is unavailable: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def snakemake(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, "--configfile", str(CI_CONFIG), *args, timeout=TIMEOUT_S, env=env)


def slurm_jobs() -> list[dict[str, str]]:
    """Every job of the test cluster, as key=value dicts (it keeps finished jobs for MinJobAge =
    tests/slurm_cluster.py's MIN_JOB_AGE_S, longer than any test run)."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "jobs"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w[\w:/]*)=(\S*)", line))
        if fields:
            jobs.append(fields | {"_line": line})
    return jobs


def slurm_logs(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, IndexError):
        return False


def test_ci_config_through_slurm(tmp_path: Path) -> None:
    plan = Plan(config.load(CI_CONFIG, SCHEMA))
    paths = Paths(plan.results)
    cluster_root = tmp_path / "cluster"
    slurm_dir = tmp_path / "slurm"
    try:
        with local_slurm_cluster(cluster_root) as cluster:
            started = time.monotonic()
            result = snakemake(slurm_dir, cluster.env, "--profile", str(cluster.profile))
            context = (
                f"snakemake exit {result.returncode} after {time.monotonic() - started:.0f} s\n"
                f"{(result.stdout + result.stderr)[-4000:]}\n{slurm_logs(slurm_dir)}\n{cluster.log_tail()}"
            )
            assert result.returncode == 0, context
            jobs = slurm_jobs()
    except SlurmUnavailable as exc:
        skip_or_fail(str(exc))
    # the cluster is stopped again
    for daemon in ("slurmctld", "slurmd"):
        assert not alive(cluster_root / "run" / f"{daemon}.pid"), f"{daemon} still running"

    # training, soft targets and certification went through sbatch, each holding the (fake) GPU
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:  # the plugin writes each job's log to .snakemake/slurm_logs/rule_<rule>/...
        match = re.search(r"/slurm_logs/rule_([^/]+)/", job.get("StdOut", ""))
        by_rule.setdefault(match.group(1) if match else "?", []).append(job)
    gpu_rules = {
        "train": len(plan.used_models()),
        "soft_targets": len({plan.models[m].soft_targets for m in plan.used_models()} - {None}),
        "certify_shard": sum(plan.run(k).shards for k in plan.used_runs()),
    }
    assert set(by_rule) == set(gpu_rules), "only the GPU rules are submitted; the others are local rules"
    for rule, count in gpu_rules.items():
        assert len(by_rule[rule]) == count, f"{rule}: {[j['_line'] for j in jobs]}"
        for job in by_rule[rule]:
            assert job["JobState"] == "COMPLETED", job["_line"]
            assert job["Partition"] == "debug", job["_line"]
            assert "TresPerJob=gres:gpu:1" in job["_line"] or "gres/gpu=1" in job["_line"], job["_line"]

    # ... and computed on the CPU; the merged counts equal those of a local run (up to the counts)
    local_dir = tmp_path / "local"
    ci_profile = str(REPO / "workflow" / "profiles" / "ci")
    local = snakemake(local_dir, snakemake_env(), "--profile", ci_profile, "certify_all")
    assert local.returncode == 0, (local.stdout + local.stderr)[-4000:]
    for key in plan.used_runs():
        counts = paths.counts.format(run=key)
        settings = read_settings(slurm_dir / counts)
        assert {shard["device"] for shard in settings.merged_from} == {"cpu"}
        remote, here = read_table(slurm_dir / counts), read_table(local_dir / counts)
        assert remote["idx"].tolist() == here["idx"].tolist()
        for column in ("counts_selection", "counts_estimation", "counts_prefix"):
            assert all(np.array_equal(a, b) for a, b in zip(remote[column], here[column], strict=True)), (key, column)
    for target in paths.final_targets(plan):
        assert (slurm_dir / target).is_file(), target
